/**
 * The watchdog's timing as pure functions of the clock, so every decision is unit-tested
 * without processes (like backoff.ts).
 *
 * - Workers send a heartbeat from their main event loop; any message from a worker counts
 *   as one, since every message leaves from that loop.
 * - The primary looks once a second. A ready worker silent for longer than `--worker-timeout`
 *   is unresponsive.
 * - A look that runs far later than scheduled means the primary itself was blocked or
 *   descheduled: the heartbeats that arrived meanwhile are still unread in the pipe, so that
 *   round judges nobody.
 */
import type { LoopState } from '../lib/protocol.js'

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
 * Heartbeats come ten times per timeout, at most once a second and at least every 100 ms
 * apart: the silence the primary measures then starts within a tenth of the timeout of the
 * real stall, and an idle worker sends one small message a second at the default timeout.
 */
export function heartbeatIntervalFor (workerTimeoutMs: number): number {
  return Math.min(1000, Math.max(100, Math.floor(workerTimeoutMs / 10)))
}

/** Whether this look ran so late that the primary itself must have been stalled. */
export function isLateCheck (previousCheckAt: number, now: number, intervalMs = WATCHDOG_CHECK_MS): boolean {
  return now - previousCheckAt > intervalMs + LATE_CHECK_SLACK_MS
}

/** A worker is unresponsive once it has been silent for longer than the timeout. */
export function isUnresponsive (lastSeenAt: number, now: number, workerTimeoutMs: number): boolean {
  return workerTimeoutMs > 0 && now - lastSeenAt > workerTimeoutMs
}

/**
 * The watchdog thread's verdict on the main loop, from one capture:
 * - the debugger could not even be enabled: the loop is inside a native call (`blocked`);
 * - it was enabled but no JavaScript ran to be paused: the loop is waiting (`idle`);
 * - it paused, but the loop's heartbeat ticked within the last interval and a half (plus a
 *   little for a busy but healthy loop): it paused ordinary work of a turning loop (`idle`);
 * - otherwise JavaScript has kept the loop from turning: it is stuck where it paused (`busy`).
 * `idle` overrules a late heartbeat: the silence was the channel's, not the loop's.
 */
export function judgeLoop (capture: { enabled: boolean, paused: boolean, mainIdleMs: number | null }, heartbeatMs: number): LoopState {
  if (!capture.enabled) return 'blocked'
  if (!capture.paused) return 'idle'
  if (capture.mainIdleMs !== null && capture.mainIdleMs < heartbeatMs * 1.5 + 250) return 'idle'
  return 'busy'
}
