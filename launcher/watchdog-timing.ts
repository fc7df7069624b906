/**
 * The watchdog's timing as pure functions of the clock, so every decision is unit-tested
 * without processes (like backoff.ts).
 *
 * - Workers send a heartbeat from their main event loop; any message from a worker counts
 *   as one, since every message leaves from that loop.
 * - A ready worker silent for longer than `--worker-timeout` is unresponsive. The primary
 *   looks when the earliest worker could be overdue (watchdog.ts), within a second of it.
 * - A look that runs more than a second later than scheduled means the primary itself was
 *   blocked or descheduled: the heartbeats that arrived meanwhile are still unread in the
 *   pipe, so that round judges nobody and the next look comes a second later.
 */
import type { CaptureOutcome } from '../lib/protocol.js'

/**
 * What the primary makes of a capture: the loop is `busy` in JavaScript that keeps it from
 * turning (the frames say where), `blocked` inside a native call, or `idle`: turning or
 * waiting as a healthy loop does.
 */
export type LoopState = 'busy' | 'blocked' | 'idle'

/** The watchdog's resolution: a skipped look is retried this much later, and no timeout is shorter. */
export const WATCHDOG_CHECK_MS = 1000

/** A look this much later than scheduled is skipped (the primary was not running). */
export const LATE_CHECK_SLACK_MS = WATCHDOG_CHECK_MS

/**
 * How long the primary waits for the stuck worker's stack before it kills it anyway. The
 * watchdog thread answers within ~50 ms from a busy loop; from a blocking native call it
 * gives up on the debugger after {@link STACK_PAUSE_WAIT_MS} and says so.
 */
export const STACK_CAPTURE_GRACE_MS = 1500

/** How long the watchdog thread waits for the debugger to pause the main thread. */
export const STACK_PAUSE_WAIT_MS = 500

/**
 * Whether Node was asked to run a debugger (`--inspect`, `--inspect-brk`, `--inspect-wait`,
 * from the command line or NODE_OPTIONS). Workers inherit it, and a worker stopped at a
 * breakpoint sends no heartbeat: the watchdog would kill it under the developer's hands.
 */
export function debuggerRequested (execArgv: readonly string[], nodeOptions = ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => /^--inspect(-brk|-wait)?(=|$)/.test(arg))
}

/**
 * Heartbeats come six times per timeout, at most every 5 s (the stats interval, whose reports
 * count as heartbeats) and at least every 100 ms apart. So a worker found unresponsive had
 * stalled for at least five sixths of the timeout (25 s at the default 30 s), and an idle
 * worker at the default timeout sends one message every 5 s: each wake-up of an idle process
 * costs about half a millisecond of CPU on each side of the pipe, and the idle budget is
 * 1 ms per second. Puma's workers check in every 5 s too (`worker_check_interval`).
 */
export function heartbeatIntervalFor (workerTimeoutMs: number): number {
  return Math.min(5000, Math.max(100, Math.floor(workerTimeoutMs / 6)))
}

/** Whether a look due at `dueAt` ran so late that the primary itself must have been stalled. */
export function isLateLook (dueAt: number, now: number): boolean {
  return now - dueAt > LATE_CHECK_SLACK_MS
}

/**
 * When to look next: just after the earliest deadline (a worker's last message + the
 * timeout) of the workers judged healthy now, or a timeout from now when there are none.
 */
export function nextWatchdogLook (deadlines: readonly number[], now: number, workerTimeoutMs: number): number {
  const earliest = deadlines.length === 0 ? now + workerTimeoutMs : Math.min(...deadlines)
  return Math.max(earliest + 1, now + 1)
}

/** A worker is unresponsive once it has been silent for longer than the timeout. */
export function isUnresponsive (lastSeenAt: number, now: number, workerTimeoutMs: number): boolean {
  return workerTimeoutMs > 0 && now - lastSeenAt > workerTimeoutMs
}

/**
 * A pause that lands later than this found no JavaScript running when it was asked for: it
 * waited for the next callback of a loop that turns. JavaScript that runs without a break
 * takes the interrupt within a few ms.
 */
export const PAUSE_LANDS_AT_ONCE_MS = 100

/**
 * The verdict on the main loop, from one capture of the watchdog thread:
 * - the debugger could not even get in: the loop is inside a native call (`blocked`);
 * - it got in but no JavaScript ran to be paused: the loop is waiting (`idle`);
 * - the pause landed only after a while, in the next callback of a turning loop (`idle`);
 * - the loop's heartbeat clock ticked within the last half interval: it turns (`idle`);
 * - otherwise JavaScript runs without a break and keeps the loop from turning: it is stuck
 *   where it paused (`busy`).
 * `idle` overrules a late heartbeat: the silence was the channel's, not the loop's.
 */
export function judgeLoop (capture: { outcome: CaptureOutcome, pauseMs: number | null, mainIdleMs: number | null }, heartbeatMs: number): LoopState {
  if (capture.outcome === 'no-debugger') return 'blocked'
  if (capture.outcome === 'no-pause') return 'idle'
  if (capture.pauseMs !== null && capture.pauseMs > PAUSE_LANDS_AT_ONCE_MS) return 'idle'
  if (capture.mainIdleMs !== null && capture.mainIdleMs < heartbeatMs / 2) return 'idle'
  return 'busy'
}
