import cluster, { type Worker } from 'node:cluster'
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { ERROR_CODES, FclError } from '../lib/errors.js'
import {
  createMessage,
  isWorkerMessage,
  sendToWorker,
  type ConfigObject,
  type ConnectionAckMessage,
  type DrainReason,
  type InstanceState,
  type InstanceView,
  type MetricsFinalMessage,
  type MetricsScrapeMessage,
  type MetricsSnapshotMessage,
  type SingletonJoinMessage,
  type SingletonReleaseMessage,
  type WorkerMessage
} from '../lib/protocol.js'
import { ENV } from '../lib/worker-env.js'
import { nextCrashStreak, restartDelayFor, shouldGiveUp, type BackoffPolicy } from './backoff.js'
import { compileCacheEnv } from './compile-cache.js'
import type { ResolvedLaunchOptions } from './options.js'
import type { takeStack } from './stack-report.js'
import { debuggerRequested, heartbeatIntervalFor } from './watchdog-timing.js'
import {
  createWorkerProc,
  describeExit,
  startError,
  toWorkerInfo,
  type BackoffInfo,
  type ExitInfo,
  type ForkCause,
  type ProcSettlers,
  type StuckReport,
  type WorkerInfo,
  type WorkerProc
} from './worker-proc.js'

export type { BackoffInfo, ExitInfo, ForkCause, ProcState, StuckReport, WorkerInfo, WorkerProc } from './worker-proc.js'

/**
 * The primary's table: one slot per stable `workerId`, each holding the process
 * that serves it (`current`) and, while one is being started, the next one
 * (`pending`). Events (exit, ready, message) become actions (fork, drain, kill,
 * restart, log). Rolling restart, shutdown, scaling and memory recycling all go
 * through `replace`/`retire`, so they agree on what a replacement is.
 */

interface Slot {
  readonly workerId: number
  current: WorkerProc | null
  pending: WorkerProc | null
  crashStreak: number
  restarts: number
  restartTimer: NodeJS.Timeout | null
  /** When the pending restart forks (epoch ms); null when none is scheduled. */
  restartAt: number | null
  /** Why the next restart happens: a crash, or a kill by the watchdog. */
  restartCause: ForkCause
  /** Where its last process was stuck, for the crash-loop guard's message. */
  lastStuck: string | null
  /** A replacement (roll, memory) is under way: crash restarts stand aside. */
  replacing: boolean
}

export interface SupervisorEvents {
  'worker-ready': [WorkerInfo]
  'worker-exit': [WorkerInfo & ExitInfo]
  /** The crash-loop guard gave up; the launch must stop. */
  'give-up': [FclError]
  /** A worker process was forked; `cause` says why (`boot` for the first set). */
  forked: [{ workerId: number, pid: number, cause: ForkCause }]
  /** After `worker-exit`, once the worker's IPC channel has closed too: no message from it can follow. */
  'worker-gone': [WorkerProc]
  /** A metrics message from a worker (see launcher/cluster-metrics.ts). */
  metrics: [WorkerProc, MetricsScrapeMessage | MetricsSnapshotMessage | MetricsFinalMessage]
  /** A worker reported its RSS/heap/event-loop use. */
  stats: [WorkerProc]
  /** The watchdog found a worker stuck; it is killed right after. */
  'worker-unresponsive': [StuckReport]
  /** A worker took (or refused) a connection the sticky listener handed over. */
  'connection-ack': [WorkerProc, ConnectionAckMessage]
  /** A worker can run a singleton, or released one (see launcher/singletons.ts). */
  singleton: [WorkerProc, SingletonJoinMessage | SingletonReleaseMessage]
  /** A ready worker was asked to drain (stop, roll, scale-down, memory). */
  'worker-draining': [WorkerProc, DrainReason]
}

/** A stuck worker's stack is taken (stack-capture.ts) only when the watchdog runs and stacks are wanted. */
function stacksWanted (options: ResolvedLaunchOptions): boolean {
  return options.workerTimeout > 0 && options.workerStacks
}

