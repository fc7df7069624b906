import { type BenchContext, rotated } from '../context.js'
import { spread } from '../measure.js'
import { openLoop } from '../open-loop.js'
import type { Spread } from '../measure.js'
import type { SubjectName } from '../subjects.js'

/**
 * A fast route under CPU spikes: most requests take well under a millisecond, a few take
 * 100-300 ms of synchronous CPU. Two load generators run at once, so the fast route's latency is
 * measured on its own: one asks for the fast route at a fixed rate, the other for the slow route
 * at a fixed rate. Both are open-loop (open-loop.ts), so a stalled worker cannot slow the
 * sender and hide its own delay. The slow work fills about half the machine's CPUs, so spikes are frequent but
 * the instance is not saturated. Run twice: a new connection per request (where the primary, or
 * the kernel, chooses a worker for each request) and keep-alive (where each connection keeps its
 * worker).
 */
export const FAST_RATE = 200
/** Slow requests per second: 5 of 100-300 ms (200 ms on average) keep one CPU of two busy. */
export const SLOW_RATE = 5
const SLOW_PATHS = [100, 300, 200, 150, 250].map((ms) => `/burn?ms=${ms}`)

export type SpikyMode = 'close' | 'keepalive'

export interface SpikyFigures {
  /** The fast route's latency, ms. */
  p50: Spread
  p99: Spread
  p999: Spread
  /** Both routes together, req/s. */
  rps: Spread
  errors: number
}

export function spikySubjects (reusePort: readonly SubjectName[]): SubjectName[] {
  return ['single', 'raw-cluster', 'pm2', 'ours', ...reusePort, 'ours-offload']
}

export async function measureSpiky (ctx: BenchContext): Promise<void> {
  const subjects = spikySubjects(ctx.reusePort)
  const seconds = Math.max(ctx.quick ? 3 : 10, ctx.seconds)
  const samples = new Map<string, { p50: number[], p99: number[], p999: number[], rps: number[], errors: number }>()
  for (let r = 0; r < ctx.rounds; r++) {
    for (const name of rotated(subjects, r)) {
      await ctx.withSubject(name, ctx.workers, async (s) => {
        for (const mode of ['close', 'keepalive'] as const) {
          const close = mode === 'close'
          // Warm-up: JIT, and the pool threads of the offload subject.
          if (!ctx.quick) await openLoop({ port: s.port, paths: ['/'], seconds: 1, rate: FAST_RATE, close, sockets: 16 })
          const [fast, slow] = await Promise.all([
            openLoop({ port: s.port, paths: ['/'], seconds, rate: FAST_RATE, close, sockets: 16 }),
            openLoop({ port: s.port, paths: SLOW_PATHS, seconds, rate: SLOW_RATE, close, sockets: 8 })
          ])
          const key = `${mode} ${name}`
          const sample = samples.get(key) ?? { p50: [], p99: [], p999: [], rps: [], errors: 0 }
          sample.p50.push(fast.p50)
          sample.p99.push(fast.p99)
          sample.p999.push(fast.p999)
          sample.rps.push(fast.rps + slow.rps)
          sample.errors += fast.errors + slow.errors + fast.non2xx + slow.non2xx
          samples.set(key, sample)
          ctx.log(`spiky ${mode.padEnd(9)} ${name.padEnd(15)} round ${r + 1}: fast p50 ${fast.p50} ms, p99 ${fast.p99} ms, p99.9 ${fast.p999} ms; ${Math.round(fast.rps + slow.rps)} req/s`)
        }
      })
    }
  }
  for (const mode of ['close', 'keepalive'] as const) {
    const figures: Partial<Record<SubjectName, SpikyFigures>> = {}
    for (const name of subjects) {
      const sample = samples.get(`${mode} ${name}`)
      if (sample !== undefined) figures[name] = { p50: spread(sample.p50), p99: spread(sample.p99), p999: spread(sample.p999), rps: spread(sample.rps), errors: sample.errors }
    }
    ctx.results.spiky[mode] = figures
  }
}
