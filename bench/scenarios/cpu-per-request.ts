import { type BenchContext, rotated } from '../context.js'
import { runLoad, sleep, spread, treeCpuNs } from '../measure.js'
import { ALL } from '../subjects.js'

/**
 * Requests per second every subject takes at the same fixed rate, well below saturation on the
 * benchmark's 2 CPUs (a single process answers about ten times as many on the hello route), so
 * the load generator does not set the pace and every subject serves exactly the same work.
 */
export const FIXED_RATE = 4000

/**
 * After a start V8 keeps collecting garbage for a while (its memory reducer shrinks the heap
 * the start grew), in every subject but more in bigger heaps: measured before that settles,
 * the figure would charge a long-running service with its first seconds.
 */
export const SETTLE_MS = 20000

/**
 * CPU time of the whole process tree (primary and workers, or PM2's daemon and workers, or the
 * single process) per request served, under the same fixed rate, once start-up has settled:
 * the per-request overhead of a launcher, which throughput on 2 cores (bound by the load
 * generator) cannot settle.
 */
export async function measureCpuPerRequest (ctx: BenchContext): Promise<void> {
  const samples = new Map<string, { us: number[], rps: number[] }>()
  for (let r = 0; r < ctx.rounds; r++) {
    for (const name of rotated(ALL, r)) {
      await ctx.withSubject(name, ctx.workers, async (s) => {
        if (!ctx.quick) {
          await sleep(SETTLE_MS)
          await runLoad({ port: s.port, path: '/', seconds: 1, rate: FIXED_RATE })
        }
        const before = treeCpuNs(s.rootPid)
        const res = await runLoad({ port: s.port, path: '/', seconds: ctx.seconds, rate: FIXED_RATE })
        const after = treeCpuNs(s.rootPid)
        const us = res.total === 0 ? 0 : Math.round((after - before) / 1000 / res.total * 10) / 10
        const sample = samples.get(name) ?? { us: [], rps: [] }
        sample.us.push(us)
        sample.rps.push(Math.round(res.rps))
        samples.set(name, sample)
        ctx.log(`cpu per request ${name.padEnd(11)} round ${r + 1}: ${us} µs at ${Math.round(res.rps)} req/s`)
      })
    }
  }
  for (const name of ALL) {
    const sample = samples.get(name)
    if (sample !== undefined) ctx.results.cpuPerRequest[name] = { us: spread(sample.us), rps: spread(sample.rps) }
  }
}
