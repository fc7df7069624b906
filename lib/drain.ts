import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { listServers } from './server-listeners.js'

/**
 * After the listener stopped accepting and every response says `Connection: close`,
 * busy keep-alive connections close themselves after their next response. Idle
 * ones are reaped on a 1 s tick rather than at once: a connection a client is
 * actively using gets its `Connection: close` within a tick and leaves on its own,
 * so the tick mostly finds connections nobody uses. (A request in transit exactly
 * at a tick can still meet a closed socket; that window is one round trip.)
 * Upgraded sockets (WebSocket) are none of HTTP's: the drain runs the app's `onDrain`
 * handlers (Socket.IO's `io.close()`, say), then says "going away" to every upgraded
 * socket still open (see server-listeners.ts).
 */
export const IDLE_REAP_AFTER_MS = 1000

/**
 * Stops accepting without touching open connections. `http.Server#close` would
 * also close idle keep-alive sockets at once, racing clients that are sending
 * their next request on them (the resets PM2's reload produces); `net.Server#close`
 * only closes the listener. Under `node:cluster` this also tells the primary to
 * stop routing connections here. Resolves when the last connection has ended.
 */
function stopAccepting (server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve()
      return
    }
    net.Server.prototype.close.call(server, () => { resolve() })
  })
}

export interface DrainPlan {
  /** Keep accepting and serving this long first (load balancer deregistration). */
  drainDelay: number
  /** How often connections that stayed idle through the drain are reaped. */
  idleReapEvery?: number
  /** After the delay, once the listeners stop: close what HTTP's drain cannot (long-lived sockets). */
  closeLongLived?: () => Promise<void>
}

function reapIdle (servers: net.Server[]): void {
  for (const server of servers) {
    const closeIdle = (server as net.Server & { closeIdleConnections?: () => void }).closeIdleConnections
    if (typeof closeIdle === 'function') closeIdle.call(server)
  }
}

/**
 * The worker-side drain. The caller has already flipped readiness to draining,
 * which makes every response carry `Connection: close`. Then: wait the drain
 * delay, stop accepting, and wait until every connection has ended: busy ones
 * close after their current response; ones that stay idle are reaped every
 * `idleReapEvery` ms. Only then `fastify.close()` runs, so the app's `onClose`
 * hooks (database pools...) never run under an in-flight request. The caller's
 * grace timeout bounds the whole.
 */
export async function drainFastify (fastify: FastifyInstance, plan: DrainPlan): Promise<void> {
  // Every server of the instance (Fastify binds one per address of a multi-address host)
  // must stop accepting, or connections keep landing on a closing worker.
  // These waits are the work itself (the process must stay up through them), so
  // they are not unref'd; each is cleared when the drain ends.
  if (plan.drainDelay > 0) await sleep(plan.drainDelay)
  const servers = listServers(fastify)
  const every = plan.idleReapEvery ?? IDLE_REAP_AFTER_MS
  const reaper = setInterval(reapIdle, every, servers)
  try {
    const stopped = Promise.all(servers.map(stopAccepting))
    await plan.closeLongLived?.()
    await stopped
  } finally {
    clearInterval(reaper)
  }
  await fastify.close()
}
