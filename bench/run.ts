/**
 * `npm run bench [-- --quick] [--only <scenario>] [--duration <s>] [--rounds <n>] [--out <name>]`
 * Side by side: one Fastify process, a raw node:cluster script, PM2 cluster mode
 * and fastify-cluster-launch, serving the same app on loopback. Every figure is the
 * median of the rounds, with min and max. Where `--balance reuseport` can run
 * (Linux, Node >= 22.12), the new-connection and reload scenarios add ours with it.
 * Subjects run on the Node that runs the bench: put another Node first on PATH
 * (and pass `--out node24`, say) for a run on another Node line.
 */
import os from 'node:os'
import { parseArgs } from 'node:util'
import { processUsage, runLoad, sleep, spread, waitForPids } from './measure.js'
import { readTcpMigrateReq, reusePortUnsupported } from '../launcher/balance.js'
import { writeReports, type Results } from './report.js'
import { ALL, CLUSTERS, Pm2Home, startSubject, type Running, type SubjectName } from './subjects.js'

const SCENARIOS = ['throughput', 'connections', 'reload', 'crash', 'startup'] as const
type Scenario = typeof SCENARIOS[number]

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
const only = values.only
if (only !== undefined && !(SCENARIOS as readonly string[]).includes(only)) {
  console.error(`Error: --only must be one of ${SCENARIOS.join(', ')}, got ${JSON.stringify(only)}`)
  process.exit(2)
}
const out = values.out ?? 'latest'
if (!/^[\w.-]+$/.test(out)) {
  console.error(`Error: --out must be a plain file name (letters, digits, . _ -), got ${JSON.stringify(out)}`)
  process.exit(2)
}
const wanted = (s: Scenario): boolean => only === undefined || only === s
const noReusePort = reusePortUnsupported()
const REUSEPORT: readonly SubjectName[] = noReusePort === null ? ['ours-reuseport'] : []
const workers = os.availableParallelism()
// Below Linux's ephemeral range (32768-60999 by default): load runs with
// `Connection: close` use thousands of client ports, and one of them must not
// hold the port the next subject binds.
const BASE_PORT = 21700
let portOffset = 0
const nextPort = (): number => BASE_PORT + (portOffset++ % 200)

