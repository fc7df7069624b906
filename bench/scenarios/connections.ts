import type { BenchContext } from '../context.js'
import { cpuNs, runLoad, spread } from '../measure.js'
import { CLUSTERS, type SubjectName } from '../subjects.js'

/**
 * Every request on a new connection: the primary accepts each one (round-robin, sticky), or the
 * kernel spreads them (reuseport). The connections come from many loopback addresses, as real
 * clients do, so that sticky spreads them too. Next to the rate: the CPU the accepting process
 * (primary, PM2's daemon) spends per connection.
 */
export async function measureConnections (ctx: BenchContext): Promise<void> {
  const subjects: SubjectName[] = [...CLUSTERS, 'ours-sticky', ...ctx.reusePort]
  for (const name of subjects) {
    await ctx.withSubject(name, ctx.workers, async (s) => {
      const rps: number[] = []
      const perConnection: number[] = []
      let errors = 0
      for (let r = 0; r < ctx.rounds; r++) {
        const before = s.managerPid === null ? 0 : cpuNs(s.managerPid)
        const res = await runLoad({ port: s.port, path: '/', seconds: ctx.seconds, close: true, sources: true })
        const spent = s.managerPid === null ? 0 : cpuNs(s.managerPid) - before
        rps.push(res.rps)
        if (res.total > 0) perConnection.push(spent / 1000 / res.total)
        errors += res.errors
      }
      ctx.results.connections[name] = { rps: spread(rps), errors, managerUsPerConnection: spread(perConnection) }
      ctx.log(`new connections ${name.padEnd(11)} ${Math.round(spread(rps).median)} req/s (Connection: close), ${spread(perConnection).median.toFixed(1)} µs of the accepting process per connection`)
    })
  }
}
