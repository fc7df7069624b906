import type { Logger } from 'pino'
import type { ExitInfo, Supervisor } from './supervisor.js'

export interface RollResult {
  ok: boolean
  /** Slots that now run a new process. */
  replaced: number
  total: number
  ms: number
  error?: string
}

/**
 * Replaces workers one at a time: the next one starts only after the previous
 * replacement is ready, so capacity never drops below N-1 ready workers plus the
 * draining one. The first failure stops the roll; workers not yet replaced keep
 * their old process (and code).
 */
export async function rollingRestart (supervisor: Supervisor, log: Logger): Promise<RollResult> {
  const started = Date.now()
  const ids = supervisor.slotIds()
  const total = ids.length
  const oldExits: Promise<ExitInfo>[] = []
  log.info({ total }, `rolling restart: replacing ${total} worker${total === 1 ? '' : 's'} one by one`)
  let replaced = 0
  for (const [index, id] of ids.entries()) {
    const step = `rolling restart ${index + 1}/${total}`
    if (supervisor.stopping) {
      await Promise.all(oldExits)
      return { ok: false, replaced, total, ms: Date.now() - started, error: 'the launcher began stopping' }
    }
    if (supervisor.isSlotBusy(id)) {
      // Already being restarted after a crash: its new process loads the new code anyway.
      log.info({ workerId: id }, `${step}: worker ${id} is already being restarted; skipping it`)
      continue
    }
    const old = supervisor.slotCurrent(id)
    log.info({ workerId: id, workerPid: old?.pid }, `${step}: starting a replacement for worker ${id}${old === null ? '' : ` (pid ${old.pid})`}`)
    try {
      const { oldExit } = await supervisor.replace(id, 'rolling-restart')
      if (oldExit !== null) oldExits.push(oldExit)
      replaced++
    } catch (err) {
      const error = (err as Error).message
      log.error({ workerId: id, err }, `${step} failed: ${error}; rolling restart stopped, the old workers keep serving`)
      await Promise.all(oldExits)
      return { ok: false, replaced, total, ms: Date.now() - started, error }
    }
  }
  await Promise.all(oldExits)
  const ms = Date.now() - started
  log.info({ replaced, total, ms }, `rolling restart done: ${replaced}/${total} workers replaced in ${(ms / 1000).toFixed(1)} s`)
  return { ok: true, replaced, total, ms }
}
