/**
 * The `--pretty-logs` line: a tag for who logged it (`primary`, or `w0`, `w1`... for a worker),
 * the message, and only the fields the message does not already say. The JSON lines keep
 * every field; this is for a person reading a terminal. Pure, so the rule is unit-tested.
 */

/** Fields the line shows another way (level, time, the tag) or that only log shippers need. */
const SHOWN_ELSEWHERE: ReadonlySet<string> = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'role', 'workerId', 'v'])

export function sourceTag (log: Record<string, unknown>): string {
  if (log.role === 'primary') return 'primary'
  return typeof log.workerId === 'number' ? `w${log.workerId}` : `pid ${String(log.pid)}`
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** A value the message already says: a string it contains, or a number or boolean standing alone in it. */
function saidIn (message: string, value: unknown): boolean {
  if (value === null || value === undefined) return true
  if (typeof value === 'string') return value === '' || message.includes(value)
  if (typeof value === 'number' || typeof value === 'boolean') {
    return new RegExp(`(^|[^\\w.])${escapeRegExp(String(value))}([^\\w.]|$)`).test(message)
  }
  return false
}

function show (value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) ? JSON.stringify(value) : value
  return JSON.stringify(value) ?? String(value)
}

/** An error keeps its stack, on the lines below: that is what a person needs from it. */
function showError (err: unknown): string {
  if (typeof err !== 'object' || err === null) return ` err=${show(err)}`
  const { message, stack } = err as { message?: unknown, stack?: unknown }
  if (typeof stack === 'string') return `\n    ${stack.split('\n').join('\n    ')}`
  return ` err=${show(message ?? err)}`
}

export function formatPrettyMessage (log: Record<string, unknown>, messageKey = 'msg'): string {
  const message = typeof log[messageKey] === 'string' ? log[messageKey] as string : ''
  let extras = ''
  let error = ''
  for (const [key, value] of Object.entries(log)) {
    if (SHOWN_ELSEWHERE.has(key) || key === messageKey) continue
    if (key === 'err' || key === 'error') {
      error = showError(value)
      continue
    }
    if (saidIn(message, value)) continue
    extras += ` ${key}=${show(value)}`
  }
  return `${sourceTag(log)}: ${message}${extras}${error}`
}
