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
