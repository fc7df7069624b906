import { EventEmitter } from 'node:events'
import net from 'node:net'
import {
  createMessage,
  isPrimaryMessage,
  sendToPrimary,
  sendToPrimaryAndWait,
  type ConfigObject,
  type ConnectionMessage,
  type DrainMessage,
  type InstanceView,
  type PrimaryMessage,
  type WorkerMessage
} from './protocol.js'
import { ENV, LAST_TICK_KEY } from './worker-env.js'

export { ENV }

/**
 * The worker's end of the IPC channel. It must exist before the user's entry is
 * imported (messages that arrive with no `message` listener are lost), and the
 * launcher's bootstrap and the plugin may be loaded from two different copies of
 * this package (a symlinked checkout, a source and a built path), so the single
 * instance lives on `globalThis` under a registered symbol.
 */
const LINK_KEY = Symbol.for('fastify-cluster-launch.worker-link')

export type DrainRequest = Pick<DrainMessage, 'drainDelay' | 'reason'>
export type ConfigUpdate = { version: number, config: ConfigObject }
export type ConfigApplier = (update: ConfigUpdate) => Promise<{ ok: boolean, error?: string }>
export type DrainHandler = (request: DrainRequest) => Promise<void>
/** The worker's own metrics, as prom-client's `getMetricsAsJSON()` gives them. */
export type MetricsSource = () => Promise<unknown[]>
export interface ClusterMetricsText { text: string, contentType: string }
/** Takes a connection the primary handed over; false when this worker cannot serve it. */
export type ConnectionHandler = (message: ConnectionMessage, socket: net.Socket) => boolean
/** Runs singleton `name` under grant `lease` (lib/singletons.ts). */
export type SingletonGrantHandler = (name: string, lease: number) => void
/** The worker's own figures for `fcl:stats` (the link adds the request count). */
export type StatsSource = () => { rss: number, heapUsed: number, elu: number }

/** How long a worker's last metrics snapshot may take to leave before the worker exits anyway. */
const FINAL_SNAPSHOT_TIMEOUT_MS = 2000

interface LinkEvents {
  instance: [InstanceView]
}

export class WorkerLink extends EventEmitter<LinkEvents> {
  /** True in a worker forked by the launcher (env marker plus an IPC channel). */
  readonly active: boolean
  readonly workerId: number | null
  /** The launcher runs with `--metrics`: the plugin must serve and feed them. */
  readonly metrics: boolean
  config: ConfigObject
  configVersion: number
  instance: InstanceView | null = null
  /**
   * Requests received, counted by the plugin on Node's server and reported in
   * `fcl:stats`; null until the plugin is attached, so an entry without it shows
   * "unknown" rather than a misleading 0.
   */
  requests: number | null = null
  #configApplier: ConfigApplier | null = null
  #drainHandler: DrainHandler | null = null
  #drainStarted = false
  #pendingDrain: DrainRequest | null = null
  #configChain: Promise<void> = Promise.resolve()
  #metricsSource: MetricsSource | null = null
  #scrapeId = 0
  #connectionHandler: ConnectionHandler | null = null
  #singletonHandler: SingletonGrantHandler | null = null
  #heartbeatMs: number | null = null
  #stats: StatsSource | null = null
  readonly #scrapes = new Map<number, { resolve: (r: ClusterMetricsText) => void, reject: (e: Error) => void, timer: NodeJS.Timeout }>()

