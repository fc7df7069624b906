/**
 * One worker process as the primary sees it: its record, the promises that settle when it is
 * ready or gone, and what is said of it (its info row, how it exited, why its start failed).
 * The slot table (supervisor.ts) holds these records and decides; this module only describes.
 */
import type { Worker } from 'node:cluster'
import { ERROR_CODES, FclError } from '../lib/errors.js'
import type { LoopState } from './watchdog-timing.js'

/** `unresponsive`: the watchdog found its event loop stuck; it is being killed. */
export type ProcState = 'starting' | 'ready' | 'draining' | 'unresponsive' | 'exited'
export type ForkCause = 'boot' | 'crash' | 'unresponsive' | 'rolling-restart' | 'memory' | 'scale-up'

/** What the watchdog found in a stuck worker: its stack (or why there is none) and the silence. */
export interface StuckReport {
  workerId: number
  pid: number
  /** ms since the worker's last message when it was found. */
  silentMs: number
  /** Formatted frames, top first (`fn file:line:column`); empty when none could be taken. */
  stack: string[]
  /** One line: `stuck in fn file:line:column`, or why there is no stack. */
  summary: string
  /** The capture's verdict on the main loop; null when no capture could be made. */
  loop: LoopState | null
  /** How long ago the worker's report timer last ran, read during the capture; null if unknown. */
  mainIdleMs: number | null
}

export interface WorkerProc {
  readonly worker: Worker
  readonly pid: number
  readonly workerId: number
  readonly startedAt: number
  state: ProcState
  /** The plugin is registered: readiness comes from its `fcl:ready`, draining from `fcl:drain`. */
  attached: boolean
  /** The worker's link said hello: messages sent from now on are received. */
  linked: boolean
  /** We asked it to leave, so its exit is not a crash. */
  retiring: boolean
  /** Killed at the grace timeout. */
  killed: boolean
  /** Reached ready at some point (a retired starting worker must still reject `ready`). */
  everReady: boolean
  /** The worker's own reason for failing to start (`fcl:fatal`). */
  fatal: { message: string, code?: string } | null
  configVersion: number
  rss: number | null
  heapUsed: number | null
  elu: number | null
  /** Responses served (the plugin counts them); null without the plugin or before the first stats. */
  requests: number | null
  overMemory: number
  /** When the primary last heard from it (any message: they all leave from its event loop). */
  lastSeenAt: number
  readonly ready: Promise<void>
  readonly exited: Promise<ExitInfo>
}

export interface ExitInfo {
  code: number | null
  signal: string | null
}

export interface WorkerInfo {
  workerId: number
  pid: number
  state: ProcState
  startedAt: number
  restarts: number
  rss: number | null
  heapUsed: number | null
  elu: number | null
  requests: number | null
  /** When the primary last heard from it (epoch ms): its heartbeat, or any other message. */
  lastSeenAt: number
}

/** A slot that has no process while it waits to restart (status shows it as `backoff`). */
export interface BackoffInfo {
  workerId: number
  restarts: number
  restartAt: number
}

/** What settles a record's promises; the supervisor keeps it until the process is gone. */
export interface ProcSettlers {
  resolveReady: () => void
  rejectReady: (err: Error) => void
  resolveExit: (info: ExitInfo) => void
}

/** A new record in state `starting`. */
export function createWorkerProc (worker: Worker, workerId: number, configVersion: number): { proc: WorkerProc, settlers: ProcSettlers } {
  let resolveReady!: () => void
  let rejectReady!: (err: Error) => void
  const ready = new Promise<void>((resolve, reject) => { resolveReady = resolve; rejectReady = reject })
  // A failed start is handled by whoever waits on `ready`; never an unhandled rejection.
  ready.catch(() => {})
  let resolveExit!: (info: ExitInfo) => void
  const exited = new Promise<ExitInfo>((resolve) => { resolveExit = resolve })
  const now = Date.now()
  const proc: WorkerProc = {
    worker,
    pid: worker.process.pid ?? -1,
    workerId,
    startedAt: now,
    state: 'starting',
    attached: false,
    linked: false,
    retiring: false,
    killed: false,
    everReady: false,
    fatal: null,
    configVersion,
    rss: null,
    heapUsed: null,
    elu: null,
    requests: null,
    overMemory: 0,
    lastSeenAt: now,
    ready,
    exited
  }
  return { proc, settlers: { resolveReady, rejectReady, resolveExit } }
}

export function toWorkerInfo (p: WorkerProc, restarts: number): WorkerInfo {
  return {
    workerId: p.workerId,
    pid: p.pid,
    state: p.state,
    startedAt: p.startedAt,
    restarts,
    rss: p.rss,
    heapUsed: p.heapUsed,
    elu: p.elu,
    requests: p.requests,
    lastSeenAt: p.lastSeenAt
  }
}

export function describeExit (info: ExitInfo): string {
  return info.signal !== null ? `was killed by ${info.signal}` : `exited with code ${String(info.code)}`
}

export function startError (proc: WorkerProc, info: ExitInfo, listen: { port: number, host: string }): FclError {
  const who = `worker ${proc.workerId} (pid ${proc.pid})`
  const fatal = proc.fatal
  if (fatal?.code === 'EADDRINUSE') {
    return new FclError(ERROR_CODES.PORT_IN_USE, `port ${listen.port} on ${listen.host} is already in use (${fatal.message})`, {
      hint: 'stop the other process or pick another port with --port'
    })
  }
  if (fatal?.code === ERROR_CODES.WORKER_READY_TIMEOUT) {
    return new FclError(ERROR_CODES.WORKER_READY_TIMEOUT, `${who} ${fatal.message}`, {
      hint: 'the entry must call listen (or export a plugin); raise --ready-timeout if start-up is slow'
    })
  }
  if (fatal?.code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') {
    // Node's type stripping only erases types; enums, namespaces and parameter properties
    // need code generated, which tsx does.
    return new FclError(ERROR_CODES.WORKER_START, `${who} failed to start: ${fatal.message}`, {
      hint: 'this TypeScript needs a transform, not only type stripping: start with --ts-loader tsx (FCL_TS_LOADER=tsx)'
    })
  }
  const reason = fatal === null ? describeExit(info) : fatal.message
  return new FclError(ERROR_CODES.WORKER_START, `${who} failed to start: ${reason}`, {
    hint: 'the worker\'s own log above has the details'
  })
}
