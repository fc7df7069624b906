/**
 * The one place that knows what crosses the control socket: newline-delimited
 * JSON, one request `{ v: 1, command, ...args }` per connection and one response
 * `{ v: 1, ok, command, ... }`. `stop` is the exception: an acknowledgement at
 * once, then the final result when the instance has stopped. The server ends the
 * connection after its last line.
 */
import type { InstanceView } from '../lib/protocol.js'
import type { ConfigReloadResult } from './config-reload.js'
import type { RollResult } from './roll.js'
import type { SingletonStatus } from './singletons.js'
import type { WorkerInfo } from './supervisor.js'

export const CONTROL_PROTOCOL_VERSION = 1
/** A request line longer than this is refused: requests are a few dozen bytes. */
export const MAX_REQUEST_BYTES = 4096

export const CONTROL_COMMANDS = ['status', 'reload', 'reload-config', 'scale', 'stop'] as const
export type ControlCommand = typeof CONTROL_COMMANDS[number]

export type ControlRequest =
  | { v: 1, command: 'status' }
  | { v: 1, command: 'reload' }
  | { v: 1, command: 'reload-config' }
  | { v: 1, command: 'scale', workers: number }
  | { v: 1, command: 'stop' }

export interface WorkerStatus extends WorkerInfo {
  /** ms since the process was forked, when the status was taken. */
  uptime: number
  /** ms since the primary last heard from it (the watchdog's measure), when the status was taken. */
  silentMs: number
}

/** A worker id with no process while it waits out its restart delay after a crash. */
export interface BackoffStatus {
  workerId: number
  /** Restart attempts of this worker id so far (counted when each is made). */
  restarts: number
  /** ms until the next attempt, when the status was taken. */
  restartIn: number
}

export type LastRoll = RollResult & { finishedAt: number }
export type LastConfigReload = ConfigReloadResult & { finishedAt: number }

/** What `status` answers, and what `ClusterHandle#status()` returns. */
export interface ClusterStatus {
  /** The primary's pid. */
  pid: number
  name: string
  entry: string
  port: number
  host: string
  /** When `launch()` ran (epoch ms) and ms since then. */
  startedAt: number
  uptime: number
  instance: InstanceView
  configVersion: number
  /** The control socket's path; null when it is off (or not open yet). */
  control: string | null
  /** What a client needs to bound its waits. */
  limits: { readyTimeout: number, graceTimeout: number }
  workers: WorkerStatus[]
  /** Worker ids waiting to restart; the table shows them as `backoff` rows. */
  backoff: BackoffStatus[]
  /** Run-once work: each singleton, its holder, and how long it has been in its state (`for`, ms). */
  singletons: Array<SingletonStatus & { for: number }>
  lastRoll: LastRoll | null
  lastConfigReload: LastConfigReload | null
}

export interface StopOutcome {
  code: number
  reason: string
  killed: string[]
  error?: string
}

interface Base { v: 1, ok: boolean, error?: string, code?: string }
export type ControlResponse =
  | Base & { command: 'status', status: ClusterStatus }
  | Base & { command: 'reload', roll: RollResult }
  | Base & { command: 'reload-config', configReload: ConfigReloadResult }
  | Base & { command: 'scale', target: number, workers: number }
  | Base & { command: 'stop', stopping: true }
  | Base & { command: 'stop', stopped: StopOutcome }
  /** Refused before anything ran: a bad request, or the instance is stopping. */
  | Base & { ok: false, command: ControlCommand | null, refused: true, error: string }

const COMMANDS: ReadonlySet<unknown> = new Set(CONTROL_COMMANDS)

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)
const isNumberOrNull = (value: unknown): boolean => value === null || isNumber(value)
const isOptionalString = (value: unknown): boolean => value === undefined || typeof value === 'string'
const isStringArray = (value: unknown): boolean => Array.isArray(value) && value.every((item) => typeof item === 'string')

export function isControlRequest (value: unknown): value is ControlRequest {
  if (!isObject(value) || value.v !== CONTROL_PROTOCOL_VERSION || !COMMANDS.has(value.command)) return false
  // The range (1-1024) is scale()'s to check, so its own message reaches the client.
  if (value.command === 'scale') return Number.isInteger(value.workers)
  return true
}

function isRollResult (value: unknown): value is RollResult {
  return isObject(value) && typeof value.ok === 'boolean' && isNumber(value.replaced) && isNumber(value.total) &&
    isNumber(value.ms) && isOptionalString(value.error)
}

function isConfigReloadResult (value: unknown): value is ConfigReloadResult {
  return isObject(value) && typeof value.ok === 'boolean' && isNumber(value.applied) && isNumber(value.total) &&
    isNumber(value.version) && isStringArray(value.failures) && isOptionalString(value.error)
}

