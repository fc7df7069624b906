import { createRequire } from 'node:module'
import { setTimeout as sleep } from 'node:timers/promises'
import type closeWithGrace from 'close-with-grace'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import type fastifyPlugin from 'fastify-plugin'
import { drainFastify } from './drain.js'
import { METRICS_DEFAULTS, resolvePluginOptions, type ClusterPluginOptions, type ResolvedPluginOptions } from './options.js'
import type { ConfigObject, InstanceView } from './protocol.js'
import { createMessage } from './protocol.js'
import { Readiness, type ReadinessState } from './readiness.js'
import { registerProbeRoutes } from './routes.js'
import { closeConnectionsFromNowOn, countRequests, trackUpgrades } from './server-listeners.js'
import { Singletons, type SingletonHandler } from './singletons.js'
import { getWorkerLink, type ConfigUpdate, type WorkerLink } from './worker-link.js'

// Required, not imported: on Node 20 importing a CommonJS package from ESM starts the loader's
// CommonJS lexer (WebAssembly), about 6 MB of RSS in every worker for nothing else.
const fp = createRequire(import.meta.url)('fastify-plugin') as typeof fastifyPlugin

export type ConfigReloadHandler = (next: ConfigObject, previous: ConfigObject) => void | Promise<void>
export type DrainHandler = () => void | Promise<void>
export type { SingletonHandler }

/** `fastify.cluster`: what a worker knows about itself and its cluster. */
export interface ClusterDecorator {
  /** True when the process was forked by the launcher. */
  readonly isWorker: boolean
  /** Stable index 0..N-1 that a replacement inherits (like PM2's NODE_APP_INSTANCE); null standalone. */
  readonly workerId: number | null
  readonly pid: number
  /** The current config (`--config` file under the launcher); `{}` when there is none. */
  readonly config: ConfigObject
  readonly state: ReadinessState
  /** The primary's last view of the instance; null standalone. */
  readonly instance: InstanceView | null
  /**
   * Runs `handler(next, previous)` on every config reload (SIGHUP). Handlers run in
   * order; one that throws (or rejects) keeps the old config in this worker and the
   * failure is reported to the primary.
   */
  onConfigReload: (handler: ConfigReloadHandler) => void
  /**
   * Runs `handler()` when this worker drains (stop, rolling restart, scale-down, memory
   * recycling), after the drain delay, once the listeners no longer take connections: close
   * what HTTP's drain cannot see, such as Socket.IO (`await io.close()`: its clients reconnect to
   * another worker). WebSockets still open afterwards get a close frame 1001 "going away".
   */
  onDrain: (handler: DrainHandler) => void
  /**
   * Run-once work: `handler(signal)` runs in one process of the instance at a time. Under the
   * launcher the primary grants `name` to one ready worker; the signal aborts when that worker
   * drains, and the next holder starts only after this one released: the signal aborted and
   * the promise `handler` returned has settled (or the process exited). Standalone it runs from
   * `listen` until `close`. Names are unique per process.
   */
  singleton: (name: string, handler: SingletonHandler) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    cluster: ClusterDecorator
  }
  interface FastifyContextConfig {
    /** True on the plugin's probe routes, so an app's own hooks (auth, rate limits) can let them through. */
    fclProbe?: boolean
  }
}

/** Under the launcher the primary owns these; standalone, SIGUSR2 is left to Node (or nodemon). */
const STANDALONE_SKIPPED_EVENTS: NonNullable<closeWithGrace.Options['skip']> = ['SIGHUP', 'SIGUSR2', 'beforeExit']

class ClusterState implements ClusterDecorator {
  readonly pid = process.pid
  readonly readiness = new Readiness()
  readonly #link: WorkerLink
  readonly #handlers: ConfigReloadHandler[] = []
  readonly #drainHandlers: DrainHandler[] = []
  readonly singletons: Singletons
  #standaloneConfig: ConfigObject = {}

  constructor (link: WorkerLink, log: () => FastifyInstance['log']) {
    this.#link = link
    this.singletons = new Singletons(link, log)
  }

