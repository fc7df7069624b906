/**
 * Restart timing as pure functions of the clock, so the policy is unit-tested
 * without processes. A worker that crashed before `minUptime` extends its crash
 * streak; one that ran longer starts a new streak.
 *
 * The first restart of a streak is immediate: a worker that ran for a while and then
 * crashed is back as soon as it can start, like a bare node:cluster script's. The delay
 * begins at the second quick crash and doubles from there, so a worker that crashes at
 * every start waits longer each time, and `maxRestarts` ends it: never a fork loop.
 */
export interface BackoffPolicy {
  /** Delay before the second restart of a streak (ms); the first is immediate. */
  restartDelay: number
  /** Ceiling of the doubling delay (ms). */
  restartDelayMax: number
  /** Uptime after which a crash no longer counts as part of a crash loop (ms). */
  minUptime: number
  /** Consecutive quick crashes of one worker after which the launcher gives up. */
  maxRestarts: number
}

export function nextCrashStreak (previousStreak: number, uptimeMs: number, policy: BackoffPolicy): number {
  return uptimeMs >= policy.minUptime ? 1 : previousStreak + 1
}

/** 1st restart of a streak: now; 2nd: restartDelay; then x2 each time, capped. */
export function restartDelayFor (streak: number, policy: BackoffPolicy): number {
  if (streak <= 1) return 0
  const exponent = streak - 2
  return Math.min(policy.restartDelayMax, policy.restartDelay * 2 ** Math.min(exponent, 30))
}

export function shouldGiveUp (streak: number, policy: BackoffPolicy): boolean {
  return streak > policy.maxRestarts
}
