/**
 * Every error this package raises on purpose carries a stable `code`
 * (`FCL_ERR_<AREA>_<WHAT>`), so callers can branch on it instead of parsing
 * messages, and so the CLI can tell a user mistake (print one line) from a bug
 * (print the stack).
 */
export class FclError extends Error {
  readonly code: string
  /** A short suggestion for the operator, printed by the CLI after the message. */
  readonly hint: string | undefined

  constructor (code: string, message: string, options?: { cause?: unknown, hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'FclError'
    this.code = code
    this.hint = options?.hint
  }
}

/** Wrong type, range or combination of options: a caller's mistake, raised before any side effect. */
export class FclOptionsError extends FclError {
  constructor (code: string, message: string, options?: { cause?: unknown, hint?: string }) {
    super(code, message, options)
    this.name = 'FclOptionsError'
  }
}

export const ERROR_CODES = Object.freeze({
  PLUGIN_OPTIONS: 'FCL_ERR_PLUGIN_OPTIONS',
  LAUNCH_OPTIONS: 'FCL_ERR_LAUNCH_OPTIONS',
  LAUNCH_UNSUPPORTED: 'FCL_ERR_LAUNCH_UNSUPPORTED',
  CLI_USAGE: 'FCL_ERR_CLI_USAGE',
  ENTRY_NOT_FOUND: 'FCL_ERR_ENTRY_NOT_FOUND',
  CONFIG_UNREADABLE: 'FCL_ERR_CONFIG_UNREADABLE',
  CONFIG_INVALID: 'FCL_ERR_CONFIG_INVALID',
  WORKER_START: 'FCL_ERR_WORKER_START',
  WORKER_READY_TIMEOUT: 'FCL_ERR_WORKER_READY_TIMEOUT',
  PORT_IN_USE: 'FCL_ERR_WORKER_PORT_IN_USE',
  CRASH_LOOP: 'FCL_ERR_SUPERVISOR_CRASH_LOOP',
  SHUTDOWN_TIMEOUT: 'FCL_ERR_SHUTDOWN_TIMEOUT',
  WATCH_UNSUPPORTED: 'FCL_ERR_WATCH_UNSUPPORTED',
  WATCH_FAILED: 'FCL_ERR_WATCH_FAILED',
  STOPPING: 'FCL_ERR_SUPERVISOR_STOPPING',
  CONTROL_NOT_RUNNING: 'FCL_ERR_CONTROL_NOT_RUNNING',
  CONTROL_AMBIGUOUS: 'FCL_ERR_CONTROL_AMBIGUOUS',
  CONTROL_NAME_IN_USE: 'FCL_ERR_CONTROL_NAME_IN_USE',
  CONTROL_DIR_UNSAFE: 'FCL_ERR_CONTROL_DIR_UNSAFE',
  CONTROL_SOCKET: 'FCL_ERR_CONTROL_SOCKET',
  CONTROL_TIMEOUT: 'FCL_ERR_CONTROL_TIMEOUT',
  CONTROL_PROTOCOL: 'FCL_ERR_CONTROL_PROTOCOL',
  CONTROL_FAILED: 'FCL_ERR_CONTROL_FAILED'
} as const)

export function isFclError (value: unknown): value is FclError {
  if (value instanceof FclError) return true
  const code: unknown = value instanceof Error ? (value as Error & { code?: unknown }).code : undefined
  return typeof code === 'string' && code.startsWith('FCL_ERR_')
}
