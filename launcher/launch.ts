import cluster from 'node:cluster'
import { EventEmitter } from 'node:events'
import type { Server } from 'node:http'
import type { Logger } from 'pino'
import { ERROR_CODES, FclError, FclOptionsError } from '../lib/errors.js'
import type { ConfigObject, InstanceView } from '../lib/protocol.js'
import { checkPortFree, readTcpMigrateReq, reusePortUnsupported } from './balance.js'
import type { ClusterMetrics } from './cluster-metrics.js'
import { loadAfterReady, type AfterReady } from './after-ready.js'
import type { ConfigReloadResult } from './config-reload.js'
import { controlDir } from './control-path.js'
import type { ClusterStatus, LastConfigReload, LastRoll } from './control-protocol.js'
import { ControlServer } from './control-server.js'
import { decideAutoWorkers, readCpuFacts, type WorkerCountDecision } from './cpus.js'
import { createLogger, holdLogger } from './logger.js'
import { isTypeScriptEntry, resolveLaunchOptions, type LaunchOptions, type ResolvedLaunchOptions } from './options.js'
import type { RollResult } from './roll.js'
import { SingletonLeases } from './singletons.js'
import { Supervisor, type ExitInfo, type StuckReport, type WorkerInfo } from './supervisor.js'
import { chooseTsLoader, nodeStripsTypes, type LoaderChoice } from './ts-loader.js'
import type { PrimaryListener } from './routing/primary-listener.js'
import { relaySocketIoAdapter } from './socketio-relay.js'

/**
 * How long after the launch the primary holds its log lines (see holdLogger): a typical start is
 * over by then, and a person watching a slow one still sees lines within a second.
 */
const HELD_LOG_MAX_MS = 1000

const BALANCE_DESCRIPTIONS: Readonly<Record<ResolvedLaunchOptions['balance'], string>> = {
  rr: 'round-robin in the primary',
  reuseport: 'SO_REUSEPORT, the kernel spreads connections',
  sticky: 'sticky: the primary picks the worker by client address',
}
import { debuggerRequested } from './watchdog-timing.js'

export interface StopResult {
  /** The exit code the CLI uses: 0 when every worker stopped by itself in time. */
  code: number
  reason: 'shutdown' | 'killed' | 'boot-failed' | 'crash-loop'
  /** Workers killed at the grace timeout. */
  killed: string[]
  error?: FclError
}

export interface ClusterEvents {
  ready: [InstanceView]
  'worker-ready': [WorkerInfo]
  'worker-exit': [WorkerInfo & ExitInfo]
  /** The watchdog found a worker's event loop stuck: its stack, just before it is killed and restarted. */
  'worker-unresponsive': [StuckReport]
  stopped: [StopResult]
}

/** What `launch()` returns; every signal of the CLI maps to one of these methods. */
export interface ClusterHandle extends EventEmitter<ClusterEvents> {
  /** Resolves when every worker is ready; rejects (coded error) when the cluster could not start. */
  readonly ready: Promise<void>
  /** Resolves when the cluster has stopped, for whatever reason. */
  readonly stopped: Promise<StopResult>
  readonly options: ResolvedLaunchOptions
  /** The primary's logger (role: primary). */
  readonly log: Logger
  workers: () => WorkerInfo[]
  instance: () => InstanceView
  /** Everything `fastify-cluster-launch status` shows: the workers, the last roll and config reload. */
  status: () => ClusterStatus
  /** Rolling restart (SIGUSR2). A call during a roll returns that roll's result. */
  reload: () => Promise<RollResult>
  /** Re-read `--config` and push it to every worker (SIGHUP). */
  reloadConfig: () => Promise<ConfigReloadResult>
  /** Run `n` workers (SIGTTIN/SIGTTOU add or remove one). */
  scale: (n: number) => Promise<void>
  /** Graceful stop (SIGTERM/SIGINT). Calling again returns the same promise. */
  shutdown: () => Promise<StopResult>
  /** Stop now: SIGKILL every worker (a second SIGTERM/SIGINT). */
  kill: () => Promise<StopResult>
  /** With `metrics`: the cluster-wide Prometheus exposition text, as `GET /metrics` serves it. */
  metrics: () => Promise<string>
}

