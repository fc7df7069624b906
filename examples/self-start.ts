import Fastify from 'fastify'
import clusterPlugin from 'fastify-cluster-launch'

/**
 * Self-starting style: the entry builds and starts its own server. Under the
 * launcher PORT and HOST are set; standalone (`node --import tsx examples/self-start.ts`)
 * the plugin handles SIGTERM/SIGINT itself.
 */
const app = Fastify({ logger: true })
await app.register(clusterPlugin, { drainDelay: Number(process.env.DRAIN_DELAY ?? 0) })

app.get('/', async function root () {
  return { hello: 'self-started', pid: process.pid, workerId: app.cluster.workerId }
})

await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? 'localhost' })