const results: Results = {
  machine: { cpus: workers, model: os.cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${os.platform()} ${os.release()}`, date: new Date().toISOString(), tcpMigrateReq: readTcpMigrateReq() },
  settings: { quick, seconds, rounds, workers },
  throughput: {},
  connections: {},
  reload: {},
  crash: {},
  startup: {},
  overhead: {}
}

function log (line: string): void {
  process.stdout.write(`${line}\n`)
}

async function withSubject<T> (name: SubjectName, n: number, pm2: Pm2Home, fn: (s: Running) => Promise<T>): Promise<T> {
  const subject = await startSubject(name, n, nextPort(), pm2)
  try {
    return await fn(subject)
  } finally {
    await subject.stop()
    await sleep(300)
  }
}

/**
 * Rounds are interleaved (each round starts every subject afresh, in a rotated
 * order), so a slow stretch of a shared machine hits every subject alike instead
 * of whichever happened to run then.
 */
async function measureThroughput (pm2: Pm2Home): Promise<void> {
  const samples = new Map<string, { rps: number[], p50: number[], p99: number[] }>()
  for (let r = 0; r < rounds; r++) {
    const order = ALL.map((_n, i) => ALL[(i + r) % ALL.length] as SubjectName)
    for (const name of order) {
      await withSubject(name, workers, pm2, async (s) => {
        for (const [key, route] of [['hello', '/'], ['cpu', '/cpu']] as const) {
          // A warm-up second (JIT, connection set-up); the quick smoke run skips it.
          if (!quick) await runLoad({ port: s.port, path: route, seconds: 1 })
          const before = s.managerPid === null ? null : processUsage(s.managerPid)
          const res = await runLoad({ port: s.port, path: route, seconds })
          const after = s.managerPid === null ? null : processUsage(s.managerPid)
          const sample = samples.get(`${key} ${name}`) ?? { rps: [], p50: [], p99: [] }
          sample.rps.push(res.rps)
          sample.p50.push(res.p50)
          sample.p99.push(res.p99)
          samples.set(`${key} ${name}`, sample)
          if (key === 'hello' && before !== null && after !== null) {
            const entry = results.overhead[name] ?? { rssMb: [], cpuPerSecondMs: [] }
            entry.rssMb.push(after.rssMb)
            entry.cpuPerSecondMs.push(Math.round((after.cpuMs - before.cpuMs) / seconds))
            results.overhead[name] = entry
          }
          log(`throughput ${key.padEnd(5)} ${name.padEnd(11)} round ${r + 1}: ${Math.round(res.rps)} req/s`)
        }
      })
    }
  }
  for (const key of ['hello', 'cpu'] as const) {
    results.throughput[key] = {}
    for (const name of ALL) {
      const sample = samples.get(`${key} ${name}`)
      if (sample !== undefined) results.throughput[key][name] = { rps: spread(sample.rps), p50: spread(sample.p50), p99: spread(sample.p99) }
    }
  }
}

async function measureConnections (pm2: Pm2Home): Promise<void> {
  for (const name of [...CLUSTERS, ...REUSEPORT]) {
    await withSubject(name, workers, pm2, async (s) => {
      const rps: number[] = []
      let errors = 0
      for (let r = 0; r < rounds; r++) {
        const res = await runLoad({ port: s.port, path: '/', seconds, close: true })
        rps.push(res.rps)
        errors += res.errors
      }
      results.connections[name] = { rps: spread(rps), errors }
      log(`new connections ${name.padEnd(11)} ${Math.round(spread(rps).median)} req/s (Connection: close)`)
    })
  }
}

/**
 * Keep-alive load for every subject; then ours again under `Connection: close` load,
 * where each request is a new connection and a closing listener's accept queue
 * matters (round-robin vs reuseport).
 */
async function measureReload (pm2: Pm2Home): Promise<void> {
  // Long enough that the reload happens well inside the load (a quarter in).
  const loadSeconds = Math.max(quick ? 3 : 4, seconds)
  const runs: Array<{ name: SubjectName, close: boolean }> = [
    ...(['pm2', 'ours', ...REUSEPORT] as SubjectName[]).map((name) => ({ name, close: false })),
    ...(['ours', ...REUSEPORT] as SubjectName[]).map((name) => ({ name, close: true }))
  ]
  for (const { name, close } of runs) {
    await withSubject(name, workers, pm2, async (s) => {
      const entry = { total: 0, errors: 0, non2xx: 0, reloadMs: [] as number[] }
      for (let r = 0; r < rounds; r++) {
        const load = runLoad({ port: s.port, path: '/', seconds: loadSeconds, close })
        await sleep(loadSeconds * 1000 / 4)
        entry.reloadMs.push(await s.reload())
        const res = await load
        entry.total += res.total
        entry.errors += res.errors
        entry.non2xx += res.non2xx
      }
      const key = close ? `${name} close` : name
      results.reload[key] = { total: entry.total, errors: entry.errors, non2xx: entry.non2xx, reloadMs: spread(entry.reloadMs) }
      log(`reload under ${close ? 'Connection: close' : 'keep-alive'} load ${name.padEnd(14)} ${entry.errors} errors + ${entry.non2xx} non-2xx of ${entry.total} requests; reload took ${spread(entry.reloadMs).median} ms`)
    })
  }
}

async function measureCrash (pm2: Pm2Home): Promise<void> {
  for (const name of CLUSTERS) {
    await withSubject(name, workers, pm2, async (s) => {
      const times: number[] = []
      let pids = s.pids
      for (let r = 0; r < rounds; r++) {
        const victim = [...pids][0] as number
        const t0 = Date.now()
        process.kill(victim, 'SIGKILL')
        // Short probes: a connection the primary handed to the killed worker is never
        // answered, and waiting on it would measure the probe's timeout instead.
        await waitForPids(s.port, 1, 15000, pids, 100)
        times.push(Date.now() - t0)
        pids = await waitForPids(s.port, workers, 15000, new Set([victim]))
      }
      results.crash[name] = spread(times)
      log(`crash recovery ${name.padEnd(11)} new pid answers after ${spread(times).median} ms`)
    })
  }
}

async function measureStartup (pm2: Pm2Home): Promise<void> {
  const counts = quick ? [1, 2] : [1, 2, 4, 8]
  await pm2.pm2(['ping'])
  for (const name of CLUSTERS) {
    results.startup[name] = {}
    for (const n of counts) {
      const times: number[] = []
      for (let r = 0; r < rounds; r++) {
        times.push(await withSubject(name, n, pm2, async (s) => s.startMs))
      }
      const entry = results.startup[name]
      if (entry !== undefined) entry[String(n)] = spread(times)
      log(`start-up ${name.padEnd(11)} N=${n} ${spread(times).median} ms`)
    }
  }
}

async function main (): Promise<void> {
  const started = Date.now()
  log(`fastify-cluster-launch bench: ${workers} CPUs (${results.machine.model}), Node ${process.version}, ${seconds} s runs, ${rounds} round(s)${quick ? ', quick' : ''}`)
  if (noReusePort !== null) log(`ours-reuseport left out: ${noReusePort}`)
  const pm2 = new Pm2Home()
  try {
    if (wanted('throughput')) await measureThroughput(pm2)
    if (wanted('connections')) await measureConnections(pm2)
    if (wanted('reload')) await measureReload(pm2)
    if (wanted('crash')) await measureCrash(pm2)
    if (wanted('startup')) await measureStartup(pm2)
  } finally {
    await pm2.dispose()
  }
  results.settings.elapsedSeconds = Math.round((Date.now() - started) / 1000)
  const files = writeReports(results, out)
  log(`\n${files.table}\n\nwrote ${files.json}, ${files.markdown} and ${files.svg} in ${results.settings.elapsedSeconds} s`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
