import Fastify from 'fastify'
import t, { type Test } from 'tap'
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

async function listening (t: Test, opts: Record<string, unknown> = {}) {
  const app = await build(opts)
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app
}

function signalListeners (): number[] {
  return (['SIGTERM', 'SIGINT', 'SIGHUP'] as const).map((signal) => process.listenerCount(signal))
}

t.test('/health body: status, pid, workerId null, uptime, state', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  const body = (await app.inject('/health')).json()
  t.same(Object.keys(body).sort(), ['pid', 'state', 'status', 'uptime', 'workerId'])
  t.match(body, { status: 'pass', pid: process.pid, workerId: null, state: 'starting' })
  t.ok(body.uptime > 0)
})

t.test('/ready before listen: 503 with retry-after, state starting, no ready worker', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  const res = await app.inject('/ready')
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '5')
  t.equal(res.headers['cache-control'], 'no-store')
  t.match(res.headers['content-type'], /^application\/health\+json/)
  t.match(res.json(), { status: 'fail', state: 'starting', pid: process.pid, workerId: null, workers: { ready: 0, total: 1 } })
})

t.test('/ready after listen: 200 pass, ready, one ready worker, no retry-after', async (t) => {
  const app = await listening(t)
  const res = await app.inject('/ready')
  t.equal(res.statusCode, 200)
  t.notOk('retry-after' in res.headers)
  t.match(res.json(), { status: 'pass', state: 'ready', workers: { ready: 1, total: 1 } })
  t.equal((await app.inject('/health')).json().state, 'ready')
})

t.test('retryAfter sets the retry-after header', async (t) => {
  const app = await build({ retryAfter: 0 })
  t.teardown(() => app.close())
  t.equal((await app.inject('/ready')).headers['retry-after'], '0')
})

t.test('HEAD answers like GET: same status and headers, no body', async (t) => {
  const app = await build()
  t.teardown(() => app.close())
  for (const url of ['/health', '/ready']) {
    const get = await app.inject({ method: 'GET', url })
    const head = await app.inject({ method: 'HEAD', url })
    t.equal(head.statusCode, get.statusCode, url)
    for (const name of ['content-type', 'cache-control', 'retry-after']) t.equal(head.headers[name], get.headers[name], `${url} ${name}`)
    t.equal(head.body, '', `${url} has no body`)
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.equal((await app.inject({ method: 'HEAD', url: '/ready' })).statusCode, 200, 'HEAD /ready after listen')
})

t.test('custom healthPath and readyPath replace the defaults', async (t) => {
  const app = await build({ healthPath: '/livez', readyPath: '/internal/readyz' })
  t.teardown(() => app.close())
  t.equal((await app.inject('/livez')).statusCode, 200)
  t.equal((await app.inject('/internal/readyz')).statusCode, 503)
  t.equal((await app.inject('/health')).statusCode, 404)
  t.equal((await app.inject('/ready')).statusCode, 404)
})

t.test('probe routes carry config.fclProbe so an app hook can let them through', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.addHook('onRequest', async (request, reply) => {
    const config = request.routeOptions.config as { fclProbe?: boolean }
    if (config.fclProbe === true) return
    return reply.code(401).send({ error: 'auth required' })
  })
  await app.register(clusterPlugin)
  app.get('/private', async () => ({ secret: true }))
  t.equal((await app.inject('/private')).statusCode, 401)
  t.equal((await app.inject('/health')).statusCode, 200)
  t.equal((await app.inject('/ready')).statusCode, 503, 'readiness answers itself, not the auth hook')
})

t.test('probes log at probeLogLevel (warn by default), so they do not flood info logs', async (t) => {
  const lines: string[] = []
  const logger = { level: 'info', stream: { write: (line: string) => { lines.push(line) } } }
  for (const [opts, expected] of [[{}, 0], [{ probeLogLevel: 'info' }, 2]] as const) {
    lines.length = 0
    const app = Fastify({ logger })
    await app.register(clusterPlugin, opts)
    await app.inject('/health')
    await app.close()
    t.equal(lines.filter((line) => /"msg":"(incoming request|request completed)"/.test(line)).length, expected, JSON.stringify(opts))
  }
})

t.test('during app.close() the state is draining in preClose, closed after', async (t) => {
  const app = await build()
  const seen: string[] = []
  app.addHook('preClose', async () => { seen.push(app.cluster.state) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  await app.close()
  t.same(seen, ['draining'])
  t.equal(app.cluster.state, 'closed')
})

t.test('standalone signal handlers exist only while listening', async (t) => {
  const before = signalListeners()
  const app = await build()
  t.same(signalListeners(), before, 'none before listen (inject-only tests keep their process)')
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.same(signalListeners(), before.map((n) => n + 1), 'SIGTERM, SIGINT and SIGHUP while listening')
  await app.close()
  t.same(signalListeners(), before, 'all removed on close')
})

t.test('handleSignals: false installs no signal handlers', async (t) => {
  const before = signalListeners()
  const app = await listening(t, { handleSignals: false })
  t.same(signalListeners(), before)
  t.equal((await app.inject('/ready')).statusCode, 200)
})