let launched = false

class Cluster extends EventEmitter<ClusterEvents> implements ClusterHandle {
  readonly options: ResolvedLaunchOptions
  readonly ready: Promise<void>
  readonly stopped: Promise<StopResult>
  readonly log: Logger
  #supervisor: Supervisor | null = null
  #control: ControlServer | null = null
  readonly #startedAt = Date.now()
  #lastRoll: LastRoll | null = null
  #lastConfigReload: LastConfigReload | null = null
  #resolveStopped!: (result: StopResult) => void
  #stopping: Promise<StopResult> | null = null
  #roll: Promise<RollResult> | null = null
  /** Scaling, rolls and recycling run one at a time. */
  #queue: Promise<unknown> = Promise.resolve()
  #busy = 0
  #configQueue: Promise<unknown> = Promise.resolve()
  #unwatchMemory: () => void = () => {}
  #unwatchHeartbeats: () => void = () => {}
  #routing: PrimaryListener | null = null
  #singletons: SingletonLeases | null = null
  #stopRelay: () => void = () => {}
  #metrics: ClusterMetrics | null = null
  #metricsServer: Server | null = null
  #unwatchFiles: () => void = () => {}
  /** Modules needed only once the workers are ready (see after-ready.ts). */
  #later: Promise<AfterReady> | null = null
  #bootError: FclError | null = null
  #finished = false
  /** Workers killed by a second stop signal, reported by whichever path finishes first. */
  #forcedKills: string[] | null = null

  readonly #loader: LoaderChoice
  readonly #releaseLog: () => void

