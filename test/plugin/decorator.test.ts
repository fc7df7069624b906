import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import t from 'tap'
import clusterPlugin from '../../lib/index.js'

async function build () {
  const app = Fastify()
  await app.register(clusterPlugin)
  await app.ready()
  return app
}

t.test('standalone: not a worker, no workerId, this pid, empty config, no instance', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  t.match(app.cluster, { isWorker: false, workerId: null, pid: process.pid, state: 'starting', instance: null })
  t.same(app.cluster.config, {})
  t.same(JSON.parse(JSON.stringify(app.cluster)), { isWorker: false, workerId: null, pid: process.pid, state: 'starting' }, 'serialises without internals')
})

t.test('state follows the app: starting, ready after listen, closed after close', async (t) => {
  const app = await build()
  t.equal(app.cluster.state, 'starting')
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.equal(app.cluster.state, 'ready')
  await app.close()
  t.equal(app.cluster.state, 'closed')
})

t.test('singleton: validated; standalone it runs from listen until close, which waits for it', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  t.throws(() => { app.cluster.singleton('', async () => {}) }, TypeError)
  t.throws(() => { app.cluster.singleton('a\nb', async () => {}) }, TypeError)
  t.throws(() => { app.cluster.singleton('x', 'nope' as never) }, TypeError)
  const events: string[] = []
  app.cluster.singleton('job', async (signal) => {
    events.push('start')
    await new Promise((resolve) => { signal.addEventListener('abort', resolve, { once: true }) })
    await sleep(50)
    events.push('stop')
  })
  t.throws(() => { app.cluster.singleton('job', async () => {}) }, /already registered/)
  t.same(events, [], 'nothing runs before the server listens')
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.same(events, ['start'])
  app.cluster.singleton('late', () => { events.push('late') })
  t.same(events, ['start', 'late'], 'registered after listen: runs at once')
  await app.close()
  t.same(events, ['start', 'late', 'stop'], 'close waited for the handler to stop')
})

t.test('onDrain takes functions only', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  app.cluster.onDrain(() => {})
  for (const bad of [undefined, null, 'close', {}]) {
    t.throws(() => { app.cluster.onDrain(bad as never) }, TypeError, String(bad))
  }
})

t.test('onConfigReload takes functions only', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  app.cluster.onConfigReload(() => {})
  for (const bad of [undefined, null, 'handler', {}]) {
    t.throws(() => { app.cluster.onConfigReload(bad as never) }, TypeError, String(bad))
  }
})

t.test('registering the plugin twice is a no-op', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(clusterPlugin)
  const first = app.cluster
  await app.register(clusterPlugin)
  await app.register(async (child) => { await child.register(clusterPlugin) })
  await t.resolves(async () => { await app.ready() }, 'no FST_ERR_DEC_ALREADY_PRESENT, no duplicate route')
  t.equal(app.cluster, first)
  t.equal((await app.inject('/health')).statusCode, 200)
})

t.test('the decorator is visible in encapsulated child plugins', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(clusterPlugin)
  let seen: unknown
  await app.register(async (child) => { seen = child.cluster })
  await app.ready()
  t.equal(seen, app.cluster)
})

t.test('standalone SIGHUP runs the reload handlers with the current config', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  const calls: unknown[][] = []
  app.cluster.onConfigReload(async (next, previous) => { calls.push([next, previous]) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  // Call our listener directly rather than emitting SIGHUP at the whole test process.
  const onHangup = process.listeners('SIGHUP').find((listener) => listener.name === 'reloadOnHangup')
  if (onHangup === undefined) throw new Error('no SIGHUP listener installed')
  onHangup('SIGHUP')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(calls, [[{}, {}]])
})