  constructor (env: NodeJS.ProcessEnv = process.env) {
    super()
    const rawId = env[ENV.WORKER_ID]
    const id = rawId === undefined ? Number.NaN : Number(rawId)
    this.active = Number.isInteger(id) && id >= 0 && typeof process.send === 'function'
    this.workerId = this.active ? id : null
    this.metrics = this.active && env[ENV.METRICS] === '1'
    this.config = this.active ? parseConfigEnv(env[ENV.CONFIG]) : {}
    this.configVersion = this.active ? Number(env[ENV.CONFIG_VERSION] ?? 0) || 0 : 0
    if (this.active) {
      process.on('message', (message: unknown, handle: unknown) => { this.#onMessage(message, handle) })
      this.send(createMessage({ type: 'fcl:hello', configVersion: this.configVersion }))
      const every = Number(env[ENV.HEARTBEAT_MS])
      this.#heartbeatMs = Number.isInteger(every) && every > 0 ? every : null
    }
  }

  /**
   * One timer for the stats report and the watchdog's heartbeat, so an idle worker sends as
   * few messages as it can: a stats report is a heartbeat too, and a plain heartbeat goes out
   * only on the ticks in between (none at the default timeout, whose heartbeat interval is
   * the stats interval). A timer, so a stuck loop stops it; unref'd, so it never keeps a
   * drained worker alive. Each tick stamps its time on a global, where the primary reads it
   * when it takes a stuck worker's stack (LAST_TICK_KEY).
   */
  startReports (stats: StatsSource, statsEveryMs: number): void {
    this.#stats = stats
    const every = this.#heartbeatMs === null ? statsEveryMs : Math.min(this.#heartbeatMs, statsEveryMs)
    const beat = createMessage({ type: 'fcl:heartbeat' })
    let nextStatsAt = Date.now() + statsEveryMs
    const stamp = globalThis as unknown as Record<symbol, number>
    const key = Symbol.for(LAST_TICK_KEY)
    setInterval(() => {
      const now = Date.now()
      stamp[key] = now
      // Half a tick early counts: timers drift, and a report a few ms early is as good.
      if (now >= nextStatsAt - every / 2) {
        nextStatsAt = now + statsEveryMs
        this.reportStats()
      } else {
        this.send(beat)
      }
    }, every).unref()
  }

  /** Sends a stats report now (also at start, once the entry is loaded). */
  reportStats (): void {
    if (this.#stats === null) return
    this.send(createMessage({ type: 'fcl:stats', ...this.#stats(), requests: this.requests }))
  }

  send (message: WorkerMessage): boolean {
    return this.active && sendToPrimary(message)
  }

  countRequest (): void {
    this.requests = (this.requests ?? 0) + 1
  }

  /** The plugin takes over config updates; without it they are stored and acknowledged as they come. */
  setConfigApplier (applier: ConfigApplier | null): void {
    this.#configApplier = applier
  }

  /** The plugin takes over drains; a drain that arrived before it did is replayed now. */
  setDrainHandler (handler: DrainHandler | null): void {
    this.#drainHandler = handler
    if (handler !== null && this.#pendingDrain !== null) {
      const pending = this.#pendingDrain
      this.#pendingDrain = null
      this.requestDrain(pending)
    }
  }

  get hasDrainHandler (): boolean {
    return this.#drainHandler !== null
  }

  /** The plugin's metrics: answered to the primary's collections, and sent once more on a graceful exit. */
  setMetricsSource (source: MetricsSource | null): void {
    this.#metricsSource = source
  }

  /** Asks the primary for the cluster-wide exposition text (a scrape that reached this worker). */
  requestClusterMetrics (timeoutMs: number): Promise<ClusterMetricsText> {
    const id = ++this.#scrapeId
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#scrapes.delete(id)
        reject(new Error(`the primary did not answer the metrics request within ${timeoutMs} ms`))
      }, timeoutMs)
      timer.unref()
      this.#scrapes.set(id, { resolve, reject, timer })
      if (!this.send(createMessage({ type: 'fcl:metrics-scrape', id }))) {
        clearTimeout(timer)
        this.#scrapes.delete(id)
        reject(new Error('no IPC channel to the primary'))
      }
    })
  }

  async #snapshot (): Promise<unknown[]> {
    if (this.#metricsSource === null) return []
    try {
      return await this.#metricsSource()
    } catch {
      return []
    }
  }

  /**
   * The counters this worker counted must outlive it: its last snapshot goes to the
   * primary, which adds it to the cluster's carried-over totals. Bounded, so a stuck
   * channel cannot keep a drained worker alive.
   */
  async #sendFinalSnapshot (): Promise<void> {
    if (this.#metricsSource === null) return
    const metrics = await this.#snapshot()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      sendToPrimaryAndWait(createMessage({ type: 'fcl:metrics-final', metrics })),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, FINAL_SNAPSHOT_TIMEOUT_MS); timer.unref() })
    ])
    clearTimeout(timer)
  }

