/**
 * Worker side of `--balance reuseport`. Plugin-style and self-starting entries
 * alike call `listen()` themselves, and node:cluster routes every non-exclusive
 * listen in a worker through the primary's round-robin handle; there is no
 * per-process default to change that. So, in a reuseport worker only, TCP
 * listens on a fixed port get `exclusive: true` (bind here, not in the primary)
 * and `reusePort: true` (join the kernel's group for the port). Pipes, fds,
 * handles and port 0 are left as they are: those have no group to join.
 */
import cluster from 'node:cluster'
import net from 'node:net'

type ListenArgs = unknown[]

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype
}

function fixedPort (value: unknown): number | null {
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  return typeof port === 'number' && Number.isInteger(port) && port > 0 ? port : null
}

/** The same arguments with SO_REUSEPORT asked for, or null when the listen is not a TCP port. */
export function withReusePort (args: ListenArgs): ListenArgs | null {
  const [first, ...rest] = args
  if (isPlainObject(first)) {
    if (first.path !== undefined || first.fd !== undefined || first.handle !== undefined) return null
    if (fixedPort(first.port) === null) return null
    return [{ ...first, exclusive: true, reusePort: true }, ...rest]
  }
  // listen(port[, host][, backlog][, callback])
  const port = fixedPort(first)
  if (port === null) return null
  const options: Record<string, unknown> = { port, exclusive: true, reusePort: true }
  let callback: unknown
  for (const arg of rest) {
    if (typeof arg === 'function') callback = arg
    else if (typeof arg === 'string') options.host = arg
    else if (typeof arg === 'number') options.backlog = arg
  }
  return callback === undefined ? [options] : [options, callback]
}

/**
 * Installs the listen rewrite. `onListening` hears of each rewritten server once it
 * listens: node:cluster's `listening` event never fires for exclusive servers, so
 * the primary must be told another way when the entry does not use the plugin.
 */
export function installReusePortListen (onListening: (server: net.Server) => void): void {
  const originalListen = net.Server.prototype.listen
  const owned = new Set<net.Server>()
  net.Server.prototype.listen = function listenWithReusePort (this: net.Server, ...args: ListenArgs): net.Server {
    const rewritten = withReusePort(args)
    if (rewritten === null) return (originalListen as (...a: ListenArgs) => net.Server).apply(this, args)
    owned.add(this)
    this.once('listening', () => { onListening(this) })
    this.once('close', () => { owned.delete(this) })
    return (originalListen as (...a: ListenArgs) => net.Server).apply(this, rewritten)
  } as typeof net.Server.prototype.listen
  // `worker.disconnect()` (how the primary retires an entry without the plugin)
  // closes only the servers node:cluster knows about; close ours the same way so
  // the worker finishes its requests and exits instead of waiting to be killed.
  cluster.worker?.once('disconnect', function closeOwnListeners () {
    for (const server of owned) server.close()
  })
}
