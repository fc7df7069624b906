import type { Logger } from 'pino'
import { ERROR_CODES, FclOptionsError } from '../lib/errors.js'
import type { Supervisor } from './supervisor.js'

/** Adds or drains workers until there are `target` of them; never below 1 (the gunicorn TTIN/TTOU convention). */
export async function scaleTo (supervisor: Supervisor, target: number, log: Logger): Promise<void> {
  if (!Number.isInteger(target) || target < 1 || target > 1024) {
    throw new FclOptionsError(ERROR_CODES.LAUNCH_OPTIONS, `scale target must be a whole number from 1 to 1024, got ${String(target)}`)
  }
  const from = supervisor.size
  if (target === from) return
  log.info({ from, to: target }, `scaling from ${from} to ${target} worker${target === 1 ? '' : 's'}`)
  while (supervisor.size < target && !supervisor.stopping) {
    await supervisor.addSlot()
  }
  const exits = []
  while (supervisor.size > target && !supervisor.stopping) {
    exits.push(supervisor.removeSlot())
  }
  await Promise.all(exits)
  log.info({ workers: supervisor.size }, `scaled to ${supervisor.size} worker${supervisor.size === 1 ? '' : 's'}`)
}
