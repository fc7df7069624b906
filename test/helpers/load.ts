import autocannon from 'autocannon'
import type { Test } from 'tap'

export interface LoadSummary {
  total: number
  ok2xx: number
  non2xx: number
  errors: number
  timeouts: number
  resets: number
  /** Latency percentiles, ms. */
  p50: number
  p99: number
}

/**
 * Bounded keep-alive load on loopback with autocannon's programmatic API.
 * `during` runs while the load is on (a signal at 3 s, a rolling restart...).
 * Without `rate` (requests per second, all connections together) it is as fast as the machine allows.
 */
export async function underLoad (opts: { port: number, path?: string, connections?: number, seconds?: number, rate?: number, stopWhenDone?: boolean }, during: () => Promise<void>): Promise<LoadSummary> {
  let instance!: autocannon.Instance
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon({
      url: `http://127.0.0.1:${opts.port}${opts.path ?? '/'}`,
      connections: opts.connections ?? 32,
      duration: opts.seconds ?? 10,
      timeout: 10,
      ...(opts.rate === undefined ? {} : { overallRate: opts.rate })
    }, (err, result) => { if (err !== null && err !== undefined) reject(err); else resolve(result) })
  })
  try {
    await during()
    // `seconds` is then an upper bound: the load ends as soon as the steps are done.
    if (opts.stopWhenDone === true) instance.stop()
  } catch (err) {
    instance.stop()
    await finished.catch(() => {})
    throw err
  }
  const result = await finished
  return {
    total: result.requests.total,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    resets: result.resets,
    p50: result.latency.p50,
    p99: result.latency.p99
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** What every zero-downtime test asserts of its load: it ran, and not one request failed. */
export function assertNothingFailed (t: Test, load: LoadSummary, minRequests = 1000): void {
  t.ok(load.total > minRequests, `load ran (${load.total} requests)`)
  t.equal(load.errors, 0, 'no failed requests')
  t.equal(load.timeouts, 0, 'no timeouts')
  t.equal(load.non2xx, 0, 'no non-2xx responses')
}
