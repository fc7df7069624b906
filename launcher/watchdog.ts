/**
 * The primary's half of `--worker-timeout`: once a second it looks at when each ready worker
 * last spoke. One silent for longer than the timeout has a stuck event loop (a `while (true)`,
 * a regex that backtracks for minutes, a synchronous call that never returns): its stack is
 * taken by its watchdog thread and logged, then it is killed and restarted through the normal
 * crash path, so the crash-loop guard also covers a worker that hangs after every start.
 *
 * A slow request is not a hang: it awaits I/O and the loop keeps turning. Fastify's own
 * `requestTimeout` and `connectionTimeout` are the tools for those.
 */
import type { Logger } from 'pino'
import type { StuckReport, Supervisor } from './supervisor.js'
import { isLateCheck, isUnresponsive, WATCHDOG_CHECK_MS } from './watchdog-timing.js'

export function watchHeartbeats (supervisor: Supervisor, workerTimeoutMs: number, log: Logger): () => void {
  if (workerTimeoutMs <= 0) return () => {}
  let previousCheckAt = Date.now()
  const check = (): void => {
    const now = Date.now()
    const late = isLateCheck(previousCheckAt, now)
    const gap = now - previousCheckAt
    previousCheckAt = now
    if (late) {
      // The primary itself did not run (blocked, or descheduled on a saturated machine): the
      // workers' heartbeats of that time are still unread in the pipes. Judge nobody now.
      log.warn({ lateMs: gap - WATCHDOG_CHECK_MS }, `watchdog: the primary was held up for ${gap} ms; skipping this round`)
      return
    }
    if (supervisor.stopping) return
    for (const proc of supervisor.liveProcs()) {
      if (proc.state !== 'ready' || proc.retiring) continue
      if (!isUnresponsive(proc.lastSeenAt, now, workerTimeoutMs)) continue
      void supervisor.killStuck(proc, now - proc.lastSeenAt, function confirm (report: StuckReport) {
        // The thread saw the loop turn or wait: the silence was the channel's, not the loop's.
        if (report.loop !== 'idle') return true
        log.warn({ workerId: proc.workerId, workerPid: proc.pid, mainIdleMs: report.mainIdleMs },
          `worker ${proc.workerId} (pid ${proc.pid}): heartbeats are late but its event loop turns (last turned ${String(report.mainIdleMs)} ms ago); keeping it`)
        proc.lastSeenAt = Date.now()
        return false
      })
    }
  }
  const timer = setInterval(check, WATCHDOG_CHECK_MS)
  timer.unref()
  return () => { clearInterval(timer) }
}
