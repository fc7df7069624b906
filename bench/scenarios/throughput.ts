import { type BenchContext, rotated } from '../context.js'
import { runLoad, spread } from '../measure.js'
import { ALL, type SubjectName } from '../subjects.js'

/** Sticky's cost on the hello route; its CPU-bound figure would only say how evenly 32 clients hash. */
const SUBJECTS: readonly SubjectName[] = [...ALL, 'ours-sticky']

/**
 * Flat-out keep-alive load on the hello route and the CPU-bound route. The 32 connections come
 * from 32 loopback addresses, so that sticky spreads them over the workers as it would real clients.
 */
export async function measureThroughput (ctx: BenchContext): Promise<void> {
  const { results, seconds, quick } = ctx
  const samples = new Map<string, { rps: number[], p50: number[], p99: number[] }>()
  for (let r = 0; r < ctx.rounds; r++) {
    for (const name of rotated(SUBJECTS, r)) {
      await ctx.withSubject(name, ctx.workers, async (s) => {
        const routes = name === 'ours-sticky' ? [['hello', '/']] as const : [['hello', '/'], ['cpu', '/cpu']] as const
        for (const [key, route] of routes) {
          // A warm-up second (JIT, connection set-up); the quick smoke run skips it.
          if (!quick) await runLoad({ port: s.port, path: route, seconds: 1, sources: true })
          const res = await runLoad({ port: s.port, path: route, seconds, sources: true })
          const sample = samples.get(`${key} ${name}`) ?? { rps: [], p50: [], p99: [] }
          sample.rps.push(res.rps)
          sample.p50.push(res.p50)
          sample.p99.push(res.p99)
          samples.set(`${key} ${name}`, sample)
          ctx.log(`throughput ${key.padEnd(5)} ${name.padEnd(11)} round ${r + 1}: ${Math.round(res.rps)} req/s`)
        }
      })
    }
  }
  for (const key of ['hello', 'cpu'] as const) {
    results.throughput[key] = {}
    for (const name of SUBJECTS) {
      const sample = samples.get(`${key} ${name}`)
      if (sample !== undefined) results.throughput[key][name] = { rps: spread(sample.rps), p50: spread(sample.p50), p99: spread(sample.p99) }
    }
  }
}
