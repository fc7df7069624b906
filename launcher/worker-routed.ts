/**
 * Worker side of the balance modes routed by the primary (`sticky`): the primary
 * owns the listening socket, picks a worker for each connection (launcher/routing/), and hands
 * the connection over IPC. The worker's
 * server must therefore listen without binding anything, which node:cluster cannot do for it:
 * every listen in a worker either binds (exclusive) or joins the primary's round-robin. So,
 * as node:cluster does for its own round-robin workers, a listen on the launcher's port gets a
 * stand-in handle instead of a socket: the server is `listening`, `address()` gives the
 * primary's address, `close()` stops it taking connections, and nothing is bound. Entries of
 * either style need no change; listens on other ports, pipes and fds are left as they are.
 *
 * Relies on net.Server's `_handle`, `_connectionKey` and `_connections`, the same internals
 * node:cluster's workers use.
 */
import net from 'node:net'
import tls from 'node:tls'
import type { ConnectionMessage } from '../lib/protocol.js'
import type { WorkerLink } from '../lib/worker-link.js'

type ListenArgs = unknown[]

interface ServerInternals {
  _handle: unknown
  _connectionKey?: string
  _connections: number
}

interface SocketInternals {
  server?: net.Server
  _server?: net.Server
}

interface Listen { port: number, host: string | undefined, callback: (() => void) | undefined }

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype
}

function portOf (value: unknown): number | null {
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  return typeof port === 'number' && Number.isInteger(port) && port >= 0 ? port : null
}

/** The listen's port, host and callback when it is a TCP listen on `port`; null for anything else. */
export function routedListen (args: ListenArgs, port: number): Listen | null {
  const [first, ...rest] = args
  const callback = [first, ...rest].find((arg): arg is () => void => typeof arg === 'function')
  if (isPlainObject(first)) {
    if (first.path !== undefined || first.fd !== undefined || first.handle !== undefined) return null
    return portOf(first.port) === port ? { port, host: typeof first.host === 'string' ? first.host : undefined, callback } : null
  }
  if (portOf(first) !== port) return null
  return { port, host: rest.find((arg): arg is string => typeof arg === 'string'), callback }
}

/** What `server.address()` answers: the primary's address for the port. */
function standInHandle (address: { address: string, family: string, port: number }): object {
  return {
    listen: () => 0,
    close: () => {},
    ref: () => {},
    unref: () => {},
    getsockname (out: Record<string, unknown>) {
      Object.assign(out, address)
      return 0
    }
  }
}

function familyOf (host: string | undefined): { address: string, family: string } {
  if (host === undefined || host === '' || host === '::') return { address: '::', family: 'IPv6' }
  if (host === 'localhost') return { address: '127.0.0.1', family: 'IPv4' }
  return net.isIPv6(host) ? { address: host, family: 'IPv6' } : { address: host, family: 'IPv4' }
}

/** The client's address from the PROXY header, where Fastify and Node read it (`request.ip`, `socket.remoteAddress`). */
function presentClient (socket: net.Socket, message: ConnectionMessage): void {
  if (message.remoteAddress === undefined) return
  Object.defineProperties(socket, {
    remoteAddress: { value: message.remoteAddress, configurable: true },
    remotePort: { value: message.remotePort, configurable: true },
    remoteFamily: { value: message.remoteFamily ?? (net.isIPv6(message.remoteAddress) ? 'IPv6' : 'IPv4'), configurable: true }
  })
}

/**
 * A TLS server wraps the raw socket in a TLSSocket whose peer comes from the native handle
 * (the proxy): carry the client's address over before Node's HTTPS handler sees it.
 */
function presentClientOverTls (server: net.Server): void {
  if (!(server instanceof tls.Server)) return
  server.prependListener('secureConnection', function carryClientAddress (secure: tls.TLSSocket) {
    const raw = (secure as tls.TLSSocket & { _parent?: net.Socket })._parent
    if (raw === undefined || !Object.prototype.hasOwnProperty.call(raw, 'remoteAddress')) return
    Object.defineProperties(secure, {
      remoteAddress: { value: raw.remoteAddress, configurable: true },
      remotePort: { value: raw.remotePort, configurable: true },
      remoteFamily: { value: raw.remoteFamily, configurable: true }
    })
  })
}

/**
 * Installs the listen rewrite and takes the connections the primary hands over. `onListening`
 * hears of each server that "listens": node:cluster's `listening` event never fires for them,
 * so the primary is told another way when the entry does not use the plugin.
 */
export function installRoutedListen (port: number, link: WorkerLink, onListening: (server: net.Server) => void): void {
  const originalListen = net.Server.prototype.listen
  const servers: net.Server[] = []
  net.Server.prototype.listen = function listenWithoutBinding (this: net.Server, ...args: ListenArgs): net.Server {
    const listen = routedListen(args, port)
    if (listen === null) return (originalListen as (...a: ListenArgs) => net.Server).apply(this, args)
    const internals = this as unknown as ServerInternals
    const { address, family } = familyOf(listen.host)
    internals._handle = standInHandle({ address, family, port })
    internals._connectionKey = `${family === 'IPv6' ? 6 : 4}:${address}:${port}`
    servers.push(this)
    presentClientOverTls(this)
    this.once('close', () => { servers.splice(servers.indexOf(this), 1) })
    if (listen.callback !== undefined) this.once('listening', listen.callback)
    process.nextTick(() => {
      this.emit('listening')
      onListening(this)
    })
    return this
  } as typeof net.Server.prototype.listen

  link.setConnectionHandler(function takeConnection (message, socket) {
    // The first server of the port is the app's (Fastify adds one per extra address of
    // `localhost`); one that stopped listening (draining) takes nothing more.
    const server = servers.find((s) => s.listening)
    if (server === undefined) return false
    const internals = server as unknown as ServerInternals
    if (server.maxConnections !== undefined && server.maxConnections > 0 && internals._connections >= server.maxConnections) return false
    presentClient(socket, message)
    // Bytes the primary read past a PROXY header: the start of the app's data (a request line,
    // a TLS ClientHello). Node's HTTP and TLS servers both take buffered data first. No
    // resume() here, as Node's own accept path has none: HTTP's 'data' listener starts the
    // flow, and a TLS socket reads the buffer itself on the next tick; a resume() would
    // pour that buffer out as 'data' events nobody listens to (the ClientHello lost).
    if (message.head !== undefined) socket.unshift(Buffer.from(message.head, 'base64'))
    internals._connections++
    const own = socket as net.Socket & SocketInternals
    own.server = server
    own._server = server
    server.emit('connection', socket)
    return true
  })
}
