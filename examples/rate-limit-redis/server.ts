import rateLimit from '@fastify/rate-limit'
import type { FastifyPluginAsync } from 'fastify'
import { Redis } from 'ioredis'

/**
 * Per-client rate limit, 10 requests a minute. With the default in-memory store
 * each worker counts on its own, so a client gets 10 x workers through; with
 * REDIS_URL set every worker counts in the same Redis keys, so exactly 10.
 *   REDIS_URL=redis://127.0.0.1:6379 npx fastify-cluster-launch examples/rate-limit-redis/server.ts
 */
const app: FastifyPluginAsync = async function rateLimited (fastify) {
  const url = process.env.REDIS_URL
  const redis = url === undefined ? undefined : new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false })
  if (redis !== undefined) fastify.addHook('onClose', async () => { await redis.quit() })

  await fastify.register(rateLimit, {
    max: 10,
    timeWindow: '1 minute',
    ...(redis === undefined ? {} : { redis, nameSpace: 'fcl-example-rl:' }),
    // Probes must never be limited: a balancer probing every 2 s would lock itself out.
    allowList: (request) => request.routeOptions.config.fclProbe === true
  })

  fastify.get('/', async function limited () {
    return { pid: process.pid, workerId: fastify.cluster.workerId, store: redis === undefined ? 'memory' : 'redis' }
  })
}

export default app
