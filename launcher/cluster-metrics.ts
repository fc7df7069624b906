/**
 * The primary's half of `--metrics`: it collects every worker's prom-client
 * registry over IPC and sums them (prom-client's AggregatorRegistry, each metric
 * by its own `aggregator`), adds its own launcher metrics, and keeps the counters
 * of workers that are gone, so a cluster-wide counter never goes down when a
 * worker is replaced.
 *
 * Monotonic by construction:
 * - Each scrape uses every live worker's newest snapshot. A worker that does not
 *   answer in time counts with its previous snapshot (and a scrape error), never
 *   as zero.
 * - A worker that leaves gracefully sends a final snapshot; a crashed one leaves
 *   its last collected one. Either is folded into `carried` in the same step that
 *   forgets its live snapshot, and a scrape picks its sources in one synchronous
 *   step, so nothing is ever counted twice or not at all. Only what a crashed
 *   worker counted after its last collection is lost.
 * - Only counters and histograms carry over; a gone worker's gauges and summaries
 *   (quantiles cannot be summed) end with it.
 */
import type { Logger } from 'pino'
import * as promClient from 'prom-client'
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client'
import { createMessage, sendToWorker, type MetricsFinalMessage, type MetricsScrapeMessage, type MetricsSnapshotMessage } from '../lib/protocol.js'
import type { ConfigReloadResult } from './config-reload.js'
import type { RollResult } from './roll.js'
import type { HandoverReason, SingletonLeases } from './singletons.js'
import type { ForkCause, Supervisor, WorkerProc } from './supervisor.js'

type MetricJson = MetricObjectWithValues<MetricValue<string>> & { aggregator?: string }

/** A worker that has not answered a collection within this is counted with its previous snapshot. */
export const COLLECT_TIMEOUT_MS = 2000
const CARRIED_TYPES: ReadonlySet<string> = new Set(['counter', 'histogram'])

// prom-client exports its aggregators at run time but not in its types.
const { sum } = (promClient as unknown as { aggregators: { sum: (metrics: MetricJson[]) => MetricJson | undefined } }).aggregators

const RESTART_REASONS: Readonly<Record<Exclude<ForkCause, 'boot'>, string>> = {
  crash: 'crash', unresponsive: 'unresponsive', 'rolling-restart': 'rolling', memory: 'memory', 'scale-up': 'scale'
}

function isMetricJson (value: unknown): value is MetricJson {
  const m = value as Partial<MetricJson> | null
  return typeof m === 'object' && m !== null && typeof m.name === 'string' && typeof m.type === 'string' && Array.isArray(m.values)
}

interface Collection {
  readonly id: number
  readonly waiting: Set<number>
  done: () => void
}

export interface MetricsText { text: string, contentType: string }

export class ClusterMetrics {
  /** The launcher's own metrics (fcl_*), served with the workers'. */
  readonly registry = new Registry()
  readonly #supervisor: Supervisor
  readonly #log: Logger
  #nextId = 0
  /** pid -> newest snapshot (by collection id) of each live worker. */
  readonly #latest = new Map<number, { id: number, metrics: MetricJson[] }>()
  /** pids already folded into `carried` (their final snapshot came in). */
  readonly #folded = new Set<number>()
  readonly #carried = new Map<string, MetricJson>()
  readonly #collections = new Set<Collection>()
  /** pid -> why it was forked, until it is ready (for the time-to-ready histogram). */
  readonly #starting = new Map<number, ForkCause>()
  readonly #restarts: Counter<'reason'>
  readonly #rolls: Counter<'result'>
  readonly #configReloads: Counter<'result'>
  readonly #rollSeconds: Gauge
  readonly #readySeconds: Histogram<'cause'>
  readonly #scrapeErrors: Counter
  readonly #singletons: SingletonLeases | null
  readonly #handovers: Counter<'name' | 'reason'>

