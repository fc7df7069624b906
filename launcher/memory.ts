import type { Logger } from 'pino'
import type { Supervisor, WorkerProc } from './supervisor.js'

/** Samples in a row above the limit before recycling, so one spike (a big upload) does not trigger it. */
export const OVER_LIMIT_SAMPLES = 2

/**
 * Workers report RSS every 5 s; one that stays above `--max-memory` is replaced
 * like a rolling restart (replacement ready first, then a drain), never killed
 * mid-request. `canAct` keeps it out of the way of rolls, scaling and stops.
 */
export function watchMemory (supervisor: Supervisor, maxMemoryMb: number, log: Logger, canAct: () => boolean, act: (workerId: number) => Promise<unknown>): () => void {
  if (maxMemoryMb <= 0) return () => {}
  const limit = maxMemoryMb * 1024 * 1024
  const onStats = (proc: WorkerProc): void => {
    if (proc.rss === null) return
    proc.overMemory = proc.rss > limit ? proc.overMemory + 1 : 0
    if (proc.overMemory < OVER_LIMIT_SAMPLES) return
    if (proc.state !== 'ready' || supervisor.slotCurrent(proc.workerId) !== proc) return
    if (supervisor.isSlotBusy(proc.workerId) || !canAct()) return
    proc.overMemory = 0
    const mb = Math.round(proc.rss / 1024 / 1024)
    log.warn({ workerId: proc.workerId, workerPid: proc.pid, rssMb: mb, maxMemoryMb },
      `worker ${proc.workerId} (pid ${proc.pid}) uses ${mb} MB RSS, above --max-memory ${maxMemoryMb} MB; replacing it`)
    act(proc.workerId).catch((err: unknown) => {
      log.error({ workerId: proc.workerId, err }, `memory recycling of worker ${proc.workerId} failed: ${(err as Error).message}; the old worker keeps serving`)
    })
  }
  supervisor.on('stats', onStats)
  return () => { supervisor.off('stats', onStats) }
}
