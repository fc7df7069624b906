/**
 * What the plugin needs from every request, done on Node's server rather than in Fastify's
 * hooks: a Fastify hook runs through Fastify's hook runner for each request, while a listener
 * on the raw server is one function call. Fastify binds one extra server per address when the
 * host resolves to several (`localhost` -> 127.0.0.1 and ::1), kept behind a private symbol;
 * each of them gets the same listeners.
 */
import net from 'node:net'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'

export function listServers (fastify: FastifyInstance): net.Server[] {
  const servers: net.Server[] = [fastify.server]
  const key = Object.getOwnPropertySymbols(fastify).find((s) => s.description === 'fastify.serverBindings')
  const extra: unknown = key === undefined ? undefined : (fastify as unknown as Record<symbol, unknown>)[key]
  if (Array.isArray(extra)) {
    for (const server of extra) if (server instanceof net.Server && server !== fastify.server) servers.push(server)
  }
  return servers
}

const closing = new WeakSet<net.Server>()

function closeAfterThisResponse (_request: IncomingMessage, response: ServerResponse): void {
  // Node then answers `Connection: close` and ends the socket once the response is sent.
  response.shouldKeepAlive = false
}

/**
 * From now on every response says `Connection: close`, so clients move to another worker
 * after their current request. Installed when the drain begins, never before: until then it
 * costs nothing. Requests parsed earlier keep their keep-alive answer; their client's next
 * request gets the `close`. Servers that bind later (Fastify's extra bindings are made at
 * listen) are caught by calling this again; each server gets the listener once.
 */
export function closeConnectionsFromNowOn (fastify: FastifyInstance): void {
  for (const server of listServers(fastify)) {
    if (closing.has(server)) continue
    closing.add(server)
    // First, so it runs before Fastify's own handler writes anything.
    server.prependListener('request', closeAfterThisResponse)
  }
}

/** Calls `onRequest` for every request on every server of this instance (the `requests` of `status`). */
export function countRequests (fastify: FastifyInstance, onRequest: () => void): void {
  const counted = new WeakSet<net.Server>()
  const attach = (): void => {
    for (const server of listServers(fastify)) {
      if (counted.has(server)) continue
      counted.add(server)
      server.on('request', onRequest)
    }
  }
  attach()
  // Fastify makes the extra servers of a multi-address host only when it listens.
  fastify.addHook('onListen', async function countOnEveryBinding () { attach() })
}

/** A WebSocket close frame, code 1001 "going away": the server is leaving, come back elsewhere. */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9])

/**
 * Keeps the sockets the app upgraded (WebSocket, Socket.IO's websocket transport), which
 * HTTP's drain does not see. Only where the app itself listens for upgrades: a server with no
 * `upgrade` listener answers upgrade requests as plain requests, and a listener of ours would
 * change that. Per upgrade, not per request.
 */
export function trackUpgrades (fastify: FastifyInstance): { open: Set<net.Socket>, sayGoingAway: () => void } {
  const open = new Set<net.Socket>()
  const tracked = new WeakSet<net.Server>()
  const track = (server: net.Server): void => {
    if (tracked.has(server)) return
    tracked.add(server)
    server.prependListener('upgrade', function keepUpgraded (request: IncomingMessage, socket: net.Socket) {
      if (String(request.headers.upgrade).toLowerCase() !== 'websocket') return
      open.add(socket)
      socket.once('close', () => { open.delete(socket) })
    })
  }
  const watch = (): void => {
    for (const server of listServers(fastify)) {
      if (server.listenerCount('upgrade') > 0) track(server)
      else if (!tracked.has(server)) {
        server.on('newListener', function trackOnFirstUpgradeListener (event: string | symbol) {
          if (event !== 'upgrade' || tracked.has(server)) return
          server.off('newListener', trackOnFirstUpgradeListener)
          // After the app's listener is added: ours goes first in the list anyway.
          process.nextTick(track, server)
        })
      }
    }
  }
  watch()
  fastify.addHook('onListen', async function trackUpgradesOnEveryBinding () { watch() })
  return {
    open,
    /**
     * Each WebSocket still open gets a close frame, 1001 "going away", and the end of its
     * stream: the client reconnects, to a worker that is not leaving. Written between the app's
     * own frames, which its library writes whole within one tick.
     */
    sayGoingAway () {
      for (const socket of open) {
        if (socket.destroyed || !socket.writable) continue
        socket.end(GOING_AWAY)
      }
    }
  }
}