  constructor (supervisor: Supervisor, log: Logger, singletons: SingletonLeases | null = null) {
    this.#supervisor = supervisor
    this.#log = log
    this.#singletons = singletons
    const registers = [this.registry]
    this.registry.registerMetric(new Gauge({
      name: 'fcl_workers',
      help: 'Worker processes by state (a slot being replaced shows both processes)',
      labelNames: ['state'] as const,
      registers: [],
      collect () {
        const counts: Record<string, number> = { starting: 0, ready: 0, draining: 0 }
        for (const w of supervisor.workers()) counts[w.state] = (counts[w.state] ?? 0) + 1
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n)
      }
    }))
    this.#restarts = new Counter({ name: 'fcl_worker_restarts_total', help: 'Workers started after boot, by reason', labelNames: ['reason'] as const, registers })
    for (const reason of Object.values(RESTART_REASONS)) this.#restarts.inc({ reason }, 0)
    this.#rolls = new Counter({ name: 'fcl_rolling_restarts_total', help: 'Rolling restarts, by result', labelNames: ['result'] as const, registers })
    this.#configReloads = new Counter({ name: 'fcl_config_reloads_total', help: 'Config reloads, by result', labelNames: ['result'] as const, registers })
    for (const result of ['done', 'failed']) this.#rolls.inc({ result }, 0)
    for (const result of ['ok', 'failed']) this.#configReloads.inc({ result }, 0)
    this.#rollSeconds = new Gauge({ name: 'fcl_rolling_restart_last_duration_seconds', help: 'How long the last rolling restart took', registers })
    this.#readySeconds = new Histogram({
      name: 'fcl_worker_ready_seconds',
      help: 'Time from fork to ready, by why the worker was started',
      labelNames: ['cause'] as const,
      buckets: [0.25, 0.5, 1, 2, 4, 8, 16, 32],
      registers
    })
    this.#scrapeErrors = new Counter({ name: 'fcl_metrics_scrape_errors_total', help: 'Workers that did not answer a metrics collection in time (their previous figures were used)', registers })
    this.registry.registerMetric(new Gauge({
      name: 'fcl_singleton_holders',
      help: 'Workers holding each singleton: 1 while it runs (or is stopping for a hand-over), 0 while it waits for a worker',
      labelNames: ['name'] as const,
      registers: [],
      collect () {
        for (const s of singletons?.status() ?? []) this.set({ name: s.name }, s.state === 'waiting' ? 0 : 1)
      }
    }))
    this.#handovers = new Counter({ name: 'fcl_singleton_handovers_total', help: 'Singletons moved to another worker, by name and by why the previous holder let go', labelNames: ['name', 'reason'] as const, registers })
    singletons?.on('handover', this.#onHandover)

    supervisor.on('metrics', this.#onMessage)
    supervisor.on('forked', this.#onForked)
    supervisor.on('worker-ready', this.#onReady)
    supervisor.on('worker-gone', this.#onGone)
  }

  recordRoll (result: RollResult): void {
    this.#rolls.inc({ result: result.ok ? 'done' : 'failed' })
    this.#rollSeconds.set(result.ms / 1000)
  }

  recordConfigReload (result: ConfigReloadResult): void {
    this.#configReloads.inc({ result: result.ok ? 'ok' : 'failed' })
  }

  /** The cluster-wide exposition text: every worker, the carried-over totals, and the launcher's own. */
  async collect (): Promise<MetricsText> {
    const id = ++this.#nextId
    const procs = this.#supervisor.liveProcs().filter((p) => p.linked && !this.#folded.has(p.pid))
    const waiting = new Set(procs.map((p) => p.pid))
    if (waiting.size > 0) {
      await new Promise<void>((resolve) => {
        const collection: Collection = { id, waiting, done: resolve }
        const timer = setTimeout(() => { collection.done() }, COLLECT_TIMEOUT_MS)
        timer.unref()
        collection.done = () => {
          clearTimeout(timer)
          this.#collections.delete(collection)
          resolve()
        }
        this.#collections.add(collection)
        const message = createMessage({ type: 'fcl:metrics-collect', id })
        for (const p of procs) if (!sendToWorker(p.worker, message)) waiting.delete(p.pid)
        if (waiting.size === 0) collection.done()
      })
    }
    const late = [...waiting].filter((pid) => !this.#folded.has(pid) && this.#supervisor.liveProcs().some((p) => p.pid === pid))
    if (late.length > 0) {
      this.#scrapeErrors.inc(late.length)
      this.#log.warn({ pids: late }, `metrics: ${late.length} worker(s) did not answer within ${COLLECT_TIMEOUT_MS} ms; their previous figures were used`)
    }
    const own = await this.registry.getMetricsAsJSON() as MetricJson[]
    // From here to `aggregate` nothing awaits: the set of sources is one consistent cut.
    const sources: MetricJson[][] = [...this.#latest.values()].map((s) => s.metrics)
    sources.push([...this.#carried.values()], own)
    const aggregated = AggregatorRegistry.aggregate(sources)
    return { text: await aggregated.metrics(), contentType: aggregated.contentType }
  }

  readonly #onMessage = (proc: WorkerProc, message: MetricsScrapeMessage | MetricsSnapshotMessage | MetricsFinalMessage): void => {
    switch (message.type) {
      case 'fcl:metrics-snapshot': {
        if (this.#folded.has(proc.pid)) break
        const previous = this.#latest.get(proc.pid)
        // Replies to concurrent scrapes may cross; a worker's counters only grow, so keep the newest.
        if (previous === undefined || message.id >= previous.id) {
          this.#latest.set(proc.pid, { id: message.id, metrics: message.metrics.filter(isMetricJson) })
        }
        for (const c of this.#collections) {
          if (c.id !== message.id) continue
          c.waiting.delete(proc.pid)
          if (c.waiting.size === 0) c.done()
        }
        break
      }
      case 'fcl:metrics-final':
        this.#fold(proc.pid, message.metrics.filter(isMetricJson))
        break
      case 'fcl:metrics-scrape': {
        const id = message.id
        this.collect().then(
          ({ text, contentType }) => { sendToWorker(proc.worker, createMessage({ type: 'fcl:metrics-result', id, ok: true, text, contentType })) },
          (err: unknown) => {
            this.#log.error({ err }, 'metrics: collection failed')
            sendToWorker(proc.worker, createMessage({ type: 'fcl:metrics-result', id, ok: false, error: String(err) }))
          }
        )
        break
      }
    }
  }

  /** Moves a worker's counters into the carried-over totals and forgets its live snapshot, in one step. */
  #fold (pid: number, metrics: MetricJson[]): void {
    if (this.#folded.has(pid)) return
    this.#folded.add(pid)
    this.#latest.delete(pid)
    for (const metric of metrics) {
      // The types declare an enum; at run time the JSON holds the text form ("counter").
      if (!CARRIED_TYPES.has(String(metric.type))) continue
      const previous = this.#carried.get(metric.name)
      const merged = sum(previous === undefined ? [metric] : [previous, metric])
      if (merged !== undefined) this.#carried.set(metric.name, merged)
    }
    this.#stopWaitingFor(pid)
  }

  #stopWaitingFor (pid: number): void {
    for (const c of this.#collections) {
      if (c.waiting.delete(pid) && c.waiting.size === 0) c.done()
    }
  }

  readonly #onHandover = (handover: { name: string, reason: HandoverReason }): void => {
    this.#handovers.inc({ name: handover.name, reason: handover.reason })
  }

  readonly #onForked = (info: { pid: number, cause: ForkCause }): void => {
    this.#starting.set(info.pid, info.cause)
    if (info.cause !== 'boot') this.#restarts.inc({ reason: RESTART_REASONS[info.cause] })
  }

  readonly #onReady = (info: { pid: number, startedAt: number }): void => {
    const cause = this.#starting.get(info.pid)
    if (cause === undefined) return
    this.#starting.delete(info.pid)
    this.#readySeconds.observe({ cause }, (Date.now() - info.startedAt) / 1000)
  }

  readonly #onGone = (proc: WorkerProc): void => {
    this.#starting.delete(proc.pid)
    // No final snapshot came (a crash, or a kill at the grace timeout): the last collected one is all there is.
    const last = this.#latest.get(proc.pid)
    if (last !== undefined) this.#fold(proc.pid, last.metrics)
    this.#folded.delete(proc.pid)
    this.#stopWaitingFor(proc.pid)
  }

  dispose (): void {
    this.#supervisor.off('metrics', this.#onMessage)
    this.#supervisor.off('forked', this.#onForked)
    this.#supervisor.off('worker-ready', this.#onReady)
    this.#supervisor.off('worker-gone', this.#onGone)
    this.#singletons?.off('handover', this.#onHandover)
    for (const c of this.#collections) c.done()
  }
}