function isWorkerStatus (value: unknown): value is WorkerStatus {
  return isObject(value) && isNumber(value.workerId) && isNumber(value.pid) && typeof value.state === 'string' &&
    isNumber(value.startedAt) && isNumber(value.uptime) && isNumber(value.restarts) &&
    isNumber(value.lastSeenAt) && isNumber(value.silentMs) &&
    isNumberOrNull(value.rss) && isNumberOrNull(value.heapUsed) && isNumberOrNull(value.elu) && isNumberOrNull(value.requests)
}

function isBackoffStatus (value: unknown): value is BackoffStatus {
  return isObject(value) && isNumber(value.workerId) && isNumber(value.restarts) && isNumber(value.restartIn)
}

function isFinished (value: unknown, inner: (v: unknown) => boolean): boolean {
  return value === null || (inner(value) && isNumber((value as { finishedAt?: unknown }).finishedAt))
}

const SINGLETON_STATES: ReadonlySet<unknown> = new Set(['running', 'releasing', 'waiting'])

function isSingletonStatus (value: unknown): boolean {
  return isObject(value) && typeof value.name === 'string' && SINGLETON_STATES.has(value.state) &&
    isNumberOrNull(value.workerId) && isNumberOrNull(value.pid) && isNumber(value.since) && isNumber(value.for) &&
    (value.reason === null || typeof value.reason === 'string') && isNumber(value.handovers)
}

export function isClusterStatus (value: unknown): value is ClusterStatus {
  if (!isObject(value)) return false
  const { instance, limits } = value
  return isNumber(value.pid) && typeof value.name === 'string' && typeof value.entry === 'string' &&
    isNumber(value.port) && typeof value.host === 'string' && isNumber(value.startedAt) && isNumber(value.uptime) &&
    isObject(instance) && isNumber(instance.ready) && isNumber(instance.total) && typeof instance.state === 'string' &&
    isNumber(value.configVersion) && (value.control === null || typeof value.control === 'string') &&
    isObject(limits) && isNumber(limits.readyTimeout) && isNumber(limits.graceTimeout) &&
    Array.isArray(value.workers) && value.workers.every(isWorkerStatus) &&
    Array.isArray(value.backoff) && value.backoff.every(isBackoffStatus) &&
    Array.isArray(value.singletons) && value.singletons.every(isSingletonStatus) &&
    isFinished(value.lastRoll, isRollResult) && isFinished(value.lastConfigReload, isConfigReloadResult)
}

function isStopOutcome (value: unknown): value is StopOutcome {
  return isObject(value) && isNumber(value.code) && typeof value.reason === 'string' && isStringArray(value.killed) &&
    isOptionalString(value.error)
}

export function isControlResponse (value: unknown): value is ControlResponse {
  if (!isObject(value) || value.v !== CONTROL_PROTOCOL_VERSION || typeof value.ok !== 'boolean') return false
  if (!isOptionalString(value.error) || !isOptionalString(value.code)) return false
  if (value.refused === true) return value.ok === false && typeof value.error === 'string' && (value.command === null || COMMANDS.has(value.command))
  switch (value.command) {
    case 'status':
      return isClusterStatus(value.status)
    case 'reload':
      return isRollResult(value.roll)
    case 'reload-config':
      return isConfigReloadResult(value.configReload)
    case 'scale':
      return isNumber(value.target) && isNumber(value.workers)
    case 'stop':
      return value.stopping === true || isStopOutcome(value.stopped)
    default:
      return false
  }
}

type RequestBody = ControlRequest extends infer R ? R extends { v: 1 } ? Omit<R, 'v'> : never : never

export function createControlRequest (body: RequestBody): ControlRequest {
  return { v: CONTROL_PROTOCOL_VERSION, ...body } as ControlRequest
}

/** One message per line: JSON never holds a raw newline. */
export function encodeControlMessage (message: ControlRequest | ControlResponse): string {
  return `${JSON.stringify(message)}\n`
}

/**
 * Splits a stream of text into lines, and refuses a line longer than `maxBytes`
 * (a peer that never sends a newline must not grow the buffer forever).
 */
export function createLineReader (maxBytes: number, onLine: (line: string) => void, onTooLong: () => void): (chunk: string) => void {
  let buffer = ''
  return function readChunk (chunk: string): void {
    buffer += chunk
    let index = buffer.indexOf('\n')
    while (index !== -1) {
      const line = buffer.slice(0, index)
      buffer = buffer.slice(index + 1)
      if (line.trim() !== '') onLine(line)
      index = buffer.indexOf('\n')
    }
    if (Buffer.byteLength(buffer) > maxBytes) {
      buffer = ''
      onTooLong()
    }
  }
}
