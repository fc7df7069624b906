import type { FastifyPluginAsync } from 'fastify'

/**
 * Plugin style: the launcher builds the Fastify instance, registers the cluster
 * plugin (probes, drain, config reload), registers this plugin and listens.
 *   npx fastify-cluster-launch examples/hello.ts
 */
const app: FastifyPluginAsync = async function hello (fastify) {
  fastify.get('/', async function root () {
    return { hello: 'world', pid: process.pid, workerId: fastify.cluster.workerId }
  })
}

export default app
