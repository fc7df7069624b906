import { type BenchContext, rotated } from '../context.js'
import { spread } from '../measure.js'
import { CLUSTERS, type SubjectName } from '../subjects.js'

/** From the command to N distinct pids answering, for N = 1, 2, 4, 8 (PM2 with a warm daemon). */
export async function measureStartup (ctx: BenchContext): Promise<void> {
  const counts = ctx.quick ? [1, 2] : [1, 2, 4, 8]
  // ours-ts: the same app as a TypeScript entry.
  const subjects: SubjectName[] = [...CLUSTERS, 'ours-lean', 'ours-ts']
  await ctx.pm2.pm2(['ping'])
  const times = new Map<string, number[]>()
  for (const n of counts) {
    // Interleaved: each round starts every subject once, in a rotated order.
    for (let r = 0; r < ctx.rounds; r++) {
      for (const name of rotated(subjects, r)) {
        const ms = await ctx.withSubject(name, n, async (s) => s.startMs)
        times.set(`${name} ${n}`, [...times.get(`${name} ${n}`) ?? [], ms])
      }
    }
    for (const name of subjects) {
      const entry = ctx.results.startup[name] ?? {}
      entry[String(n)] = spread(times.get(`${name} ${n}`) ?? [])
      ctx.results.startup[name] = entry
      ctx.log(`start-up ${name.padEnd(11)} N=${n} ${entry[String(n)]?.median ?? 'n/a'} ms`)
    }
  }
}
