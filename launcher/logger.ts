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
 */
export function createLogger (bindings: Record<string, unknown>, options: { pretty: boolean, level: string }): Logger {
  const { pino } = require('pino') as { pino: typeof Pino }
  const base = { pid: process.pid, ...bindings }
  if (!options.pretty) return pino({ level: options.level, base })
  const pretty = require('pino-pretty') as (opts: PrettyOptions) => PrettyStream
  return pino({ level: options.level, base }, pretty({
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
 * The primary's logger while it forks its first workers. Loading pino costs the primary about
 * 25 ms of CPU (Node 20, 2-CPU machine); a bare node:cluster script forks without paying that,
 * and every millisecond before the fork is a millisecond of start-up. So the launcher holds its
 * lines until the forks are out, then makes the logger and writes them, each stamped with the
 * time it is written (a few tens of ms late). Anything other than a log call (a user reading
 * `handle.log.level`, calling `child()`) makes the logger at once, so the handle's `log` is an
 * ordinary pino logger to its users.
 */
export function holdLogger (make: () => Logger): HeldLogger {
  let real: Logger | null = null
  let released = false
  const queue: Array<(log: Logger) => void> = []
  function load (): Logger {
    real ??= make()
    return real
  }
  const log = new Proxy(Object.create(null) as Logger, {
    get (_target, prop) {
      if (!released && real === null && LOG_METHODS.has(prop)) {
        return function queued (...args: unknown[]): void {
          queue.push(function write (target) { (Reflect.get(target, prop) as (...a: unknown[]) => void).apply(target, args) })
        }
      }
      const target = load()
      const value: unknown = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    },
    set (_target, prop, value) { return Reflect.set(load(), prop, value) },
    has (_target, prop) { return Reflect.has(load(), prop) }
  })
  return {
    log,
    release () {
      if (released) return
      released = true
      if (queue.length === 0) return
      const target = load()
      for (const write of queue.splice(0)) write(target)
    }
  }
}