  constructor (options: ResolvedLaunchOptions, loader: LoaderChoice, watchdogOffForDebugger = false) {
    super()
    this.options = options
    this.#loader = loader
    // Our own logger is made HELD_LOG_MAX_MS after the launch (see holdLogger); a caller's is used as given.
    if (options.logger === null) {
      const held = holdLogger((timestamp) => createLogger({ role: 'primary' }, { pretty: options.prettyLogs, level: options.logLevel, sync: true, timestamp }), HELD_LOG_MAX_MS)
      this.log = held.log
      this.#releaseLog = held.release
    } else {
      this.log = options.logger
      this.#releaseLog = () => {}
    }
    if (watchdogOffForDebugger) {
      this.log.info('Node runs with --inspect: the stuck-worker watchdog is off, so a worker stopped at a breakpoint is not killed (pass --worker-timeout to keep it)')
    }
    this.stopped = new Promise((resolve) => { this.#resolveStopped = resolve })
    this.ready = this.#boot()
    // A failed boot writes the lines held so far at once. A good one leaves them held until the
    // hold ends (HELD_LOG_MAX_MS after the launch): by then the workers serve, and loading pino
    // (about 40 ms of CPU in one piece) no longer delays their first connections, which the
    // primary hands out under --balance rr. The CLI and tests read failures from `stopped` too;
    // an unobserved `ready` must not crash the process.
    this.ready.catch(this.#releaseLog)
  }

  async #boot (): Promise<void> {
    const o = this.options
    const started = Date.now()
    let config: ConfigObject = {}
    let decision: WorkerCountDecision
    try {
      if (o.config !== null) {
        const { readConfigFile } = await import('./config-file.js')
        config = await readConfigFile(o.config)
      }
      if (o.balance === 'reuseport') await checkPortFree(o.port, o.host)
      decision = o.workers === 'auto'
        ? decideAutoWorkers(readCpuFacts())
        : { count: o.workers, reason: 'set by --workers / WEB_CONCURRENCY' }
      // Before any fork: a second instance with this name must stop here, having touched nothing.
      if (o.control && this.#stopping === null) await this.#openControl()
      // Before the fork, so a save made while the workers start is not missed.
      if (o.watch && this.#stopping === null) await this.#startWatch()
    } catch (err) {
      const error = err instanceof FclError ? err : new FclError(ERROR_CODES.WORKER_START, String(err))
      // A watcher that cannot start is the same usage error it was before anything ran.
      this.#finish({ code: error instanceof FclOptionsError ? 2 : 1, reason: 'boot-failed', killed: [], error })
      throw error
    }
    if (this.#stopping !== null) throw new FclError(ERROR_CODES.STOPPING, 'stopped before any worker was started')
    const loader = this.#loader
    this.log.info({ workers: decision.count, reason: decision.reason, entry: o.entry, loader: loader.description, port: o.port, host: o.host, balance: o.balance },
      `starting ${decision.count} worker${decision.count === 1 ? '' : 's'} (${decision.reason}); ${loader.description}; ${BALANCE_DESCRIPTIONS[o.balance]}${o.proxyProtocol ? ', behind the PROXY protocol' : ''}`)

    if (o.balance === 'reuseport' && readTcpMigrateReq() !== true) {
      this.log.warn({ tcpMigrateReq: readTcpMigrateReq() }, 'reuseport: net.ipv4.tcp_migrate_req is not 1, so the kernel resets connections still queued on a worker\'s socket when it closes (restarts, scale-down); set it to 1 (Linux >= 5.14) for zero loss')
    }
    const supervisor = new Supervisor(o, this.log, config, loader.execArgv)
    this.#supervisor = supervisor
    if (o.balance === 'sticky') {
      try {
        const { PrimaryListener } = await import('./routing/primary-listener.js')
        const chooser = (await import('./routing/sticky.js')).stickyChooser
        this.#routing = await PrimaryListener.open(supervisor, this.log, { port: o.port, host: o.host, proxyProtocol: o.proxyProtocol, drainDelay: o.drainDelay, chooser })
      } catch (err) {
        const error = err instanceof FclError ? err : new FclError(ERROR_CODES.WORKER_START, String(err))
        this.#bootError = error
        this.log.fatal({ code: error.code }, `could not start: ${error.message}`)
        this.#finish({ code: 1, reason: 'boot-failed', killed: [], error })
        throw error
      }
      // Port 0: the port the primary's listener got is the workers' too.
      supervisor.listenPort = this.#routing.port
    }
    // Socket.IO's cluster adapter passes its messages through the primary (see socketio-relay.ts).
    this.#stopRelay = relaySocketIoAdapter(supervisor)
    const singletons = new SingletonLeases(supervisor, this.log)
    this.#singletons = singletons
    if (o.metrics) {
      // prom-client is loaded only when metrics are on.
      const { ClusterMetrics } = await import('./cluster-metrics.js')
      const metrics = new ClusterMetrics(supervisor, this.log, singletons)
      this.#metrics = metrics
      if (o.metricsPort !== null) {
        try {
          // node:http only when asked for: on Node 24 loading it adds about 13 MB to the primary.
          const { startMetricsServer } = await import('./metrics-server.js')
          this.#metricsServer = await startMetricsServer(o.metricsPort, o.metricsHost, '/metrics', () => metrics.collect())
        } catch (err) {
          const error = err as FclError
          this.#bootError = error
          this.log.fatal({ code: error.code }, `could not start: ${error.message}`)
          this.#finish({ code: 1, reason: 'boot-failed', killed: [], error })
          throw error
        }
        this.log.info({ metricsPort: o.metricsPort, metricsHost: o.metricsHost }, `cluster metrics also on http://${o.metricsHost}:${o.metricsPort}/metrics`)
      }
    }
    supervisor.on('worker-ready', (info) => { this.emit('worker-ready', info) })
    supervisor.on('worker-exit', (info) => { this.emit('worker-exit', info) })
    supervisor.on('worker-unresponsive', (report) => { this.emit('worker-unresponsive', report) })
    supervisor.on('give-up', (err) => {
      void this.#stop({ reason: 'crash-loop', error: err })
    })
    const starting = supervisor.start(decision.count)
    try {
      await starting
    } catch (err) {
      const error = err instanceof FclError ? err : new FclError(ERROR_CODES.WORKER_START, String(err))
      if (this.#stopping === null) {
        // Crash-loop guard at boot: the same entry would fail the same way again,
        // so no retries; stop what started and report the worker's own reason.
        this.#bootError = error
        this.log.fatal({ code: error.code }, `could not start: ${error.message}`)
        await supervisor.killAll()
        this.#finish({ code: 1, reason: 'boot-failed', killed: [], error })
      }
      throw error
    }
    const { watchHeartbeats, watchMemory } = await this.#afterReady()
    // A stop may have finished while they loaded: nothing must be left watching.
    if (this.#finished) return
    const ms = Date.now() - started
    this.log.info({ ready: decision.count, ms }, `${decision.count}/${decision.count} workers ready in ${ms} ms`)
    singletons.start()
    this.#unwatchHeartbeats = watchHeartbeats(supervisor, o.workerTimeout, this.log)
    this.#unwatchMemory = watchMemory(supervisor, o.maxMemory, this.log,
      () => this.#busy === 0 && this.#stopping === null,
      (workerId) => this.#serial(() => supervisor.replace(workerId, 'memory')))
    this.emit('ready', supervisor.instanceView())
  }

  #afterReady (): Promise<AfterReady> {
    this.#later ??= loadAfterReady()
    return this.#later
  }

  async #startWatch (): Promise<void> {
    const { startWatch } = await import('./watch.js')
    this.#unwatchFiles = startWatch(this.options.entry, this.options.config, this.log, {
      roll: () => this.#rollAfterCurrent(),
      reloadConfig: async () => {
        await this.ready
        return await this.reloadConfig()
      }
    })
  }

  async #openControl (): Promise<void> {
    const control = await ControlServer.open({ dir: controlDir(), name: this.options.name, log: this.log, target: this })
    this.#control = control
    this.log.info({ control: control.path, name: this.options.name },
      `control socket ${control.path}: fastify-cluster-launch status --name ${this.options.name}`)
  }

  #finish (result: StopResult): void {
    this.#releaseLog()
    if (this.#finished) return
    this.#finished = true
    this.#unwatchMemory()
    this.#unwatchHeartbeats()
    this.#stopRelay()
    this.#singletons?.dispose()
    void this.#routing?.close()
    this.#metrics?.dispose()
    if (this.#metricsServer !== null) {
      const server = this.#metricsServer
      void import('./metrics-server.js').then(({ stopMetricsServer }) => stopMetricsServer(server))
    }
    this.#unwatchFiles()
    this.#supervisor?.dispose()
    const announce = (): void => {
      this.emit('stopped', result)
      this.#resolveStopped(result)
    }
    if (this.#control === null) {
      announce()
      return
    }
    // `stop` clients get the final result, and the socket file is gone, before
    // anyone learns of the stop: the CLI exits the process right after.
    void this.#control.close(result).then(announce)
  }

  #serial<T> (fn: () => Promise<T>): Promise<T> {
    this.#busy++
    const run = this.#queue.then(fn)
    this.#queue = run.catch(() => {}).finally(() => { this.#busy-- })
    return run
  }

