/**
 * The primary's half of `--worker-timeout`: it knows when each ready worker last spoke. One
 * silent for longer than the timeout has a stuck event loop (a `while (true)`, a regex that
 * backtracks for minutes, a synchronous call that never returns): its stack is taken by its
 * primary (stack-capture.ts) and logged, then it is killed and restarted through the normal crash path,
 * so the crash-loop guard also covers a worker that hangs after every start.
 *
 * The primary does not wake every second to look: each wake-up of an idle process costs CPU,
 * and an idle primary should cost next to nothing. One timer is armed for the earliest moment
 * a worker could be overdue (its last message + the timeout); messages only move a worker's
 * deadline, and when the timer fires every worker is judged and the timer is armed again. A
 * timer that fires more than a second late means the primary itself was blocked or
 * descheduled: the heartbeats of that time are still unread in the pipes, so that round judges
 * nobody and the next look comes a second later.
 *
 * A slow request is not a hang: it awaits I/O and the loop keeps turning. Fastify's own
 * `requestTimeout` and `connectionTimeout` are the tools for those.
 */
import type { Logger } from 'pino'
import type { StuckReport, Supervisor } from './supervisor.js'
import { isLateLook, isUnresponsive, nextWatchdogLook, WATCHDOG_CHECK_MS } from './watchdog-timing.js'

export function watchHeartbeats (supervisor: Supervisor, workerTimeoutMs: number, log: Logger): () => void {
  if (workerTimeoutMs <= 0) return () => {}
  let timer: NodeJS.Timeout | null = null
  let dueAt = 0
  let stopped = false

  const arm = (at: number): void => {
    if (stopped) return
    if (timer !== null) clearTimeout(timer)
    dueAt = at
    timer = setTimeout(look, Math.max(0, at - Date.now()))
    timer.unref()
  }

  function look (): void {
    timer = null
    const now = Date.now()
    if (isLateLook(dueAt, now)) {
      log.warn({ lateMs: now - dueAt }, `watchdog: the primary was held up for ${now - dueAt} ms; skipping this round`)
      arm(now + WATCHDOG_CHECK_MS)
      return
    }
    const deadlines: number[] = []
    for (const proc of supervisor.liveProcs()) {
      if (proc.state !== 'ready' || proc.retiring) continue
      if (!isUnresponsive(proc.lastSeenAt, now, workerTimeoutMs)) {
        deadlines.push(proc.lastSeenAt + workerTimeoutMs)
        continue
      }
      void supervisor.killStuck(proc, now - proc.lastSeenAt, function confirm (report: StuckReport) {
        // The thread saw the loop turn or wait: the silence was the channel's, not the loop's.
        if (report.loop !== 'idle') return true
        log.warn({ workerId: proc.workerId, workerPid: proc.pid, mainIdleMs: report.mainIdleMs },
          `worker ${proc.workerId} (pid ${proc.pid}): heartbeats are late but its event loop turns (last turned ${String(report.mainIdleMs)} ms ago); keeping it`)
        proc.lastSeenAt = Date.now()
        return false
      })
    }
    arm(nextWatchdogLook(deadlines, now, workerTimeoutMs))
  }

  arm(Date.now() + workerTimeoutMs)
  return () => {
    stopped = true
    if (timer !== null) clearTimeout(timer)
  }
}
