/**
 * The one place that knows what crosses the IPC channel between the primary and
 * a worker. Every message is `{ v: 1, type: 'fcl:...' }`; anything else
 * (a user's own `process.send` traffic, prom-client's aggregator, cluster's
 * internal messages) fails the guards and is left alone.
 */
export const PROTOCOL_VERSION = 1

export type ConfigObject = Record<string, unknown>

/** How the whole instance looks from the primary; shown in `/ready` bodies. */
export type InstanceState = 'starting' | 'running' | 'draining'
export interface InstanceView {
  ready: number
  total: number
  state: InstanceState
}

export type DrainReason = 'shutdown' | 'rolling-restart' | 'memory' | 'scale-down'

// Primary -> worker
export interface InstanceMessage { v: 1, type: 'fcl:instance', instance: InstanceView }
export interface ConfigMessage { v: 1, type: 'fcl:config', version: number, config: ConfigObject }
export interface DrainMessage { v: 1, type: 'fcl:drain', drainDelay: number, reason: DrainReason }
/** Send your registry's `getMetricsAsJSON()`; answered by `fcl:metrics-snapshot` with the same id. */
export interface MetricsCollectMessage { v: 1, type: 'fcl:metrics-collect', id: number }
/** The cluster-wide exposition text for the scrape this worker asked about (`fcl:metrics-scrape`). */
export interface MetricsResultMessage { v: 1, type: 'fcl:metrics-result', id: number, ok: boolean, text?: string, contentType?: string, error?: string }
/**
 * `--balance sticky`: a connection the primary accepted, sent with its socket as the message's
 * handle. `remote*` are the client's address from a PROXY protocol header (the socket's own
 * peer is the proxy); `head` the bytes the primary read past that header (base64), which belong
 * to the app and are put back in front of the socket's data. Answered by `fcl:connection-ack`.
 */
export interface ConnectionMessage { v: 1, type: 'fcl:connection', id: number, remoteAddress?: string, remotePort?: number, remoteFamily?: 'IPv4' | 'IPv6', head?: string }
/**
 * Run-once work: this worker holds the lease on singleton `name` now and runs its handler. `lease`
 * numbers the grant; the release names it, so a late release of an older grant moves nothing.
 */
export interface SingletonGrantMessage { v: 1, type: 'fcl:singleton-grant', name: string, lease: number }
export type PrimaryMessage = InstanceMessage | ConfigMessage | DrainMessage | MetricsCollectMessage | MetricsResultMessage | ConnectionMessage | SingletonGrantMessage

// Worker -> primary
/** The worker's link is listening; the primary may now send (and re-sends a newer config). */
export interface HelloMessage { v: 1, type: 'fcl:hello', configVersion: number }
/** The plugin is registered: readiness comes from `fcl:ready`, not from cluster's `listening`. */
export interface AttachedMessage { v: 1, type: 'fcl:attached' }
export interface ReadyMessage { v: 1, type: 'fcl:ready' }
/**
 * With `--balance reuseport` a worker binds its own socket, and node:cluster's
 * `listening` event never fires; this stands in for it (entries without the plugin).
 */
export interface ListeningMessage { v: 1, type: 'fcl:listening', port: number }
export interface ConfigAckMessage { v: 1, type: 'fcl:config-ack', version: number, ok: boolean, error?: string }
/** The worker failed to start; `message` is shown to the operator as the reason. */
export interface FatalMessage { v: 1, type: 'fcl:fatal', message: string, code?: string }
/** `requests`: responses the plugin counted since the worker started; null without the plugin. */
export interface StatsMessage { v: 1, type: 'fcl:stats', rss: number, heapUsed: number, elu: number, requests: number | null }
/** A scrape of `/metrics` reached this worker: the primary answers with the aggregate. */
export interface MetricsScrapeMessage { v: 1, type: 'fcl:metrics-scrape', id: number }
/** prom-client `getMetricsAsJSON()` output, passed through as data. */
export interface MetricsSnapshotMessage { v: 1, type: 'fcl:metrics-snapshot', id: number, metrics: unknown[] }
/** The last snapshot of a worker that leaves gracefully: its counters are carried over. */
export interface MetricsFinalMessage { v: 1, type: 'fcl:metrics-final', metrics: unknown[] }
/** Sent from the worker's main event loop: the loop turns (see launcher/watchdog.ts). */
export interface HeartbeatMessage { v: 1, type: 'fcl:heartbeat' }
/**
 * The worker took the connection `id` (`accepted`), or could not (its server does not listen,
 * or no longer): the primary keeps its copy of the socket until this arrives, and hands a
 * refused one to another worker.
 */
