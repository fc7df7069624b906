/**
 * The first code in every worker. It opens the IPC link before the app loads (so
 * no message from the primary is lost), leaves terminal signals to the primary,
 * then loads the entry: a default-exported function is a Fastify plugin that we
 * host; anything else is an app that starts itself.
 */
import { createRequire } from 'node:module'
import type { Server } from 'node:net'
import { pathToFileURL } from 'node:url'
import type { FastifyBaseLogger, FastifyPluginAsync, FastifyServerOptions, fastify as fastifyFactory } from 'fastify'
import { clusterPlugin } from '../lib/plugin.js'
import { createMessage, sendToPrimaryAndWait } from '../lib/protocol.js'
import { ENV, getWorkerLink } from '../lib/worker-link.js'
import { createLogger } from './logger.js'

// Required, not imported: on Node 20 importing a CommonJS package from ESM starts the loader's
// CommonJS lexer (WebAssembly), about 6 MB of RSS a worker pays for nothing.
const Fastify = createRequire(import.meta.url)('fastify') as typeof fastifyFactory

/**
 * How often the worker reports RSS/heap/event-loop use and requests served (memory recycling
 * and `status` read it). Every wake-up of an idle process costs CPU (about half a millisecond
 * on the 2-CPU machine the benchmark runs on), so an idle worker wakes once per report, and at
 * the default --worker-timeout the report is its heartbeat too.
 */
const STATS_INTERVAL_MS = 5000

const link = getWorkerLink()
const workerId = link.workerId ?? 0
const pretty = process.env[ENV.PRETTY_LOGS] === '1'
const logLevel = process.env[ENV.LOG_LEVEL] ?? 'info'
let logger: ReturnType<typeof createLogger> | undefined

function getLogger (): ReturnType<typeof createLogger> {
  logger ??= createLogger({ workerId }, { pretty, level: logLevel })
  return logger
}

// Ctrl+C and a closing terminal signal the whole process group, and systemd's
// default KillMode signals the whole cgroup: if workers acted on those themselves
// they would race the primary (which could restart a worker that just left).
// The primary decides and tells workers over IPC; if it dies, node:cluster ends
// the worker as soon as the IPC channel closes. SIGUSR1 stays Node's: it opens the
// inspector, through which the primary takes a stuck worker's stack.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR2', 'SIGTTIN', 'SIGTTOU'] as const) {
  process.on(signal, function leaveToPrimary () {
    if (signal === 'SIGTERM') getLogger().info(`SIGTERM ignored: the primary (pid ${process.ppid}) manages this worker; signal the primary instead`)
  })
}

/** node:cluster's `listening` never fires for a server the worker binds itself or does not bind: tell the primary. */
function reportListening (server: Server): void {
  const address = server.address()
  link.send(createMessage({ type: 'fcl:listening', port: typeof address === 'object' && address !== null ? address.port : 0 }))
}

// Imported only where its option is on: a worker loads what it uses.
if (process.env[ENV.BALANCE] === 'reuseport') {
  const { installReusePortListen } = await import('./worker-reuse-port.js')
  installReusePortListen(reportListening)
} else if (process.env[ENV.BALANCE] === 'sticky') {
  const { installRoutedListen } = await import('./worker-routed.js')
  installRoutedListen(Number(process.env.PORT), link, reportListening)
}

let failing = false
async function failWorker (err: unknown): Promise<void> {
  if (failing) return
  failing = true
  const error = err instanceof Error ? err : new Error(String(err))
  const code = (error as NodeJS.ErrnoException).code
  getLogger().fatal({ err: error }, 'worker failed')
  await sendToPrimaryAndWait(createMessage({ type: 'fcl:fatal', message: error.message, ...(typeof code === 'string' ? { code } : {}) }))
  process.exit(1)
}
process.on('uncaughtException', (err) => { void failWorker(err) })
process.on('unhandledRejection', (reason) => { void failWorker(reason) })

let lastElu = performance.eventLoopUtilization()
link.startReports(function workerStats () {
  const memory = process.memoryUsage()
  const elu = performance.eventLoopUtilization(lastElu)
  lastElu = performance.eventLoopUtilization()
  return { rss: memory.rss, heapUsed: memory.heapUsed, elu: elu.utilization }
}, STATS_INTERVAL_MS)

interface EntryModule {
  default?: unknown
  options?: FastifyServerOptions
}

async function hostPlugin (plugin: FastifyPluginAsync, serverOptions: FastifyServerOptions): Promise<void> {
  const ownsLogger = serverOptions.logger === undefined && (serverOptions as { loggerInstance?: unknown }).loggerInstance === undefined
  const app = Fastify(ownsLogger ? { ...serverOptions, loggerInstance: getLogger() as FastifyBaseLogger } : serverOptions)
  await app.register(clusterPlugin)
  await app.register(plugin)
  await app.listen({ port: Number(process.env.PORT), host: process.env.HOST ?? 'localhost' })
}

async function main (): Promise<void> {
  const entry = process.env[ENV.ENTRY]
  if (entry === undefined) throw new Error('worker started without an entry (FCL_WORKER_ENTRY)')
  const mod = await import(pathToFileURL(entry).href) as EntryModule
  if (typeof mod.default === 'function') {
    await hostPlugin(mod.default as FastifyPluginAsync, mod.options ?? {})
  }
  // Otherwise the entry started its own server while it was imported.
}

// A first report once the entry is loaded, so `status` shows a new worker's memory at once
// instead of "-" until the first interval.
main().then(() => { link.reportStats() }, failWorker)