  get isWorker (): boolean { return this.#link.active }
  get workerId (): number | null { return this.#link.workerId }
  get config (): ConfigObject { return this.#link.active ? this.#link.config : this.#standaloneConfig }
  get state (): ReadinessState { return this.readiness.state }
  get instance (): InstanceView | null { return this.#link.active ? this.#link.instance : null }

  onConfigReload (handler: ConfigReloadHandler): void {
    if (typeof handler !== 'function') throw new TypeError('fastify.cluster.onConfigReload expects a function')
    this.#handlers.push(handler)
  }

  singleton (name: string, handler: SingletonHandler): void {
    this.singletons.register(name, handler)
  }

  onDrain (handler: DrainHandler): void {
    if (typeof handler !== 'function') throw new TypeError('fastify.cluster.onDrain expects a function')
    this.#drainHandlers.push(handler)
  }

  /** Every drain handler, in order; one that fails is logged and the others still run. */
  async runDrainHandlers (log: FastifyInstance['log']): Promise<void> {
    for (const handler of this.#drainHandlers) {
      try {
        await handler()
      } catch (err) {
        log.error({ err }, 'a drain handler failed')
      }
    }
  }

  /** Runs every handler; throws the first failure, leaving the current config in place. */
  async runReloadHandlers (next: ConfigObject): Promise<void> {
    const previous = this.config
    for (const handler of this.#handlers) await handler(next, previous)
    if (!this.#link.active) this.#standaloneConfig = next
  }

  toJSON (): object {
    return { isWorker: this.isWorker, workerId: this.workerId, pid: this.pid, state: this.state }
  }
}

function errorMessage (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** A WebSocket told "going away" gets this long to close before it is cut. */
const GOING_AWAY_GRACE_MS = 1000

/**
 * What the drain cannot see as HTTP: the app's drain handlers first (they know their sockets),
 * then "going away" to every WebSocket left, and a short grace before cutting the stragglers.
 */
function longLivedCloser (fastify: FastifyInstance, cluster: ClusterState, upgrades: ReturnType<typeof trackUpgrades>): () => Promise<void> {
  return async function closeLongLived () {
    await cluster.runDrainHandlers(fastify.log)
    if (upgrades.open.size === 0) return
    upgrades.sayGoingAway()
    const deadline = Date.now() + GOING_AWAY_GRACE_MS
    while (upgrades.open.size > 0 && Date.now() < deadline) await sleep(50)
    for (const socket of upgrades.open) socket.destroy()
  }
}

function wireLauncher (fastify: FastifyInstance, cluster: ClusterState, link: WorkerLink, closeLongLived: () => Promise<void>): void {
  link.setConfigApplier(async function applyConfig (update: ConfigUpdate) {
    try {
      await cluster.runReloadHandlers(update.config)
    } catch (err) {
      fastify.log.error({ err, configVersion: update.version }, 'config reload handler failed; keeping the previous config')
      return { ok: false, error: errorMessage(err) }
    }
    link.config = update.config
    link.configVersion = update.version
    fastify.log.info({ configVersion: update.version }, 'config reloaded')
    return { ok: true }
  })
  link.setDrainHandler(async function drainWorker (request) {
    cluster.readiness.advance('draining')
    fastify.log.info({ reason: request.reason, drainDelay: request.drainDelay }, 'draining: readiness fails, responses close their connections')
    // Singletons stop at once, not after the drain delay: their lease can move to a worker
    // that stays while this one still serves. The worker exits only once they have stopped.
    await Promise.all([
      cluster.singletons.stopAll(),
      drainFastify(fastify, { drainDelay: request.drainDelay, closeLongLived })
    ])
  })
  link.setSingletonHandler(function runSingleton (name, lease) { cluster.singletons.grant(name, lease) })
  // Starts at 0 (not null) so the primary can tell "no requests yet" from "not counted".
  link.requests ??= 0
  countRequests(fastify, function countRequest () { link.countRequest() })
  // The whole instance drains (a stop): every worker tells its clients to leave at once,
  // before its own drain message arrives.
  link.on('instance', function closeWhenInstanceDrains (instance) {
    if (instance.state === 'draining') closeConnectionsFromNowOn(fastify)
  })
  cluster.readiness.on('change', function reportReady (state) {
    if (state === 'ready') link.send(createMessage({ type: 'fcl:ready' }))
  })
  link.send(createMessage({ type: 'fcl:attached' }))
}

async function wireStandalone (fastify: FastifyInstance, cluster: ClusterState, options: ResolvedPluginOptions, closeLongLived: () => Promise<void>): Promise<void> {
  if (!options.handleSignals) return
  // Loaded here, not at the top: a worker under the launcher never needs it.
  const { default: closeWithGrace } = await import('close-with-grace')
  let closer: ReturnType<typeof closeWithGrace> | undefined
  const onHangup = function reloadOnHangup (): void {
    cluster.runReloadHandlers(cluster.config).then(
      () => { fastify.log.info('SIGHUP: config reload handlers ran') },
      (err: unknown) => { fastify.log.error({ err }, 'SIGHUP: a config reload handler failed') }
    )
  }
  // Only a listening server has anything to close gracefully; installing the
  // handlers earlier would also take over the process of tests that use inject().
  fastify.addHook('onListen', async function installSignals () {
    if (closer !== undefined) return
    closer = closeWithGrace({
      delay: options.gracefulTimeout,
      skip: STANDALONE_SKIPPED_EVENTS,
      logger: { error: (msg: unknown) => { fastify.log.error(msg) } },
      onSecondSignal (signal) { fastify.log.error(`second ${signal}: exiting now`) },
      onTimeout (delay) { fastify.log.error(`graceful close still running after ${delay} ms: exiting with code 1`) }
    }, async function gracefulClose ({ signal, err }) {
      if (err !== undefined) fastify.log.error({ err }, 'closing after an uncaught error')
      cluster.readiness.advance('draining')
      fastify.log.info({ signal, drainDelay: options.drainDelay }, 'draining: readiness fails, responses close their connections')
      await Promise.all([
        cluster.singletons.stopAll(),
        drainFastify(fastify, { drainDelay: options.drainDelay, closeLongLived })
      ])
    })
    process.on('SIGHUP', onHangup)
  })
  fastify.addHook('onClose', async function uninstallSignals () {
    closer?.uninstall()
    process.removeListener('SIGHUP', onHangup)
  })
}

const clusterPluginImpl: FastifyPluginAsync<ClusterPluginOptions> = async function fastifyClusterLaunch (fastify, opts) {
  const options = resolvePluginOptions(opts)
  // In plugin-style entries the launcher registers this plugin before the user's
  // code; a second registration by that code is a no-op, not a decorate error.
  if (fastify.hasDecorator('cluster')) return

  const link = getWorkerLink()
  const cluster = new ClusterState(link, () => fastify.log)
  fastify.decorate('cluster', cluster)

  // Nothing per request until a drain: then every response closes its connection.
  cluster.readiness.on('change', function closeWhileDraining (state) {
    if (state === 'draining') closeConnectionsFromNowOn(fastify)
  })
  fastify.addHook('onListen', async function markReady () {
    cluster.readiness.advance('ready')
    cluster.singletons.startStandalone()
  })
  fastify.addHook('preClose', async function markDraining () {
    cluster.readiness.advance('draining')
    // A close without a drain (tests, an app's own shutdown) stops them too, before onClose
    // hooks take away what they use.
    await cluster.singletons.stopAll()
  })
  fastify.addHook('onClose', async function markClosed () {
    cluster.readiness.advance('closed')
  })

  registerProbeRoutes(fastify, options, cluster)

  // The launcher's --metrics wins: every worker of the cluster must feed the aggregate,
  // whether or not the entry asked for metrics itself.
  const metrics = options.metrics ?? (link.metrics ? METRICS_DEFAULTS : null)
  if (metrics !== null) {
    const { registerMetrics } = await import('./metrics.js')
    await registerMetrics(fastify, metrics, link)
  }

  const closeLongLived = longLivedCloser(fastify, cluster, trackUpgrades(fastify))
  if (link.active) wireLauncher(fastify, cluster, link, closeLongLived)
  else await wireStandalone(fastify, cluster, options, closeLongLived)
}

export const clusterPlugin = fp(clusterPluginImpl, {
  fastify: '5.x',
  name: 'fastify-cluster-launch'
})
