import Fastify from 'fastify'
import t from 'tap'
import clusterPlugin, { clusterPlugin as named } from '../../lib/index.js'

async function build (opts: Record<string, unknown> = {}) {
  const app = Fastify()
  await app.register(clusterPlugin, opts)
  await app.ready()
  return app
}

t.test('default and named exports are the same plugin', async (t) => {
  t.equal(clusterPlugin, named)
})

t.test('/health answers 200 health+json with pid, workerId, uptime', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  const res = await app.inject('/health')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^application\/health\+json/)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.equal(body.status, 'pass')
  t.equal(body.pid, process.pid)
  t.equal(body.workerId, null)
  t.type(body.uptime, 'number')
})
