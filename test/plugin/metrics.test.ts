import Fastify from 'fastify'
import { Counter, Registry, register as globalRegistry } from 'prom-client'
import t from 'tap'
import clusterPlugin from '../../lib/index.js'
import { sampleSum } from '../helpers/metrics.js'

const PLUGIN = { name: 'FclOptionsError', code: 'FCL_ERR_PLUGIN_OPTIONS' }

t.test('standalone, metrics: true serves this process\'s registry with HTTP metrics', async (t) => {
  const registry = new Registry()
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(clusterPlugin, { handleSignals: false, metrics: { registry, defaultMetrics: false } })
  app.get('/hello/:name', async () => ({ hi: true }))
  await app.inject('/hello/a')
  await app.inject('/hello/b')
  await app.inject('/nowhere')
  const res = await app.inject('/metrics')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.equal(res.headers['cache-control'], 'no-store')
  t.equal(sampleSum(res.body, 'http_requests_total', { route: '/hello/:name', status_code: '200' }), 2, 'labelled by route pattern, not URL')
  t.equal(sampleSum(res.body, 'http_requests_total', { route: '(unmatched)', status_code: '404' }), 1)
  t.equal(sampleSum(res.body, 'http_request_duration_seconds_count', { route: '/hello/:name' }), 2)
  t.ok(Number.isNaN(sampleSum(res.body, 'process_cpu_seconds_total')), 'defaultMetrics: false')
})

t.test('default metrics and the app\'s own metrics on the chosen registry', async (t) => {
  const registry = new Registry()
  const mine = new Counter({ name: 'my_jobs_total', help: 'jobs', registers: [registry] })
  mine.inc(3)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(clusterPlugin, { handleSignals: false, metrics: { registry, path: '/internal/metrics' } })
  const res = await app.inject('/internal/metrics')
  t.equal(sampleSum(res.body, 'my_jobs_total'), 3)
  t.ok(sampleSum(res.body, 'process_cpu_seconds_total') >= 0, 'prom-client default metrics')
  t.equal((await app.inject('/metrics')).statusCode, 404, 'only the configured path')
})

t.test('two apps in one process share the HTTP metrics of one registry', async (t) => {
  const registry = new Registry()
  const apps = [Fastify(), Fastify()]
  t.teardown(() => Promise.all(apps.map((a) => a.close())))
  for (const app of apps) {
    await app.register(clusterPlugin, { handleSignals: false, metrics: { registry, defaultMetrics: false } })
    app.get('/', async () => 'ok')
  }
  await apps[0]?.inject('/')
  await apps[1]?.inject('/')
  t.equal(sampleSum(await registry.metrics(), 'http_requests_total', { route: '/' }), 2)
})

t.test('a foreign metric with our name is a clear error; httpMetrics: false keeps yours', async (t) => {
  const registry = new Registry()
  void new Counter({ name: 'http_requests_total', help: 'mine', labelNames: ['path'], registers: [registry] })
  const app = Fastify()
  t.teardown(() => app.close())
  await t.rejects(async () => { await app.register(clusterPlugin, { handleSignals: false, metrics: { registry, defaultMetrics: false } }) },
    { code: 'FCL_ERR_PLUGIN_OPTIONS', message: /already has a metric named http_requests_total/ })
  const other = Fastify()
  t.teardown(() => other.close())
  await other.register(clusterPlugin, { handleSignals: false, metrics: { registry, defaultMetrics: false, httpMetrics: false } })
  t.equal((await other.inject('/metrics')).statusCode, 200)
})

t.test('metrics are off by default', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(clusterPlugin, { handleSignals: false })
  t.equal((await app.inject('/metrics')).statusCode, 404)
  t.equal(globalRegistry.getSingleMetric('http_requests_total'), undefined, 'nothing registered on the global registry')
})

t.test('invalid metrics options reject with FCL_ERR_PLUGIN_OPTIONS', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    ['yes', /"metrics" must be a boolean or an object, got "yes"/],
    [{ path: 'metrics' }, /"metrics\.path" must be a path starting with "\/"/],
    [{ path: '/health' }, /"metrics\.path" must differ from the probe routes/],
    [{ registry: {} }, /"metrics\.registry" must be a prom-client Registry/],
    [{ defaultMetrics: 'no' }, /"metrics\.defaultMetrics" must be a boolean/],
    [{ httpMetrics: 1 }, /"metrics\.httpMetrics" must be a boolean/]
  ]
  for (const [metrics, message] of bad) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(clusterPlugin, { metrics } as Record<string, unknown>) }, { ...PLUGIN, message }, JSON.stringify(metrics))
    await app.close().catch(() => {})
  }
})
