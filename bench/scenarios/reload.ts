import type { BenchContext } from '../context.js'
import { runLoad, sleep, spread } from '../measure.js'
import type { SubjectName } from '../subjects.js'

/**
 * Keep-alive load for every subject that can reload; then ours again under `Connection: close`
 * load, where each request is a new connection and a closing listener's accept queue matters
 * (round-robin vs reuseport).
 */
export async function measureReload (ctx: BenchContext): Promise<void> {
  // Long enough that the reload happens well inside the load (a quarter in).
  const loadSeconds = Math.max(ctx.quick ? 3 : 4, ctx.seconds)
  const runs: Array<{ name: SubjectName, close: boolean }> = [
    ...(['pm2', 'ours', ...ctx.reusePort] as SubjectName[]).map((name) => ({ name, close: false })),
    ...(['ours', ...ctx.reusePort] as SubjectName[]).map((name) => ({ name, close: true }))
  ]
  for (const { name, close } of runs) {
    await ctx.withSubject(name, ctx.workers, async (s) => {
      const entry = { total: 0, errors: 0, non2xx: 0, reloadMs: [] as number[] }
      for (let r = 0; r < ctx.rounds; r++) {
        const load = runLoad({ port: s.port, path: '/', seconds: loadSeconds, close })
        await sleep(loadSeconds * 1000 / 4)
        entry.reloadMs.push(await s.reload())
        const res = await load
        entry.total += res.total
        entry.errors += res.errors
        entry.non2xx += res.non2xx
      }
      const key = close ? `${name} close` : name
      ctx.results.reload[key] = { total: entry.total, errors: entry.errors, non2xx: entry.non2xx, reloadMs: spread(entry.reloadMs) }
      ctx.log(`reload under ${close ? 'Connection: close' : 'keep-alive'} load ${name.padEnd(14)} ${entry.errors} errors + ${entry.non2xx} non-2xx of ${entry.total} requests; reload took ${spread(entry.reloadMs).median} ms`)
    })
  }
}