  #requireRunning (action: string): Supervisor {
    if (this.#stopping !== null) throw new FclError(ERROR_CODES.STOPPING, `cannot ${action}: the launcher is stopping`)
    if (this.#supervisor === null || this.#supervisor.size === 0) throw new FclError(ERROR_CODES.STOPPING, `cannot ${action}: the cluster has not started`)
    return this.#supervisor
  }

  workers (): WorkerInfo[] {
    return this.#supervisor?.workers() ?? []
  }

  instance (): InstanceView {
    return this.#supervisor?.instanceView() ?? { ready: 0, total: 0, state: 'starting' }
  }

  status (): ClusterStatus {
    const o = this.options
    const now = Date.now()
    return {
      pid: process.pid,
      name: o.name,
      entry: o.entry,
      port: o.port,
      host: o.host,
      startedAt: this.#startedAt,
      uptime: now - this.#startedAt,
      instance: this.instance(),
      configVersion: this.#supervisor?.configVersion ?? 1,
      control: this.#control?.path ?? null,
      limits: { readyTimeout: o.readyTimeout, graceTimeout: o.graceTimeout },
      workers: this.workers().map((w) => ({ ...w, uptime: now - w.startedAt, silentMs: Math.max(0, now - w.lastSeenAt) })),
      backoff: (this.#supervisor?.backoffSlots() ?? []).map((b) => ({ workerId: b.workerId, restarts: b.restarts, restartIn: Math.max(0, b.restartAt - now) })),
      singletons: (this.#singletons?.status() ?? []).map((s) => ({ ...s, for: now - s.since })),
      lastRoll: this.#lastRoll,
      lastConfigReload: this.#lastConfigReload
    }
  }

  reload (): Promise<RollResult> {
    if (this.#roll !== null) {
      this.log.warn('rolling restart already running; this request is ignored')
      return this.#roll
    }
    let supervisor: Supervisor
    try {
      supervisor = this.#requireRunning('roll')
    } catch (err) {
      return Promise.reject(err)
    }
    const roll = this.#serial(async () => await (await this.#afterReady()).rollingRestart(supervisor, this.log))
      .then((result) => {
        this.#lastRoll = { ...result, finishedAt: Date.now() }
        this.#metrics?.recordRoll(result)
        return result
      })
      .finally(() => { this.#roll = null })
    this.#roll = roll
    return roll
  }

  /** A roll already running (a SIGUSR2) may have started before the change: wait for it, then roll. */
  async #rollAfterCurrent (): Promise<RollResult> {
    await this.ready
    while (this.#roll !== null) await this.#roll.catch(() => null)
    return await this.reload()
  }

  reloadConfig (): Promise<ConfigReloadResult> {
    let supervisor: Supervisor
    try {
      supervisor = this.#requireRunning('reload the config')
    } catch (err) {
      return Promise.reject(err)
    }
    // One reload at a time, so acknowledgements cannot be mixed up between versions.
    const run = this.#configQueue.then(async () => await (await this.#afterReady()).reloadConfig(supervisor, this.options.config, this.log)).then((result) => {
      this.#lastConfigReload = { ...result, finishedAt: Date.now() }
      this.#metrics?.recordConfigReload(result)
      return result
    })
    this.#configQueue = run.catch(() => {})
    return run
  }

  async scale (n: number): Promise<void> {
    const supervisor = this.#requireRunning('scale')
    await this.#serial(async () => { await (await this.#afterReady()).scaleTo(supervisor, n, this.log) })
  }

  shutdown (): Promise<StopResult> {
    return this.#stop({ reason: 'shutdown' })
  }

  async metrics (): Promise<string> {
    if (this.#metrics === null) throw new FclError(ERROR_CODES.LAUNCH_OPTIONS, 'metrics are off: launch with metrics: true (--metrics)')
    return (await this.#metrics.collect()).text
  }

  kill (): Promise<StopResult> {
    const supervisor = this.#supervisor
    this.#unwatchFiles()
    this.log.warn('stopping now: killing every worker (SIGKILL)')
    if (supervisor === null) return this.stopped
    const killed = supervisor.liveProcs().map((p) => supervisor.describe(p))
    this.#forcedKills = killed
    void supervisor.killAll().then(() => {
      this.#finish({ code: 1, reason: 'killed', killed })
    })
    return this.stopped
  }

  #stop (why: { reason: 'shutdown' | 'crash-loop', error?: FclError }): Promise<StopResult> {
    if (this.#stopping !== null) return this.#stopping
    this.#unwatchFiles()
    this.#stopping = this.#drainAll(why)
    return this.#stopping
  }

  async #drainAll (why: { reason: 'shutdown' | 'crash-loop', error?: FclError }): Promise<StopResult> {
    const o = this.options
    const started = Date.now()
    if (this.#supervisor === null || this.#bootError !== null) {
      // Nothing forked yet (boot is reading the config, and will see #stopping),
      // or boot already failed and cleaned up.
      const result = await Promise.race([this.stopped, this.ready.then(() => null, () => null)])
      if (result !== null) return result
    }
    const supervisor = this.#supervisor
    if (supervisor === null) {
      const result: StopResult = { code: 0, reason: why.reason, killed: [] }
      this.#finish(result)
      return result
    }
    const procs = supervisor.liveProcs()
    this.log.info({ workers: procs.length, drainDelay: o.drainDelay, graceTimeout: o.graceTimeout },
      `stopping: draining ${procs.length} worker${procs.length === 1 ? '' : 's'} (drain delay ${o.drainDelay} ms, grace timeout ${o.graceTimeout} ms)`)
    // Routed by the primary: its own listener keeps handing connections to the draining workers
    // for the drain delay, then closes, as the workers' own listeners do in the other modes.
    this.#routing?.beginStop()
    const exits = await Promise.all(supervisor.beginStop(o.drainDelay, o.graceTimeout))
    // A worker that exited non-zero failed its drain (or crashed in it); deaths by
    // signal are ours (a starting worker, or the grace timeout counted below).
    const failedDrains = procs.filter((_p, i) => { const code = exits[i]?.code; return typeof code === 'number' && code !== 0 })
    if (this.#forcedKills !== null) {
      const result: StopResult = { code: 1, reason: 'killed', killed: this.#forcedKills }
      this.#finish(result)
      return await this.stopped
    }
    const killed = supervisor.killedAtGrace(procs).map((p) => `worker ${p.workerId} (pid ${p.pid})`)
    const ms = Date.now() - started
    const failed = killed.length > 0 || failedDrains.length > 0 || why.reason === 'crash-loop'
    if (killed.length > 0) this.log.error({ killed, ms }, `stopped in ${ms} ms; killed at the grace timeout: ${killed.join(', ')}`)
    else if (failedDrains.length > 0) this.log.error({ ms }, `stopped in ${ms} ms; failed while draining: ${failedDrains.map((p) => `worker ${p.workerId} (pid ${p.pid})`).join(', ')}`)
    else this.log.info({ ms }, `stopped in ${ms} ms; every worker finished its work`)
    const result: StopResult = {
      code: failed ? 1 : 0,
      reason: why.reason,
      killed,
      ...(why.error === undefined
        ? (killed.length > 0 ? { error: new FclError(ERROR_CODES.SHUTDOWN_TIMEOUT, `killed at the grace timeout: ${killed.join(', ')}`) } : {})
        : { error: why.error })
    }
    this.#finish(result)
    return result
  }
}

/**
 * Starts a cluster of `options.entry`. Options are validated before anything
 * happens (a coded `FclOptionsError` is thrown synchronously); everything after
 * that is reported through `ready` and `stopped`. One per process: node:cluster's
 * primary settings are process-wide.
 */
export function launch (options: LaunchOptions): ClusterHandle {
  let resolved = resolveLaunchOptions(options)
  // Debugging: a worker paused at a breakpoint sends no heartbeat. Only the default gives way.
  const watchdogOffForDebugger = options.workerTimeout === undefined && resolved.workerTimeout > 0 &&
    debuggerRequested(process.execArgv, process.env.NODE_OPTIONS)
  if (watchdogOffForDebugger) resolved = Object.freeze({ ...resolved, workerTimeout: 0 })
  if (resolved.tsLoader === 'native' && isTypeScriptEntry(resolved.entry) && !nodeStripsTypes()) {
    throw new FclOptionsError(ERROR_CODES.LAUNCH_OPTIONS, `--ts-loader native needs a Node.js that strips TypeScript types itself (>= 22.18 or >= 23.6); this is ${process.version}`, {
      hint: 'use --ts-loader auto (tsx where needed) or upgrade Node.js'
    })
  }
  if (resolved.balance === 'reuseport') {
    const why = reusePortUnsupported()
    if (why !== null) {
      throw new FclOptionsError(ERROR_CODES.LAUNCH_UNSUPPORTED, why, { hint: 'use --balance rr (the default), which works everywhere' })
    }
  }
  if (!cluster.isPrimary) {
    throw new FclError(ERROR_CODES.LAUNCH_OPTIONS, 'launch() was called inside a cluster worker; call it from the primary process only')
  }
  if (launched) throw new FclError(ERROR_CODES.LAUNCH_OPTIONS, 'launch() can run once per process (node:cluster settings are process-wide)')
  // Here, not at boot: a missing tsx is a usage error, found before anything starts.
  const loader = chooseTsLoader(resolved.entry, resolved.tsLoader)
  const handle = new Cluster(resolved, loader, watchdogOffForDebugger)
  launched = true
  return handle
}
