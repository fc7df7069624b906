import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

/**
 * JSON lines by default (what log shippers want); `--pretty-logs` swaps in
 * pino-pretty as a synchronous stream, so nothing is lost when the process exits
 * right after its last line.
 */
export function createLogger (bindings: Record<string, unknown>, options: { pretty: boolean, level: string }): Logger {
  const base = { pid: process.pid, ...bindings }
  if (!options.pretty) return pino({ level: options.level, base })
  return pino({ level: options.level, base }, pretty({ sync: true, colorize: process.stdout.isTTY === true, ignore: 'hostname', singleLine: true }))
}
