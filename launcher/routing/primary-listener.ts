/**
 * The primary's routing point, for the balance modes where the primary picks the worker itself
 * (node:cluster's round-robin cannot choose, and its scheduler is not pluggable): it owns the
 * listening socket, accepts each connection paused, reads a PROXY protocol header when asked
 * to, asks its {@link WorkerChooser} for a worker among the ready ones, and hands the socket
 * over IPC. `sticky` chooses by client address (sticky.ts). A least-busy chooser was tried
 * and measured no better than node:cluster's round-robin (docs/benchmarks.md, Spiky load).
 *
 * A handed-over socket stays open in the primary until the worker acknowledges it: a worker
 * that dies or refuses in the meantime (it stopped taking connections) gets nothing, and the
 * connection goes to another worker. With no worker to take it (every one restarting), a
 * connection waits up to {@link HOLD_MS}, as node:cluster's own round-robin queues them.
 */
import dns from 'node:dns/promises'
import net from 'node:net'
import type { Logger } from 'pino'
import { ERROR_CODES, FclError } from '../../lib/errors.js'
import { createMessage, sendToWorker, type ConnectionAckMessage } from '../../lib/protocol.js'
import type { Supervisor, WorkerProc } from '../supervisor.js'
import { readProxyHeader } from './proxy-reader.js'
import { normalizeClientAddress } from './proxy-protocol.js'

/** How long a connection may wait for a worker to take it before it is closed. */
export const HOLD_MS = 10000
/** A client has this long to send its PROXY header. */
export const PROXY_HEADER_TIMEOUT_MS = 5000
/** At most one line a period about connections closed for a bad PROXY header. */
const REJECTION_LOG_EVERY_MS = 10000

/** How a routing mode picks the worker for a connection: one small module per mode. */
export interface WorkerChooser {
  /** A worker among `candidates` (ready, not draining; never empty) for a connection from `client`. */
  choose: (client: string, candidates: readonly WorkerProc[]) => WorkerProc | undefined
}

export interface ListenerOptions {
  port: number
  host: string
  proxyProtocol: boolean
  /** During a stop, workers take connections until their drain delay is over. */
  drainDelay: number
  chooser: WorkerChooser
}

/** Where a connection goes and what the worker must know of its client. */
interface Route {
  key: string
  remote?: { address: string, port: number, family: 'IPv4' | 'IPv6' }
  head?: Buffer
}

interface InFlight {
  socket: net.Socket
  route: Route
  proc: WorkerProc
  refusedBy: Set<number>
  since: number
}

interface ServerOwned { server?: net.Server | null, _server?: (net.Server & { _connections: number }) | null }

function detachFromServer (socket: net.Socket): void {
  const owned = socket as net.Socket & ServerOwned
  if (owned._server !== null && owned._server !== undefined) owned._server._connections--
  owned.server = null
  owned._server = null
}

export class PrimaryListener {
  readonly #servers: net.Server[]
  readonly #supervisor: Supervisor
  readonly #log: Logger
  readonly #options: ListenerOptions
  readonly #inFlight = new Map<number, InFlight>()
  readonly #waiting = new Set<{ socket: net.Socket, route: Route, refusedBy: Set<number>, timer: NodeJS.Timeout }>()
  #nextId = 0
  #stopAt: number | null = null
  #rejected = 0
  #lastRejectionLog = 0
  readonly #port: number

  private constructor (servers: net.Server[], port: number, supervisor: Supervisor, log: Logger, options: ListenerOptions) {
    this.#servers = servers
    this.#port = port
    this.#supervisor = supervisor
    this.#log = log
    this.#options = options
    for (const server of servers) server.on('connection', this.#onConnection)
    supervisor.on('connection-ack', this.#onAck)
    supervisor.on('worker-exit', this.#onWorkerExit)
    supervisor.on('worker-ready', this.#onWorkerReady)
  }

  /**
   * Binds before any worker is forked, so a port in use stops the start at once, and a
   * connection that comes before the first worker is ready waits for it instead of being
   * refused. A host name is bound on each of its addresses, as Fastify does for `localhost`.
   */
  static async open (supervisor: Supervisor, log: Logger, options: ListenerOptions): Promise<PrimaryListener> {
    const addresses = net.isIP(options.host) !== 0
      ? [options.host]
      : [...new Set((await dns.lookup(options.host, { all: true })).map((a) => a.address))]
    const servers: net.Server[] = []
    let port = options.port
    try {
      for (const address of addresses) {
        const server = net.createServer({ pauseOnConnect: true })
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen({ port, host: address, exclusive: true }, () => {
            server.off('error', reject)
            resolve()
          })
        })
        // Port 0: the first address picks one, and every other address takes the same.
        port = (server.address() as net.AddressInfo).port
        servers.push(server)
      }
    } catch (err) {
      await Promise.all(servers.map((s) => new Promise((resolve) => { s.close(resolve) })))
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EADDRINUSE') {
        throw new FclError(ERROR_CODES.PORT_IN_USE, `port ${options.port} on ${options.host} is already in use (${(err as Error).message})`, {
          hint: 'stop the other process or pick another port with --port'
        })
      }
      throw new FclError(ERROR_CODES.WORKER_START, `cannot listen on ${options.host}:${options.port}: ${(err as Error).message}`)
    }
    return new PrimaryListener(servers, port, supervisor, log, options)
  }

  /** The port bound (the chosen one for port 0). */
  get port (): number { return this.#port }

  /** The stop began: workers take connections for the drain delay, then the port closes. */
  beginStop (): void {
    this.#stopAt = Date.now()
    const timer = setTimeout(() => { void this.close() }, this.#options.drainDelay)
    timer.unref()
  }

  async close (): Promise<void> {
    for (const waiting of this.#waiting) {
      clearTimeout(waiting.timer)
      waiting.socket.destroy()
    }
    this.#waiting.clear()
    this.#supervisor.off('connection-ack', this.#onAck)
    this.#supervisor.off('worker-exit', this.#onWorkerExit)
    this.#supervisor.off('worker-ready', this.#onWorkerReady)
    await Promise.all(this.#servers.map((server) => new Promise((resolve) => {
      if (!server.listening) {
        resolve(undefined)
        return
      }
      server.close(resolve)
    })))
    for (const { socket } of this.#inFlight.values()) socket.destroy()
    this.#inFlight.clear()
  }

  readonly #onConnection = (socket: net.Socket): void => {
    socket.on('error', () => {})
    if (!this.#options.proxyProtocol) {
      this.#route(socket, { key: normalizeClientAddress(socket.remoteAddress ?? '') }, new Set())
      return
    }
    void readProxyHeader(socket, PROXY_HEADER_TIMEOUT_MS).then((read) => {
      if (!read.ok) {
        socket.destroy()
        this.#noteRejected(read.reason, socket.remoteAddress)
        return
      }
      const { header, head } = read
      // A LOCAL header is the proxy's own connection (a health check): it is routed as the proxy.
      const source = header.command === 'proxy' && header.source !== null ? header.source : null
      const address = normalizeClientAddress(source?.address ?? socket.remoteAddress ?? '')
      const route: Route = { key: address, ...(head.length > 0 ? { head } : {}) }
      if (source !== null) route.remote = { address, port: source.port, family: net.isIPv6(address) ? 'IPv6' : 'IPv4' }
      this.#route(socket, route, new Set())
    })
  }

