import type { BenchContext } from '../context.js'
import { spread, waitForPids } from '../measure.js'
import { CLUSTERS } from '../subjects.js'

/** `kill -9` of a worker until a new pid answers on a fresh connection. */
export async function measureCrash (ctx: BenchContext): Promise<void> {
  for (const name of [...CLUSTERS, 'ours-lean'] as const) {
    await ctx.withSubject(name, ctx.workers, async (s) => {
      const times: number[] = []
      let pids = s.pids
      for (let r = 0; r < ctx.rounds; r++) {
        const victim = [...pids][0] as number
        const t0 = Date.now()
        process.kill(victim, 'SIGKILL')
        // Short probes: a connection the primary handed to the killed worker is never
        // answered, and waiting on it would measure the probe's timeout instead.
        await waitForPids(s.port, 1, 15000, pids, 100)
        times.push(Date.now() - t0)
        pids = await waitForPids(s.port, ctx.workers, 15000, new Set([victim]))
      }
      ctx.results.crash[name] = spread(times)
      ctx.log(`crash recovery ${name.padEnd(11)} new pid answers after ${spread(times).median} ms`)
    })
  }
}
