/**
 * `npm run bench [-- --quick] [--only <scenario>] [--duration <s>] [--rounds <n>] [--out <name>]`
 * Side by side: one Fastify process, a raw node:cluster script, PM2 cluster mode and
 * fastify-cluster-launch, serving the same app on loopback. Every figure is the median of the
 * rounds, with min and max. Where `--balance reuseport` can run (Linux, Node >= 22.12), the
 * new-connection and reload scenarios add ours with it. Subjects run on the Node that runs the
 * bench: put another Node first on PATH (and pass `--out node24`, say) for a run on another
 * Node line. Each scenario is a module of its own in `bench/scenarios/`.
 */
import os from 'node:os'
import { parseArgs } from 'node:util'
import { readTcpMigrateReq, reusePortUnsupported } from '../launcher/balance.js'
import { createContext, type BenchContext } from './context.js'
import { writeReports, type Results } from './report.js'
import { measureConnections } from './scenarios/connections.js'
import { measureCpuPerRequest } from './scenarios/cpu-per-request.js'
import { measureCrash } from './scenarios/crash.js'
import { measureIdle } from './scenarios/idle.js'
import { measureReload } from './scenarios/reload.js'
import { measureSpiky } from './scenarios/spiky.js'
import { measureStartup } from './scenarios/startup.js'
import { measureThroughput } from './scenarios/throughput.js'
import { Pm2Home, type SubjectName } from './subjects.js'

const SCENARIOS: ReadonlyArray<[string, (ctx: BenchContext) => Promise<void>]> = [
  ['cpu', measureCpuPerRequest],
  ['idle', measureIdle],
  ['throughput', measureThroughput],
  ['connections', measureConnections],
  ['reload', measureReload],
  ['crash', measureCrash],
  ['startup', measureStartup],
  ['spiky', measureSpiky]
]
const NAMES = SCENARIOS.map(([name]) => name)

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    duration: { type: 'string' },
    rounds: { type: 'string' },
    out: { type: 'string', default: 'latest' }
  },
  strict: true
})
const quick = values.quick === true
const seconds = Number(values.duration ?? (quick ? 1 : 8))
const rounds = Number(values.rounds ?? (quick ? 1 : 3))
if (!Number.isInteger(seconds) || seconds < 1 || !Number.isInteger(rounds) || rounds < 1) {
  console.error('Error: --duration and --rounds must be whole numbers >= 1')
  process.exit(2)
}
const only = values.only?.split(',')
const unknown = only?.filter((name) => !NAMES.includes(name)) ?? []
if (unknown.length > 0) {
  console.error(`Error: --only takes ${NAMES.join(', ')} (comma-separated), got ${JSON.stringify(values.only)}`)
  process.exit(2)
}
const out = values.out ?? 'latest'
if (!/^[\w.-]+$/.test(out)) {
  console.error(`Error: --out must be a plain file name (letters, digits, . _ -), got ${JSON.stringify(out)}`)
  process.exit(2)
}
const noReusePort = reusePortUnsupported()
const workers = os.availableParallelism()

const results: Results = {
  machine: { cpus: workers, model: os.cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${os.platform()} ${os.release()}`, date: new Date().toISOString(), tcpMigrateReq: readTcpMigrateReq() },
  settings: { quick, seconds, rounds, workers, ...(only === undefined ? {} : { only }) },
  cpuPerRequest: {},
  idle: {},
  throughput: {},
  connections: {},
  reload: {},
  crash: {},
  startup: {},
  spiky: {}
}

async function main (): Promise<void> {
  const started = Date.now()
  const pm2 = new Pm2Home()
  const reusePort: SubjectName[] = noReusePort === null ? ['ours-reuseport'] : []
  const ctx = createContext({ quick, seconds, rounds, workers, pm2, results, reusePort })
  ctx.log(`fastify-cluster-launch bench: ${workers} CPUs (${results.machine.model}), Node ${process.version}, ${seconds} s runs, ${rounds} round(s)${quick ? ', quick' : ''}`)
  if (noReusePort !== null) ctx.log(`ours-reuseport left out: ${noReusePort}`)
  try {
    for (const [name, measure] of SCENARIOS) {
      if (only === undefined || only.includes(name)) await measure(ctx)
    }
  } finally {
    await pm2.dispose()
  }
  results.settings.elapsedSeconds = Math.round((Date.now() - started) / 1000)
  const files = writeReports(results, out)
  ctx.log(`\n${files.table}\n\nwrote ${files.json}, ${files.markdown} and ${files.svg} in ${results.settings.elapsedSeconds} s`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