export interface ConnectionAckMessage { v: 1, type: 'fcl:connection-ack', id: number, accepted: boolean }
/** This worker registered a handler for singleton `name` and can hold its lease. */
export interface SingletonJoinMessage { v: 1, type: 'fcl:singleton-join', name: string }
/** The handler of grant `lease` has stopped (its signal aborted and its promise settled): the lease is free. */
export interface SingletonReleaseMessage { v: 1, type: 'fcl:singleton-release', name: string, lease: number }
export type WorkerMessage =
  | HelloMessage
  | AttachedMessage
  | ReadyMessage
  | ListeningMessage
  | ConfigAckMessage
  | FatalMessage
  | StatsMessage
  | MetricsScrapeMessage
  | MetricsSnapshotMessage
  | MetricsFinalMessage
  | HeartbeatMessage
  | ConnectionAckMessage
  | SingletonJoinMessage
  | SingletonReleaseMessage

type Body<M> = M extends { type: string } ? Omit<M, 'v'> : never

const INSTANCE_STATES: ReadonlySet<unknown> = new Set<InstanceState>(['starting', 'running', 'draining'])
const DRAIN_REASONS: ReadonlySet<unknown> = new Set<DrainReason>(['shutdown', 'rolling-restart', 'memory', 'scale-down'])

