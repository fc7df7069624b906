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
