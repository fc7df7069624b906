/**
 * The first code in every worker. It opens the IPC link before the app loads (so
 * no message from the primary is lost), leaves terminal signals to the primary,
 * then loads the entry: a default-exported function is a Fastify plugin that we
 * host; anything else is an app that starts itself.
 */
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import Fastify, { type FastifyBaseLogger, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify'
import clusterPlugin from '../lib/index.js'
import { createMessage, sendToPrimaryAndWait } from '../lib/protocol.js'
import { ENV, getWorkerLink } from '../lib/worker-link.js'
import { createLogger } from './logger.js'
import { installReusePortListen } from './worker-reuse-port.js'
import { startWatchdogThread } from './worker-watchdog.js'

/** How often the worker reports RSS/heap/event-loop use and requests served (memory recycling and `status` read it). */
const STATS_INTERVAL_MS = 2000

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
// the worker as soon as the IPC channel closes.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR2', 'SIGTTIN', 'SIGTTOU'] as const) {
  process.on(signal, function leaveToPrimary () {
    if (signal === 'SIGTERM') getLogger().info(`SIGTERM ignored: the primary (pid ${process.ppid}) manages this worker; signal the primary instead`)
  })
}

// Set only when the primary runs a watchdog that wants stacks, and gave this worker its pipe.
if (process.env[ENV.WATCHDOG_THREAD] === '1') {
  startWatchdogThread(link, Number(process.env[ENV.HEARTBEAT_MS]), function watchdogFailed (err) {
    getLogger().warn({ err }, `the watchdog thread stopped (${err.message}); a stuck event loop will be replaced without its stack`)
  })
}

if (process.env[ENV.BALANCE] === 'reuseport') {
  installReusePortListen(function reportListening (server) {
    const address = server.address()
    link.send(createMessage({ type: 'fcl:listening', port: typeof address === 'object' && address !== null ? address.port : 0 }))
  })
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
function reportStats (): void {
  const memory = process.memoryUsage()
  const elu = performance.eventLoopUtilization(lastElu)
  lastElu = performance.eventLoopUtilization()
  link.send(createMessage({ type: 'fcl:stats', rss: memory.rss, heapUsed: memory.heapUsed, elu: elu.utilization, requests: link.requests }))
}
setInterval(reportStats, STATS_INTERVAL_MS).unref()

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
main().then(reportStats, failWorker)
