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
import type { CaptureOutcome } from './stack-capture.js'

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
 * How long the primary waits for the stuck worker's stack before it kills it anyway. A
 * capture takes 150-300 ms from a busy loop (opening the inspector and connecting to it are
 * most of it); a step that gets no answer gives up on its own and says why.
 */
export const STACK_CAPTURE_GRACE_MS = 2000

/** How long a capture waits for each answer (the inspector's address, the connection, the stack). */
export const STACK_ANSWER_WAIT_MS = 500

/**
 * How long a capture gives the loop to show that it turns before it pauses it: an idle loop
 * answers within a few ms; one inside a long synchronous task is caught there, and judged by
 * when its report timer last ran.
 */
export const STACK_TURN_WAIT_MS = 100

/** How long a capture waits for the inspector to open after SIGUSR1 (it opens in ~30 ms). */
export const STACK_INSPECTOR_WAIT_MS = 500

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
 * The verdict on the main loop, from one capture (stack-capture.ts):
 * - no inspector opened: nothing is known (null);
 * - the inspector opened but the main thread did not answer: it is inside a native call (`blocked`);
 * - the loop turned while the primary asked (`idle`);
 * - the worker's report timer ran within the last half interval: the loop turns, and the
 *   stack caught it inside a long task (`idle`);
 * - otherwise JavaScript runs without a break and keeps the loop from turning: it is stuck
 *   where the stack says (`busy`).
 * `idle` overrules a late heartbeat: the silence was the channel's, not the loop's.
 */
export function judgeLoop (capture: { outcome: CaptureOutcome, mainIdleMs: number | null }, heartbeatMs: number): LoopState | null {
  if (capture.outcome === 'no-inspector') return null
  if (capture.outcome === 'no-debugger') return 'blocked'
  if (capture.outcome === 'turns') return 'idle'
  if (capture.mainIdleMs !== null && capture.mainIdleMs < heartbeatMs / 2) return 'idle'
  return 'busy'
}