/**
 * How a worker's inspector opens when the primary signals it for a stack: on any free port
 * of 127.0.0.1 (node:cluster passes `--inspect-port=0` for `inspectPort: 0`), without a
 * "Debugger listening" line in the log. Left to node:cluster's own scheme when Node already
 * runs a debugger.
 */
function inspectorSetup (options: ResolvedLaunchOptions): { execArgv: string[], inspectPort?: number } {
  if (!stacksWanted(options) || debuggerRequested(process.execArgv, process.env.NODE_OPTIONS)) return { execArgv: [] }
  return { execArgv: ['--inspect-publish-uid=http'], inspectPort: 0 }
}

function cancelRestart (slot: Slot): void {
  if (slot.restartTimer !== null) clearTimeout(slot.restartTimer)
  slot.restartTimer = null
  slot.restartAt = null
}

export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly #options: ResolvedLaunchOptions
  readonly #log: Logger
  readonly #policy: BackoffPolicy
  readonly #slots = new Map<number, Slot>()
  readonly #procs = new Map<number, WorkerProc>()
  readonly #byWorker = new Map<Worker, WorkerProc>()
  readonly #configAcks = new Map<WorkerProc, (ack: { ok: boolean, error?: string }) => void>()
  #instanceState: InstanceState = 'starting'
  #config: ConfigObject
  #stackReport: Promise<typeof import('./stack-report.js')> | null = null
  #configVersion = 1
  #stopping = false
  /** The port workers listen on: `--port`, or the one the sticky listener got for port 0. */
  listenPort: number

  constructor (options: ResolvedLaunchOptions, log: Logger, config: ConfigObject, execArgv: string[]) {
    super()
    this.#options = options
    this.#log = log
    this.#config = config
    this.listenPort = options.port
    this.#policy = {
      restartDelay: options.restartDelay,
      restartDelayMax: options.restartDelayMax,
      minUptime: options.minUptime,
      maxRestarts: options.maxRestarts
    }
    const inspector = inspectorSetup(options)
    cluster.setupPrimary({
      exec: new URL('./worker-main.js', import.meta.url).pathname,
      execArgv: [...process.execArgv, ...execArgv, ...inspector.execArgv],
      args: [],
      silent: false,
      ...(inspector.inspectPort === undefined ? {} : { inspectPort: inspector.inspectPort })
    })
    cluster.on('message', this.#onMessage)
    cluster.on('listening', this.#onListening)
    cluster.on('exit', this.#onExit)
  }

  get stopping (): boolean { return this.#stopping }
  get size (): number { return this.#slots.size }
  get config (): ConfigObject { return this.#config }
  get configVersion (): number { return this.#configVersion }

  /** Every live process, oldest slot first; a slot mid-replacement shows both. */
  workers (): WorkerInfo[] {
    return [...this.#procs.values()]
      .filter((p) => p.state !== 'exited')
      .sort((a, b) => a.workerId - b.workerId || a.startedAt - b.startedAt)
      .map((p) => this.#info(p))
  }

  liveProcs (): WorkerProc[] {
    return [...this.#procs.values()].filter((p) => p.state !== 'exited')
  }

  slotIds (): number[] {
    return [...this.#slots.keys()].sort((a, b) => a - b)
  }

  #info (p: WorkerProc): WorkerInfo {
    return toWorkerInfo(p, this.#slots.get(p.workerId)?.restarts ?? 0)
  }

  instanceView (): InstanceView {
    let ready = 0
    for (const slot of this.#slots.values()) {
      if (slot.current?.state === 'ready' || slot.pending?.state === 'ready') ready++
    }
    return { ready, total: this.#slots.size, state: this.#instanceState }
  }

  setInstanceState (state: InstanceState): void {
    this.#instanceState = state
    this.broadcastInstance()
  }

  /** Every worker learns of each change, so any one of them answers `/ready` for the instance. */
  broadcastInstance (): void {
    const message = createMessage({ type: 'fcl:instance', instance: this.instanceView() })
    for (const p of this.#procs.values()) {
      if (p.linked && p.state !== 'exited') sendToWorker(p.worker, message)
    }
  }

  // ---- forking ---------------------------------------------------------------

  #fork (workerId: number, cause: ForkCause): WorkerProc {
    const o = this.#options
    const env: Record<string, string> = {
      ...compileCacheEnv(),
      ...o.env,
      [ENV.WORKER_ID]: String(workerId),
      NODE_APP_INSTANCE: String(workerId),
      [ENV.ENTRY]: o.entry,
      [ENV.CONFIG]: JSON.stringify(this.#config),
      [ENV.CONFIG_VERSION]: String(this.#configVersion),
      [ENV.PRETTY_LOGS]: o.prettyLogs ? '1' : '0',
      [ENV.LOG_LEVEL]: o.logLevel,
      [ENV.BALANCE]: o.balance,
      [ENV.METRICS]: o.metrics ? '1' : '0',
      ...(o.workerTimeout > 0 ? { [ENV.HEARTBEAT_MS]: String(heartbeatIntervalFor(o.workerTimeout)) } : {}),
      PORT: String(this.listenPort),
      HOST: o.host
    }
    const worker = cluster.fork(env)
    worker.on('error', (err) => {
      this.#log.warn({ workerId, err }, `worker ${workerId}: IPC error (${err.message})`)
    })
    const { proc, settlers } = createWorkerProc(worker, workerId, this.#configVersion)
    const readyTimer = setTimeout(() => {
      if (proc.state !== 'starting') return
      // A start that hangs is named like a stuck ready worker: where its event loop was. A start
      // whose loop still turns is waiting on something else, and a stack would only mislead.
      const taking = stacksWanted(o) ? this.#takeStack(proc) : Promise.resolve(null)
      void taking.then((stack) => {
        if (proc.state !== 'starting') return
        const where = stack === null ? '' : `; ${stack.summary}`
        proc.fatal ??= { message: `did not become ready within ${o.readyTimeout} ms (--ready-timeout)${where}`, code: ERROR_CODES.WORKER_READY_TIMEOUT }
        const stuck = stack !== null && stack.loop !== 'idle'
        this.#log.error({ workerId, workerPid: proc.pid, ...(stuck ? { stack: stack.stack } : {}) },
          `worker ${workerId} (pid ${proc.pid}) did not become ready within ${o.readyTimeout} ms${where}; killing it`)
        if (stuck) this.#noteStuck(workerId, stack.summary)
        this.#kill(proc)
      })
    }, o.readyTimeout)
    readyTimer.unref()
    this.#hooks.set(proc, { ...settlers, readyTimer })
    this.#procs.set(proc.pid, proc)
    this.#byWorker.set(worker, proc)
    this.#log.info({ workerId, workerPid: proc.pid }, `worker ${workerId} forked (pid ${proc.pid})`)
    this.emit('forked', { workerId, pid: proc.pid, cause })
    return proc
  }

  readonly #hooks = new Map<WorkerProc, ProcSettlers & { readyTimer: NodeJS.Timeout }>()

  #markReady (proc: WorkerProc): void {
    if (proc.state !== 'starting') return
    proc.state = 'ready'
    proc.everReady = true
    const hooks = this.#hooks.get(proc)
    if (hooks !== undefined) {
      clearTimeout(hooks.readyTimer)
      hooks.resolveReady()
    }
    const ms = Date.now() - proc.startedAt
    this.#log.info({ workerId: proc.workerId, workerPid: proc.pid, ms }, `worker ${proc.workerId} (pid ${proc.pid}) ready in ${ms} ms`)
    this.emit('worker-ready', this.#info(proc))
  }

  #kill (proc: WorkerProc, signal: NodeJS.Signals = 'SIGKILL'): void {
    if (proc.state === 'exited') return
    try {
      proc.worker.process.kill(signal)
    } catch {
      // Already gone: its exit event follows.
    }
  }

  // ---- events ----------------------------------------------------------------

  readonly #onMessage = (worker: Worker, message: unknown): void => {
    const proc = this.#byWorker.get(worker)
    if (proc === undefined) return
    // Any message, ours or the app's, left from the worker's event loop: it turns.
    proc.lastSeenAt = Date.now()
    if (isWorkerMessage(message)) this.#handle(proc, message)
  }

  #handle (proc: WorkerProc, message: WorkerMessage): void {
    switch (message.type) {
      case 'fcl:hello':
        proc.linked = true
        proc.configVersion = message.configVersion
        if (message.configVersion < this.#configVersion) {
          sendToWorker(proc.worker, createMessage({ type: 'fcl:config', version: this.#configVersion, config: this.#config }))
        }
        sendToWorker(proc.worker, createMessage({ type: 'fcl:instance', instance: this.instanceView() }))
        if (this.#stopping && proc.state === 'starting') this.#kill(proc)
        break
      case 'fcl:attached':
        proc.attached = true
        break
      case 'fcl:listening':
        this.#listened(proc)
        break
      case 'fcl:metrics-scrape':
      case 'fcl:metrics-snapshot':
      case 'fcl:metrics-final':
        this.emit('metrics', proc, message)
        break
      case 'fcl:ready':
        this.#markReady(proc)
        this.broadcastInstance()
        break
      case 'fcl:fatal':
        proc.fatal = message.code === undefined ? { message: message.message } : { message: message.message, code: message.code }
        break
      case 'fcl:config-ack': {
        if (message.ok) proc.configVersion = message.version
        const resolve = this.#configAcks.get(proc)
        if (resolve !== undefined) {
          this.#configAcks.delete(proc)
          resolve(message.error === undefined ? { ok: message.ok } : { ok: message.ok, error: message.error })
        }
        break
      }
      case 'fcl:heartbeat':
        break
      case 'fcl:connection-ack':
        this.emit('connection-ack', proc, message)
        break
      case 'fcl:singleton-join':
      case 'fcl:singleton-release':
        this.emit('singleton', proc, message)
        break
      case 'fcl:stats':
        proc.rss = message.rss
        proc.heapUsed = message.heapUsed
        proc.elu = message.elu
        proc.requests = message.requests
        this.emit('stats', proc)
        break
    }
  }

  readonly #onListening = (worker: Worker): void => {
    const proc = this.#byWorker.get(worker)
    if (proc !== undefined) this.#listened(proc)
  }

  #listened (proc: WorkerProc): void {
    // Plugin users report ready themselves (after their own listen, with every
    // route loaded); for an entry without the plugin, listening is the best signal.
    // `fcl:attached` is sent before listen on the same channel, so it is already in.
    if (proc.attached || proc.state !== 'starting') return
    this.#markReady(proc)
    this.broadcastInstance()
  }

  readonly #onExit = (worker: Worker, code: number | null, signal: string | null): void => {
    const proc = this.#byWorker.get(worker)
    if (proc === undefined || proc.state === 'exited') return
    const wasState = proc.state
    proc.state = 'exited'
    // What the worker wrote just before it died (its last metrics snapshot) may still
    // be in the pipe when the exit is seen: keep routing its messages until the channel closes.
    const gone = (): void => {
      this.#byWorker.delete(worker)
      this.emit('worker-gone', proc)
    }
    if (worker.isConnected()) worker.once('disconnect', gone)
    else gone()
    this.#procs.delete(proc.pid)
    const info: ExitInfo = { code, signal }
    const hooks = this.#hooks.get(proc)
    this.#hooks.delete(proc)
    const ackWaiter = this.#configAcks.get(proc)
    if (ackWaiter !== undefined) {
      this.#configAcks.delete(proc)
      ackWaiter({ ok: false, error: `worker ${describeExit(info)}` })
    }
    if (hooks !== undefined) clearTimeout(hooks.readyTimer)

    const slot = this.#slots.get(proc.workerId)
    if (slot !== undefined && slot.current === proc) slot.current = null
    if (slot !== undefined && slot.pending === proc) slot.pending = null

    const uptime = Date.now() - proc.startedAt
    const who = `worker ${proc.workerId} (pid ${proc.pid})`
    if (proc.retiring) {
      this.#log.info({ workerId: proc.workerId, workerPid: proc.pid, code, signal }, `${who} ${describeExit(info)} after draining`)
    } else if (this.#stopping) {
      this.#log.info({ workerId: proc.workerId, workerPid: proc.pid, code, signal }, `${who} ${describeExit(info)} while stopping`)
    } else if (wasState === 'starting') {
      // Whoever started it (boot, restart, roll, scale) waits on `ready` and decides.
      this.#log.error({ workerId: proc.workerId, workerPid: proc.pid, code, signal, reason: proc.fatal?.message }, `${who} ${describeExit(info)} before becoming ready${proc.fatal === null ? '' : `: ${proc.fatal.message}`}`)
    } else if (slot !== undefined && !slot.replacing) {
      // A plain crash: an older hang must not be named when the crash-loop guard gives up.
      if (wasState !== 'unresponsive') slot.lastStuck = null
      this.#scheduleRestart(slot, uptime, info, who)
    } else {
      this.#log.warn({ workerId: proc.workerId, workerPid: proc.pid, code, signal }, `${who} ${describeExit(info)}; its replacement is already starting`)
    }
    this.broadcastInstance()
    // Waiters run after the exit is logged, so the log reads in order.
    this.emit('worker-exit', { ...this.#info(proc), ...info })
    if (hooks !== undefined) {
      if (!proc.everReady) hooks.rejectReady(startError(proc, info, this.#options))
      hooks.resolveExit(info)
    }
  }

  // ---- crash restarts ------------------------------------------------------------

  #scheduleRestart (slot: Slot, uptime: number, info: ExitInfo, who: string): void {
    slot.crashStreak = nextCrashStreak(slot.crashStreak, uptime, this.#policy)
    if (shouldGiveUp(slot.crashStreak, this.#policy)) {
      const stuck = slot.lastStuck === null ? '' : `; it was last ${slot.lastStuck}`
      const err = new FclError(ERROR_CODES.CRASH_LOOP,
        `${who} ${describeExit(info)}; worker ${slot.workerId} crashed ${slot.crashStreak} times in a row without staying up ${this.#policy.minUptime} ms (--min-uptime): giving up${stuck}`,
        { hint: slot.lastStuck === null ? 'fix the crash (see the worker log above) or raise --max-restarts' : 'fix the code that blocks the event loop (the stack is in the log above), or raise --worker-timeout' })
      this.#log.fatal({ workerId: slot.workerId, crashStreak: slot.crashStreak }, err.message)
      this.emit('give-up', err)
      return
    }
    const delay = restartDelayFor(slot.crashStreak, this.#policy)
    this.#log.warn({ workerId: slot.workerId, code: info.code, signal: info.signal, delay, crashStreak: slot.crashStreak },
      `${who} ${describeExit(info)}; ${delay === 0 ? 'restarting now' : `restarting in ${delay} ms`}`)
    // Not unref'd: during the delay this timer may be all that keeps the primary alive.
    slot.restartAt = Date.now() + delay
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null
      slot.restartAt = null
      void this.#restart(slot)
    }, delay)
  }

  async #restart (slot: Slot): Promise<void> {
    if (this.#stopping || this.#slots.get(slot.workerId) !== slot || slot.current !== null || slot.pending !== null) return
    const proc = this.#fork(slot.workerId, slot.restartCause)
    // Counted when the attempt is made, so a worker that keeps failing to come back shows it.
    slot.restarts++
    slot.pending = proc
    try {
      await proc.ready
    } catch (err) {
      if (slot.pending === proc) slot.pending = null
      if (this.#stopping || this.#slots.get(slot.workerId) !== slot) return
      this.#scheduleRestart(slot, 0, { code: null, signal: null }, `worker ${slot.workerId} (pid ${proc.pid}) failed to restart (${(err as Error).message})`)
      return
    }
    if (slot.pending === proc) slot.pending = null
    slot.current = proc
    slot.restartCause = 'crash'
    this.broadcastInstance()
  }

  // ---- the few actions everything else is built from ------------------------------

  /** Boot: fork every slot at once and wait for all; the first failure is thrown. */
  async start (count: number): Promise<void> {
    const procs: WorkerProc[] = []
    for (let id = 0; id < count; id++) {
      const slot = this.#newSlot(id)
      const proc = this.#fork(id, 'boot')
      slot.current = proc
      procs.push(proc)
    }
    await Promise.all(procs.map((p) => p.ready))
    // Loaded at the end of the start, not at first use (see after-ready.ts); a start that hangs
    // loads it then.
    if (stacksWanted(this.#options)) this.#stackReport ??= import('./stack-report.js')
    this.setInstanceState('running')
  }

  #takeStack (proc: WorkerProc): ReturnType<typeof takeStack> {
    this.#stackReport ??= import('./stack-report.js')
    return this.#stackReport.then(({ takeStack }) => takeStack(proc, heartbeatIntervalFor(this.#options.workerTimeout)))
  }

  #newSlot (workerId: number): Slot {
    const slot: Slot = { workerId, current: null, pending: null, crashStreak: 0, restarts: 0, restartTimer: null, restartAt: null, restartCause: 'crash', lastStuck: null, replacing: false }
    this.#slots.set(workerId, slot)
    return slot
  }

  /**
   * Starts a replacement for slot `workerId`, waits until it is ready, then drains
   * the old process (which stops receiving connections before it closes). If the
   * replacement fails, it is killed and the old one keeps serving; the error is thrown.
   * Resolves as soon as the replacement serves, with the old process's exit to await.
   */
  async replace (workerId: number, reason: DrainReason): Promise<{ oldExit: Promise<ExitInfo> | null }> {
    const slot = this.#slots.get(workerId)
    if (slot === undefined) throw new Error(`no worker ${workerId}`)
    if (this.#stopping) throw new FclError(ERROR_CODES.STOPPING, 'the launcher is stopping')
    if (slot.pending !== null) {
      await slot.pending.ready
      return { oldExit: null }
    }
    slot.replacing = true
    try {
      const proc = this.#fork(workerId, reason === 'memory' ? 'memory' : 'rolling-restart')
      slot.pending = proc
      try {
        await proc.ready
      } catch (err) {
        this.#kill(proc)
        if (slot.pending === proc) slot.pending = null
        this.#refillIfEmpty(slot)
        throw err
      } finally {
        if (slot.pending === proc) slot.pending = null
      }
      const old = slot.current
      slot.current = proc
      let oldExit: Promise<ExitInfo> | null = null
      if (old !== null && old.state !== 'exited') oldExit = this.retire(old, reason, 0)
      cancelRestart(slot)
      this.broadcastInstance()
      // Wrapped: returning the bare promise from an async function would wait for the drain.
      return { oldExit }
    } finally {
      slot.replacing = false
    }
  }

  /**
   * Asks a process to leave: a plugin user drains (stops accepting, finishes
   * in-flight work, exits); an entry without the plugin gets node:cluster's
   * `disconnect()`. Killed at the grace timeout either way.
   */
  retire (proc: WorkerProc, reason: DrainReason, drainDelay: number, graceTimeout = this.#options.graceTimeout): Promise<ExitInfo> {
    if (proc.state === 'exited' || proc.retiring) return proc.exited
    proc.retiring = true
    const wasReady = proc.state === 'ready'
    proc.state = 'draining'
    const who = `worker ${proc.workerId} (pid ${proc.pid})`
    if (!wasReady) {
      // Still starting: it serves nothing, so there is nothing to drain. SIGKILL,
      // because workers ignore SIGTERM (see worker-main.ts) and IPC may not be up yet.
      this.#kill(proc)
    } else if (proc.attached && proc.linked) {
      sendToWorker(proc.worker, createMessage({ type: 'fcl:drain', drainDelay, reason }))
    } else {
      const disconnect = (): void => { if (proc.state !== 'exited' && proc.worker.isConnected()) proc.worker.disconnect() }
      if (drainDelay > 0) setTimeout(disconnect, drainDelay).unref()
      else disconnect()
    }
    this.#log.info({ workerId: proc.workerId, workerPid: proc.pid, reason }, `${who} draining (${reason})`)
    if (wasReady) this.emit('worker-draining', proc, reason)
    const grace = setTimeout(() => {
      if (proc.state === 'exited') return
      proc.killed = true
      this.#log.error({ workerId: proc.workerId, workerPid: proc.pid, graceTimeout }, `${who} still running ${graceTimeout} ms after it was asked to stop; killing it (SIGKILL)`)
      this.#kill(proc)
    }, graceTimeout)
    grace.unref()
    void proc.exited.then(() => { clearTimeout(grace) })
    this.broadcastInstance()
    return proc.exited
  }

  /**
   * The old process of a slot may have crashed while its replacement was starting
   * (crash restarts stand aside then); if the replacement failed too, the slot is
   * empty and nothing else would ever refill it.
   */
  #refillIfEmpty (slot: Slot): void {
    if (this.#stopping || this.#slots.get(slot.workerId) !== slot) return
    if (slot.current !== null || slot.pending !== null || slot.restartTimer !== null) return
    this.#scheduleRestart(slot, 0, { code: null, signal: null }, `worker ${slot.workerId} (no process left after a failed replacement)`)
  }

  /** Scale up: a new slot with the lowest free id; throws (and removes it) if its worker fails to start. */
  async addSlot (): Promise<WorkerProc> {
    let id = 0
    while (this.#slots.has(id)) id++
    const slot = this.#newSlot(id)
    const proc = this.#fork(id, 'scale-up')
    slot.pending = proc
    this.broadcastInstance()
    try {
      await proc.ready
    } catch (err) {
      this.#slots.delete(id)
      this.broadcastInstance()
      throw err
    } finally {
      if (slot.pending === proc) slot.pending = null
    }
    slot.current = proc
    this.broadcastInstance()
    return proc
  }

  /** Scale down: removes the highest slot and drains its processes. */
  removeSlot (): Promise<ExitInfo[]> {
    const id = Math.max(...this.#slots.keys())
    const slot = this.#slots.get(id)
    if (slot === undefined) return Promise.resolve([])
    this.#slots.delete(id)
    cancelRestart(slot)
    const exits: Promise<ExitInfo>[] = []
    for (const proc of [slot.current, slot.pending]) {
      if (proc !== null) exits.push(this.retire(proc, 'scale-down', 0))
    }
    this.broadcastInstance()
    return Promise.all(exits)
  }

  /** Sends a config to every linked process and collects their acknowledgements. */
  async pushConfig (config: ConfigObject, ackTimeout: number): Promise<{ total: number, ok: number, failures: string[] }> {
    this.#config = config
    this.#configVersion++
    const version = this.#configVersion
    const targets = this.liveProcs().filter((p) => p.linked && !p.retiring)
    const results = await Promise.all(targets.map((proc) => new Promise<{ proc: WorkerProc, ok: boolean, error?: string }>((resolve) => {
      const timer = setTimeout(() => {
        this.#configAcks.delete(proc)
        resolve({ proc, ok: false, error: `no answer within ${ackTimeout} ms` })
      }, ackTimeout)
      timer.unref()
      this.#configAcks.set(proc, (ack) => {
        clearTimeout(timer)
        resolve({ proc, ...ack })
      })
      if (!sendToWorker(proc.worker, createMessage({ type: 'fcl:config', version, config }))) {
        clearTimeout(timer)
        this.#configAcks.delete(proc)
        resolve({ proc, ok: false, error: 'IPC channel closed' })
      }
    })))
    const failures = results.filter((r) => !r.ok).map((r) => `worker ${r.proc.workerId} (pid ${r.proc.pid}): ${r.error ?? 'failed'}`)
    return { total: results.length, ok: results.length - failures.length, failures }
  }

  /** Stop: no more restarts; every process is drained (or killed if it never got ready). */
  beginStop (drainDelay: number, graceTimeout: number): Promise<ExitInfo>[] {
    this.#stopping = true
    for (const slot of this.#slots.values()) cancelRestart(slot)
    this.setInstanceState('draining')
    return this.liveProcs().map((proc) => this.retire(proc, 'shutdown', drainDelay, graceTimeout))
  }

  /** Second signal, or a failed boot: no grace. */
  killAll (): Promise<ExitInfo[]> {
    this.#stopping = true
    for (const slot of this.#slots.values()) cancelRestart(slot)
    const procs = this.liveProcs()
    for (const proc of procs) {
      proc.retiring = true
      this.#kill(proc)
    }
    return Promise.all(procs.map((p) => p.exited))
  }

  #noteStuck (workerId: number, summary: string): void {
    const slot = this.#slots.get(workerId)
    if (slot !== undefined) slot.lastStuck = summary
  }

  /**
   * The watchdog's action: a ready worker whose event loop stopped is taken out of the
   * instance's ready count at once, its stack is taken and logged, then it is killed
   * (SIGKILL: a stuck loop runs no drain) and restarted like a crash. `confirm` sees the
   * thread's report first and may spare the worker (its loop turned after all).
   */
  async killStuck (proc: WorkerProc, silentMs: number, confirm: (report: StuckReport) => boolean): Promise<StuckReport | null> {
    if (proc.state !== 'ready' || proc.retiring) return null
    proc.state = 'unresponsive'
    this.broadcastInstance()
    const who = `worker ${proc.workerId} (pid ${proc.pid})`
    this.#log.warn({ workerId: proc.workerId, workerPid: proc.pid, silentMs },
      `${who} unresponsive: no heartbeat for ${(silentMs / 1000).toFixed(1)} s (--worker-timeout ${this.#options.workerTimeout} ms); taking its stack`)
    const stuck = stacksWanted(this.#options)
      ? await this.#takeStack(proc)
      : { workerId: proc.workerId, pid: proc.pid, silentMs, stack: [], summary: 'no stack: stacks are off (--no-worker-stacks)', loop: null, mainIdleMs: null }
    if (proc.state !== 'unresponsive') return null
    if (!confirm(stuck)) {
      proc.state = 'ready'
      this.broadcastInstance()
      return null
    }
    const seconds = (stuck.silentMs / 1000).toFixed(1)
    this.#log.error({ workerId: proc.workerId, workerPid: proc.pid, silentMs: stuck.silentMs, stack: stuck.stack },
      `${who} unresponsive for ${seconds} s: ${stuck.summary}; killing it (SIGKILL) and starting a new one`)
    this.emit('worker-unresponsive', stuck)
    const slot = this.#slots.get(proc.workerId)
    if (slot !== undefined && slot.current === proc) {
      slot.restartCause = 'unresponsive'
      slot.lastStuck = stuck.summary
    }
    this.#kill(proc)
    return stuck
  }

  /** Slots waiting out a restart delay, with no process of their own meanwhile. */
  backoffSlots (): BackoffInfo[] {
    const slots: BackoffInfo[] = []
    for (const slot of this.#slots.values()) {
      if (slot.restartAt !== null && slot.current === null && slot.pending === null) {
        slots.push({ workerId: slot.workerId, restarts: slot.restarts, restartAt: slot.restartAt })
      }
    }
    return slots.sort((a, b) => a.workerId - b.workerId)
  }

  killedAtGrace (procs: WorkerProc[]): WorkerProc[] {
    return procs.filter((p) => p.killed)
  }

  slotCurrent (workerId: number): WorkerProc | null {
    return this.#slots.get(workerId)?.current ?? null
  }

  isSlotBusy (workerId: number): boolean {
    const slot = this.#slots.get(workerId)
    return slot === undefined || slot.pending !== null || slot.restartTimer !== null || slot.replacing
  }

  /** Detaches from node:cluster's events once everything has exited. */
  dispose (): void {
    cluster.off('message', this.#onMessage)
    cluster.off('listening', this.#onListening)
    cluster.off('exit', this.#onExit)
  }

  describe (proc: WorkerProc): string {
    return `worker ${proc.workerId} (pid ${proc.pid}, ${proc.state})`
  }
}
