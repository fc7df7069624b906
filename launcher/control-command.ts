import { ERROR_CODES, FclError } from '../lib/errors.js'
import { askStatus, exchange, findInstance, reconnect } from './control-client.js'
import { controlDir } from './control-path.js'
import type { ClusterStatus, ControlRequest, ControlResponse } from './control-protocol.js'
import { formatStatus } from './status-table.js'

/**
 * The CLI's commands (`status`, `reload`, ...): find the instance, send one
 * request, turn the answer into the line the operator reads. A command that
 * failed throws a coded error (the CLI prints it and exits 1).
 */

/** What the CLI parsed for a control command. */
export interface ControlInvocation {
  request: ControlRequest
  /** `--name` / FCL_NAME; null: the one instance of this user that runs. */
  name: string | null
  json: boolean
}

const STATUS_TIMEOUT_MS = 10000
/** On top of the instance's own timeouts: queueing behind another action, a slow machine. */
const MARGIN_MS = 30000
/** Workers' config handlers have 10 s to acknowledge; a reload may also wait behind another. */
const RELOAD_CONFIG_TIMEOUT_MS = 60000

/**
 * How long a command may take, from the instance's own settings: each worker
 * replaced may take `readyTimeout`, and the old ones may drain for `graceTimeout`.
 */
export function commandTimeout (request: ControlRequest, status: ClusterStatus): number {
  const { readyTimeout, graceTimeout } = status.limits
  const workers = status.instance.total
  switch (request.command) {
    case 'status':
      return STATUS_TIMEOUT_MS
    case 'reload':
      return (workers + 1) * readyTimeout + graceTimeout + MARGIN_MS
    case 'reload-config':
      return RELOAD_CONFIG_TIMEOUT_MS
    case 'scale':
      return (Math.abs(request.workers - workers) + 1) * readyTimeout + graceTimeout + MARGIN_MS
    case 'stop':
      return graceTimeout + MARGIN_MS
  }
}

function failed (message: string, hint?: string): FclError {
  return new FclError(ERROR_CODES.CONTROL_FAILED, message, hint === undefined ? undefined : { hint })
}

/** The line printed for a command's final answer; a failure is thrown instead. Pure. */
export function describeOutcome (response: ControlResponse | undefined): string {
  if (response === undefined) {
    throw new FclError(ERROR_CODES.CONTROL_PROTOCOL, 'the instance closed the connection without an answer (did it stop?)', {
      hint: 'see the instance\'s log'
    })
  }
  if ('refused' in response) throw failed(`${response.command ?? 'request'} refused: ${response.error}`)
  if (response.command === 'reload' && 'roll' in response) {
    const { roll } = response
    if (roll.ok) return `rolling restart done: ${roll.replaced}/${roll.total} workers replaced in ${(roll.ms / 1000).toFixed(1)} s`
    throw failed(`rolling restart failed after ${roll.replaced}/${roll.total} workers in ${(roll.ms / 1000).toFixed(1)} s: ${roll.error ?? 'unknown error'}`,
      'workers not yet replaced keep serving; the instance\'s log has the details')
  }
  if (response.command === 'reload-config' && 'configReload' in response) {
    const reload = response.configReload
    if (reload.ok) return `config reloaded on ${reload.applied}/${reload.total} workers (version ${reload.version})`
    if (reload.total === 0) throw failed(`config reload rejected: ${reload.error ?? 'unknown error'}`, 'every worker keeps the current config')
    throw failed(`config reload failed on ${reload.total - reload.applied}/${reload.total} workers (version ${reload.version}): ${reload.failures.join('; ')}`,
      'the workers that failed keep their previous config')
  }
  if (response.command === 'scale' && 'target' in response) {
    if (response.ok) return `scaled to ${response.workers} worker${response.workers === 1 ? '' : 's'}`
    throw failed(`scaling to ${response.target} failed: ${response.error ?? 'unknown error'}`)
  }
  if (response.command === 'stop' && 'stopped' in response) {
    const { stopped } = response
    if (stopped.code === 0) return `stopped (exit code ${stopped.code})`
    throw failed(`stopped (exit code ${stopped.code}, ${stopped.reason})${stopped.error === undefined ? '' : `: ${stopped.error}`}`)
  }
  throw new FclError(ERROR_CODES.CONTROL_PROTOCOL, `unexpected answer to the command (${response.command})`)
}

/** Runs one control command; resolves with what to print on stdout. */
export async function runControlCommand (invocation: ControlInvocation, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = controlDir(env)
  const target = await findInstance(dir, invocation.name)
  const status = await askStatus(await reconnect(dir, target), STATUS_TIMEOUT_MS)
  const { request } = invocation
  if (request.command === 'status') {
    return invocation.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status, Date.now())}\n`
  }
  // One request per connection: the status above told us how long this one may take.
  const socket = await reconnect(dir, target)
  let responses: ControlResponse[]
  try {
    responses = await exchange(socket, request, commandTimeout(request, status))
  } catch (err) {
    if (err instanceof FclError && err.code === ERROR_CODES.CONTROL_TIMEOUT) {
      throw new FclError(err.code, `instance "${target.name}" (pid ${status.pid}): ${err.message}`, err.hint === undefined ? undefined : { hint: err.hint })
    }
    throw err
  }
  return `${describeOutcome(responses.at(-1))}\n`
}
