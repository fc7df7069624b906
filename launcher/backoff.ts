/**
 * Restart timing as pure functions of the clock, so the policy is unit-tested
 * without processes. A worker that crashed before `minUptime` extends its crash
 * streak; one that ran longer starts a new streak.
 */
export interface BackoffPolicy {
  /** Delay before the first restart of a streak (ms). */
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

/** 1st restart of a streak: restartDelay; then x2 each time, capped. */
export function restartDelayFor (streak: number, policy: BackoffPolicy): number {
  const exponent = Math.max(0, streak - 1)
  return Math.min(policy.restartDelayMax, policy.restartDelay * 2 ** Math.min(exponent, 30))
}

export function shouldGiveUp (streak: number, policy: BackoffPolicy): boolean {
  return streak > policy.maxRestarts
}