  /**
   * Drains once, then exits the worker: under the launcher the process belongs to
   * the primary, which waits for this exit (and kills at its grace timeout).
   */
  requestDrain (request: DrainRequest): void {
    if (this.#drainStarted) return
    const handler = this.#drainHandler
    if (handler === null) {
      // Not serving through the plugin yet (still booting, or an entry without it):
      // nothing to drain, so leave now rather than linger half-started.
      if (this.#pendingDrain === null) this.#pendingDrain = request
      setImmediate(exitIfNoHandler, this)
      return
    }
    this.#drainStarted = true
    handler(request).then(() => this.#sendFinalSnapshot()).then(
      () => { process.exit(0) },
      (err: unknown) => {
        process.stderr.write(`worker ${String(this.workerId)} failed to drain: ${String(err)}\n`)
        process.exit(1)
      }
    )
  }

  #onMessage (message: unknown, handle: unknown): void {
    if (!isPrimaryMessage(message)) return
    if (message.type === 'fcl:connection') {
      this.#takeConnection(message, handle)
      return
    }
    this.#handle(message)
  }

  /**
   * `--balance sticky` (launcher/worker-routed.ts) take the connections the primary hands
   * over; until it does (the server does not listen yet), they are refused and go elsewhere.
   */
  setConnectionHandler (handler: ConnectionHandler | null): void {
    this.#connectionHandler = handler
  }

  /** The plugin's singletons take their grants; without it, a grant is given straight back. */
  setSingletonHandler (handler: SingletonGrantHandler | null): void {
    this.#singletonHandler = handler
  }

  #takeConnection (message: ConnectionMessage, handle: unknown): void {
    const socket = handle instanceof net.Socket ? handle : null
    const accepted = socket !== null && this.#connectionHandler !== null && this.#connectionHandler(message, socket)
    // A refused socket is the primary's still: closing this copy of its descriptor leaves the
    // connection open there, for the next worker.
    if (!accepted) socket?.destroy()
    this.send(createMessage({ type: 'fcl:connection-ack', id: message.id, accepted }))
  }

  #handle (message: PrimaryMessage): void {
    switch (message.type) {
      case 'fcl:instance':
        this.instance = message.instance
        this.emit('instance', message.instance)
        break
      case 'fcl:config': {
        // One reload at a time, in order: a slow handler for an older version must
        // not finish after a newer one and put the old config back.
        const update = { version: message.version, config: message.config }
        this.#configChain = this.#configChain.then(() => this.#applyConfig(update), () => this.#applyConfig(update))
        break
      }
      case 'fcl:drain':
        this.requestDrain({ drainDelay: message.drainDelay, reason: message.reason })
        break
      case 'fcl:metrics-collect': {
        const id = message.id
        void this.#snapshot().then((metrics) => { this.send(createMessage({ type: 'fcl:metrics-snapshot', id, metrics })) })
        break
      }
      case 'fcl:singleton-grant':
        if (this.#singletonHandler !== null) this.#singletonHandler(message.name, message.lease)
        else this.send(createMessage({ type: 'fcl:singleton-release', name: message.name, lease: message.lease }))
        break
      case 'fcl:metrics-result': {
        const pending = this.#scrapes.get(message.id)
        if (pending === undefined) break
        this.#scrapes.delete(message.id)
        clearTimeout(pending.timer)
        if (message.ok && message.text !== undefined) pending.resolve({ text: message.text, contentType: message.contentType ?? 'text/plain; version=0.0.4; charset=utf-8' })
        else pending.reject(new Error(message.error ?? 'the primary could not collect the metrics'))
        break
      }
    }
  }

  async #applyConfig (update: ConfigUpdate): Promise<void> {
    let result: { ok: boolean, error?: string }
    if (update.version <= this.configVersion) {
      result = { ok: true }
    } else if (this.#configApplier === null) {
      this.config = update.config
      this.configVersion = update.version
      result = { ok: true }
    } else {
      result = await this.#configApplier(update)
    }
    this.send(createMessage({ type: 'fcl:config-ack', version: update.version, ...result }))
  }
}

function exitIfNoHandler (link: WorkerLink): void {
  if (!link.hasDrainHandler) process.exit(0)
}

function parseConfigEnv (raw: string | undefined): ConfigObject {
  if (raw === undefined || raw === '') return {}
  try {
    const value: unknown = JSON.parse(raw)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as ConfigObject : {}
  } catch {
    return {}
  }
}

export function getWorkerLink (): WorkerLink {
  const holder = globalThis as { [LINK_KEY]?: WorkerLink }
  holder[LINK_KEY] ??= new WorkerLink()
  return holder[LINK_KEY]
}
