import { createRequire } from 'node:module'
import type { Logger, pino as Pino } from 'pino'
import type { PrettyOptions, PrettyStream } from 'pino-pretty'
import { formatPrettyMessage } from './pretty-format.js'

const require = createRequire(import.meta.url)

/**
 * JSON lines by default (what log shippers want); `--pretty-logs` swaps in
 * pino-pretty as a synchronous stream, so nothing is lost when the process exits
 * right after its last line. It is loaded only then: the primary should cost as
 * little memory as a hand-written one.
 *
 * pino itself is required when the first logger is made, not when this module is
 * imported: a worker whose app brings its own logger (or none) never makes one,
 * and loading pino costs a worker several MB of RSS it would not use.
 *
 * `sync` is for the primary: its JSON lines go to fd 1 synchronously, as Node writes
 * console.log to a file or a pipe on Linux. pino's default stream writes through libuv's
 * thread pool, so the primary's first line started 4 threads that nothing else there uses on
 * Node >= 22 (about 0.5 MB of stacks and malloc arenas, measured on Node 24), and lines still
 * in its buffer were lost if the primary was killed. The primary writes a few lines per lifecycle
 * event, never per request. A worker's logger also carries the app's request logs, so it
 * keeps pino's default: a slow log reader does not stall its event loop.
 */
export function createLogger (bindings: Record<string, unknown>, options: { pretty: boolean, level: string, sync?: boolean, timestamp?: () => string }): Logger {
  const { pino } = require('pino') as { pino: typeof Pino }
  const settings = { level: options.level, base: { pid: process.pid, ...bindings }, ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }) }
  if (!options.pretty) return options.sync === true ? pino(settings, pino.destination({ dest: 1, sync: true })) : pino(settings)
  const pretty = require('pino-pretty') as (opts: PrettyOptions) => PrettyStream
  return pino(settings, pretty({
    sync: true,
    colorize: process.stdout.isTTY === true,
    // The tag and the fields the message does not already say are in the message itself.
    ignore: 'pid,hostname,name',
    hideObject: true,
    messageFormat: (log, messageKey) => formatPrettyMessage(log, messageKey)
  }))
}

const LOG_METHODS: ReadonlySet<PropertyKey> = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])

export interface HeldLogger {
  /** Behaves as the logger `make` returns; until `release()`, its log calls are queued in order. */
  readonly log: Logger
  /** Makes the logger (once) and writes what was queued. Safe to call more than once. */
  release: () => void
}

/**
 * The primary's logger while its workers start. Loading pino costs about 40 ms of CPU (Node 20
 * and 24, 2-CPU machine), which a bare node:cluster script never spends: before the first fork
 * it is start-up time the workers wait for, while they start it is a core they share, and as
 * they become ready it holds up the first connections the primary hands them. So the launcher
 * holds its lines for `maxHoldMs` (or until `release()`: a failed boot, a stop), then makes the
 * logger and writes them. `make` gets the pino `timestamp` to use: a held line carries the time
 * it was logged, not the time it was written. Anything other than a log call (a user reading
 * `handle.log.level`, calling `child()`) makes the logger at once, so the handle's `log` is an
 * ordinary pino logger to its users.
 */
export function holdLogger (make: (timestamp: () => string) => Logger, maxHoldMs: number): HeldLogger {
  let real: Logger | null = null
  let released = false
  /** While held lines are written: the time each was logged. */
  let loggedAt: number | null = null
  const queue: Array<(log: Logger) => void> = []
  function timestamp (): string {
    return `,"time":${loggedAt ?? Date.now()}`
  }
  function load (): Logger {
    real ??= make(timestamp)
    return real
  }
  const log = new Proxy(Object.create(null) as Logger, {
    get (_target, prop) {
      if (!released && real === null && LOG_METHODS.has(prop)) {
        return function queued (...args: unknown[]): void {
          const at = Date.now()
          queue.push(function write (target) {
            loggedAt = at
            try {
              (Reflect.get(target, prop) as (...a: unknown[]) => void).apply(target, args)
            } finally {
              loggedAt = null
            }
          })
        }
      }
      const target = loadNow()
      const value: unknown = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    },
    set (_target, prop, value) { return Reflect.set(loadNow(), prop, value) },
    has (_target, prop) { return Reflect.has(loadNow(), prop) }
  })
  /** Made for a use other than a log call: what was held goes first, so the lines stay in order. */
  function loadNow (): Logger {
    release()
    return load()
  }
  function release (): void {
    if (released) return
    released = true
    clearTimeout(timer)
    if (queue.length === 0) return
    const target = load()
    for (const write of queue.splice(0)) write(target)
  }
  const timer = setTimeout(release, maxHoldMs)
  timer.unref()
  return { log, release }
}