  #noteRejected (reason: string, from: string | undefined): void {
    this.#rejected++
    const now = Date.now()
    if (now - this.#lastRejectionLog < REJECTION_LOG_EVERY_MS) return
    this.#log.warn({ rejected: this.#rejected, reason, from },
      `--proxy-protocol: closed ${this.#rejected} connection${this.#rejected === 1 ? '' : 's'} without a valid PROXY header (last from ${from ?? 'unknown'}: ${reason})`)
    this.#rejected = 0
    this.#lastRejectionLog = now
  }

  /** Workers that may take a connection now. */
  #candidates (refusedBy: ReadonlySet<number>): WorkerProc[] {
    const stopping = this.#stopAt !== null
    if (stopping && Date.now() - (this.#stopAt ?? 0) >= this.#options.drainDelay) return []
    return this.#supervisor.liveProcs().filter((p) => p.linked && !refusedBy.has(p.pid) &&
      (stopping ? p.state === 'draining' : p.state === 'ready' && !p.retiring))
  }

  #route (socket: net.Socket, route: Route, refusedBy: Set<number>): void {
    if (socket.destroyed) return
    const candidates = this.#candidates(refusedBy)
    const proc = candidates.length === 0 ? undefined : this.#options.chooser.choose(route.key, candidates)
    if (proc === undefined) {
      this.#hold(socket, route, refusedBy)
      return
    }
    const id = ++this.#nextId
    this.#inFlight.set(id, { socket, route, proc, refusedBy, since: Date.now() })
    const message = createMessage({
      type: 'fcl:connection',
      id,
      ...(route.remote === undefined ? {} : { remoteAddress: route.remote.address, remotePort: route.remote.port, remoteFamily: route.remote.family }),
      ...(route.head === undefined ? {} : { head: route.head.toString('base64') })
    })
    // Detached from our server first: node:cluster would otherwise track the socket in the
    // worker and make closing the listener wait for every connection the workers hold.
    detachFromServer(socket)
    // Kept open here until the worker says it took it (see the module's comment).
    const sent = sendToWorker(proc.worker, message, socket, { keepOpen: true })
    if (!sent) this.#retry(id)
  }

  /** No worker can take it now: wait for one to become ready, for a while. */
  #hold (socket: net.Socket, route: Route, refusedBy: Set<number>): void {
    if (this.#stopAt !== null) {
      socket.destroy()
      return
    }
    const waiting = {
      socket,
      route,
      refusedBy,
      timer: setTimeout(() => {
        this.#waiting.delete(waiting)
        socket.destroy()
      }, HOLD_MS)
    }
    waiting.timer.unref()
    this.#waiting.add(waiting)
  }

  #retry (id: number): void {
    const flight = this.#inFlight.get(id)
    if (flight === undefined) return
    this.#inFlight.delete(id)
    flight.refusedBy.add(flight.proc.pid)
    this.#route(flight.socket, flight.route, flight.refusedBy)
  }

  readonly #onAck = (proc: WorkerProc, message: ConnectionAckMessage): void => {
    const flight = this.#inFlight.get(message.id)
    if (flight === undefined || flight.proc !== proc) return
    if (!message.accepted) {
      this.#retry(message.id)
      return
    }
    this.#inFlight.delete(message.id)
    // The worker holds the connection now; this closes only the primary's descriptor.
    flight.socket.destroy()
  }

  /** Connections handed to a worker that died before it answered go to another worker. */
  readonly #onWorkerExit = (info: { pid: number }): void => {
    for (const [id, flight] of this.#inFlight) {
      if (flight.proc.pid === info.pid) this.#retry(id)
    }
  }

  readonly #onWorkerReady = (): void => {
    const waiting = [...this.#waiting]
    this.#waiting.clear()
    for (const w of waiting) {
      clearTimeout(w.timer)
      this.#route(w.socket, w.route, w.refusedBy)
    }
  }
}