function isPlainObject (value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

const PRIMARY_TYPES: ReadonlySet<string> = new Set(['fcl:instance', 'fcl:config', 'fcl:drain', 'fcl:metrics-collect', 'fcl:metrics-result', 'fcl:connection', 'fcl:singleton-grant'])
const WORKER_TYPES: ReadonlySet<string> = new Set([
  'fcl:hello', 'fcl:attached', 'fcl:ready', 'fcl:listening', 'fcl:config-ack', 'fcl:fatal', 'fcl:stats',
  'fcl:metrics-scrape', 'fcl:metrics-snapshot', 'fcl:metrics-final', 'fcl:heartbeat', 'fcl:connection-ack',
  'fcl:singleton-join', 'fcl:singleton-release'
])

function isEnvelope (value: unknown): value is { v: number, type: string } {
  return typeof value === 'object' && value !== null &&
    (value as { v?: unknown }).v === PROTOCOL_VERSION &&
    typeof (value as { type?: unknown }).type === 'string'
}

export function isPrimaryMessage (value: unknown): value is PrimaryMessage {
  if (!isEnvelope(value) || !PRIMARY_TYPES.has(value.type)) return false
  const m = value as { instance?: Partial<InstanceView> | null, version?: unknown, config?: unknown, drainDelay?: unknown, reason?: unknown, id?: unknown, ok?: unknown, text?: unknown }
  switch (value.type) {
    case 'fcl:instance':
      return isPlainObject(m.instance) && typeof m.instance?.ready === 'number' &&
        typeof m.instance.total === 'number' && INSTANCE_STATES.has(m.instance.state)
    case 'fcl:config':
      return typeof m.version === 'number' && isPlainObject(m.config)
    case 'fcl:metrics-collect':
      return typeof m.id === 'number'
    case 'fcl:metrics-result':
      return typeof m.id === 'number' && typeof m.ok === 'boolean' && (m.text === undefined || typeof m.text === 'string')
    case 'fcl:connection':
      return isConnectionMessage(value)
    case 'fcl:singleton-grant':
      return isSingletonName((value as { name?: unknown }).name) && isLeaseNumber((value as { lease?: unknown }).lease)
    default:
      return typeof m.drainDelay === 'number' && DRAIN_REASONS.has(m.reason)
  }
}

export function isWorkerMessage (value: unknown): value is WorkerMessage {
  if (!isEnvelope(value) || !WORKER_TYPES.has(value.type)) return false
  const m = value as { configVersion?: unknown, version?: unknown, ok?: unknown, message?: unknown, rss?: unknown, heapUsed?: unknown, elu?: unknown, requests?: unknown, port?: unknown, id?: unknown, metrics?: unknown }
  switch (value.type) {
    case 'fcl:hello':
      return typeof m.configVersion === 'number'
    case 'fcl:listening':
      return typeof m.port === 'number'
    case 'fcl:metrics-scrape':
      return typeof m.id === 'number'
    case 'fcl:metrics-snapshot':
      return typeof m.id === 'number' && Array.isArray(m.metrics)
    case 'fcl:metrics-final':
      return Array.isArray(m.metrics)
    case 'fcl:config-ack':
      return typeof m.version === 'number' && typeof m.ok === 'boolean'
    case 'fcl:fatal':
      return typeof m.message === 'string'
    case 'fcl:connection-ack':
      return typeof m.id === 'number' && typeof (value as { accepted?: unknown }).accepted === 'boolean'
    case 'fcl:singleton-join':
      return isSingletonName((value as { name?: unknown }).name)
    case 'fcl:singleton-release':
      return isSingletonName((value as { name?: unknown }).name) && isLeaseNumber((value as { lease?: unknown }).lease)
    case 'fcl:stats':
      return typeof m.rss === 'number' && typeof m.heapUsed === 'number' && typeof m.elu === 'number' &&
        (m.requests === null || typeof m.requests === 'number')
    default:
      return true
  }
}

/** Longest singleton name: it is a log field, a status cell and a metrics label. */
export const SINGLETON_NAME_MAX = 100

/** 1-100 printable characters (no control characters, so a name cannot forge a log line). */
export function isSingletonName (value: unknown): value is string {
  // eslint-disable-next-line no-control-regex -- the point is to refuse control characters
  return typeof value === 'string' && value.length > 0 && value.length <= SINGLETON_NAME_MAX && !/[\u0000-\u001f\u007f]/.test(value)
}

function isLeaseNumber (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

function isConnectionMessage (value: object): boolean {
  const m = value as { id?: unknown, remoteAddress?: unknown, remotePort?: unknown, remoteFamily?: unknown, head?: unknown }
  return typeof m.id === 'number' &&
    (m.remoteAddress === undefined || typeof m.remoteAddress === 'string') &&
    (m.remotePort === undefined || (Number.isInteger(m.remotePort) && (m.remotePort as number) >= 0 && (m.remotePort as number) <= 65535)) &&
    (m.remoteFamily === undefined || m.remoteFamily === 'IPv4' || m.remoteFamily === 'IPv6') &&
    (m.head === undefined || typeof m.head === 'string')
}

type AnyMessage = PrimaryMessage | WorkerMessage
type MessageOf<T extends AnyMessage['type']> = Extract<AnyMessage, { type: T }>

export function createMessage<T extends AnyMessage['type']> (body: Body<MessageOf<T>> & { type: T }): MessageOf<T> {
  return { v: PROTOCOL_VERSION, ...body } as unknown as MessageOf<T>
}

/** Anything with cluster.Worker's `send`/`isConnected`, so lib/ needs no import of the launcher. */
export interface MessageTarget {
  send (message: PrimaryMessage, sendHandle: unknown, options: { keepOpen?: boolean }, callback: (error: Error | null) => void): boolean
  isConnected (): boolean
}

function ignoreSendError (): void {
  // A channel that closed between isConnected() and the write (the worker is
  // exiting) fails here instead of as an unhandled 'error' event on the worker.
}

/**
 * Sends to a worker, ignoring a channel that is already gone: a worker that is
 * exiting is reported by its `exit` event, not by a throw in the middle of a broadcast.
 */
export function sendToWorker (target: MessageTarget, message: PrimaryMessage, handle?: unknown, options: { keepOpen?: boolean } = {}): boolean {
  if (!target.isConnected()) return false
  try {
    // send() also returns false when the channel is merely backlogged; the message
    // is still delivered, so only a closed channel or a throw counts as not sent.
    target.send(message, handle, options, ignoreSendError)
    return true
  } catch {
    return false
  }
}

export function sendToPrimary (message: WorkerMessage): boolean {
  if (typeof process.send !== 'function' || process.connected !== true) return false
  try {
    return process.send(message)
  } catch {
    return false
  }
}

/** Resolves once the message is handed to the channel, so a worker can send its last word and then exit. */
export function sendToPrimaryAndWait (message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (typeof process.send !== 'function' || process.connected !== true) {
      resolve()
      return
    }
    try {
      process.send(message, undefined, undefined, () => { resolve() })
    } catch {
      resolve()
    }
  })
}
