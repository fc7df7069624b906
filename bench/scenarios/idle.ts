import { type BenchContext, rotated } from '../context.js'
import { cpuNs, descendants, memoryOf, runLoad, sleep, spread } from '../measure.js'
import { SETTLE_MS } from './cpu-per-request.js'
import type { SubjectName } from '../subjects.js'

const SUBJECTS: readonly SubjectName[] = ['raw-cluster', 'raw-pino', 'pm2', 'ours', 'ours-lean', 'ours-ts']

/**
 * What an instance costs besides serving: CPU per second of the primary (PM2's daemon) and of
 * each worker while idle, once start-up has settled (V8 collects garbage for a while after a
 * start, in every subject); the memory of each (RSS, and its anonymous part: RSS also counts
 * the node binary's own pages, which all Node processes on the machine share); and the
 * primary's CPU per second under the flat-out hello load, which keep-alive connections keep
 * off its path. `raw-pino` (the bare script with a pino logger in its primary) tells pino's
 * share of the primary's memory from the launcher's; `ours-ts` gives a TypeScript entry's.
 */
export async function measureIdle (ctx: BenchContext): Promise<void> {
  const settleMs = ctx.quick ? 2000 : SETTLE_MS
  const windowMs = ctx.quick ? 2000 : 10000
  const samples = new Map<SubjectName, Record<string, number[]>>()
  const add = (name: SubjectName, key: string, value: number): void => {
    const entry = samples.get(name) ?? {}
    entry[key] = [...entry[key] ?? [], Math.round(value * 100) / 100]
    samples.set(name, entry)
  }
  for (let r = 0; r < ctx.rounds; r++) {
    for (const name of rotated(SUBJECTS, r)) {
      await ctx.withSubject(name, ctx.workers, async (s) => {
        await sleep(settleMs)
        const primary = s.rootPid
        const workers = descendants(primary)
        const before = [primary, ...workers].map(cpuNs)
        await sleep(windowMs)
        const msPerSecond = [primary, ...workers].map((pid, i) => (cpuNs(pid) - (before[i] ?? 0)) / 1e6 / (windowMs / 1000))
        add(name, 'primaryCpu', msPerSecond[0] ?? 0)
        add(name, 'workerCpu', Math.max(...msPerSecond.slice(1)))
        const primaryMemory = memoryOf(primary)
        const workerMemory = workers.map(memoryOf).filter((m) => m !== null)
        if (primaryMemory !== null) {
          add(name, 'primaryRss', primaryMemory.rssMb)
          add(name, 'primaryAnon', primaryMemory.anonMb)
        }
        for (const m of workerMemory) {
          add(name, 'workerRss', m.rssMb)
          add(name, 'workerAnon', m.anonMb)
        }
        const beforeLoad = cpuNs(primary)
        await runLoad({ port: s.port, path: '/', seconds: ctx.seconds })
        const underLoad = (cpuNs(primary) - beforeLoad) / 1e6 / ctx.seconds
        add(name, 'primaryCpuLoaded', underLoad)
        ctx.log(`idle ${name.padEnd(11)} round ${r + 1}: primary ${msPerSecond[0]?.toFixed(2)} ms/s (${underLoad.toFixed(2)} under load), ${primaryMemory?.rssMb.toFixed(1)} MB; workers ${msPerSecond.slice(1).map((v) => v.toFixed(2)).join('/')} ms/s, ${workerMemory.map((m) => m.rssMb.toFixed(1)).join('/')} MB`)
      })
    }
  }
  for (const [name, entry] of samples) {
    ctx.results.idle[name] = Object.fromEntries(Object.entries(entry).map(([key, values]) => [key, spread(values)]))
  }
}
