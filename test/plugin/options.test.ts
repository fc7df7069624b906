import Fastify from 'fastify'
import t from 'tap'
import clusterPlugin, { METRICS_DEFAULTS, PLUGIN_DEFAULTS } from '../../lib/index.js'

/** Registers the plugin with `opts` on a fresh app and waits for ready; always closes the app. */
async function register (opts: unknown): Promise<void> {
  const app = Fastify()
  try {
    await app.register(clusterPlugin, opts as Record<string, unknown>)
    await app.ready()
  } finally {
    await app.close().catch(() => {})
  }
}

const PLUGIN = { name: 'FclOptionsError', code: 'FCL_ERR_PLUGIN_OPTIONS' }

t.test('invalid options reject with FCL_ERR_PLUGIN_OPTIONS naming the option', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [{ healthPath: 'health' }, /"healthPath" must be a path starting with "\/"/],
    [{ readyPath: '/re ady' }, /"readyPath"/],
    [{ healthPath: 42 }, /"healthPath"/],
    [{ healthPath: '/probe', readyPath: '/probe' }, /"healthPath" and "readyPath" must differ/],
    [{ readyPath: '/health' }, /"healthPath" and "readyPath" must differ/],
    [{ drainDelay: -1 }, /"drainDelay".*>= 0, got -1/],
    [{ drainDelay: 1.5 }, /"drainDelay"/],
    [{ gracefulTimeout: 0 }, /"gracefulTimeout"/],
    [{ handleSignals: 'yes' }, /"handleSignals" must be a boolean, got "yes"/],
    [{ handleSignals: 1 }, /"handleSignals"/],
    [{ probeLogLevel: 'loud' }, /"probeLogLevel" must be one of .*warn/],
    [{ retryAfter: -1 }, /"retryAfter".*got -1/],
    [{ retryAfter: '5' }, /"retryAfter"/],
    ['opts', /options must be an object, got "opts"/],
    [42, /options must be an object, got 42/],
    [[], /options must be an object/]
  ]
  for (const [opts, message] of bad) {
    await t.rejects(register(opts), { ...PLUGIN, message }, JSON.stringify(opts))
  }
})

t.test('a function returning options is validated the same way', async (t) => {
  await t.rejects(register(() => ({ healthPath: 'x' })), { ...PLUGIN, message: /"healthPath"/ })
})

t.test('no options, empty options and null options all mean the defaults', async (t) => {
  for (const opts of [undefined, {}, null]) await t.resolves(register(opts), String(opts))
})

t.test('valid options are accepted and not mutated', async (t) => {
  const opts = { healthPath: '/livez', readyPath: '/readyz', drainDelay: 10, gracefulTimeout: 500, handleSignals: false, probeLogLevel: 'silent', retryAfter: 0 }
  const copy = structuredClone(opts)
  await t.resolves(register(Object.freeze(opts)))
  t.same(opts, copy)
})

t.test('keys Fastify adds (prefix, logLevel) are not mistakes', async (t) => {
  await t.resolves(register({ prefix: '/v1', logLevel: 'info' }))
})

t.test('PLUGIN_DEFAULTS is frozen and documents every option', async (t) => {
  t.ok(Object.isFrozen(PLUGIN_DEFAULTS))
  t.same(PLUGIN_DEFAULTS, { healthPath: '/health', readyPath: '/ready', drainDelay: 0, gracefulTimeout: 30000, handleSignals: true, probeLogLevel: 'warn', retryAfter: 5, metrics: null })
  t.ok(Object.isFrozen(METRICS_DEFAULTS))
  t.same(METRICS_DEFAULTS, { path: '/metrics', registry: null, defaultMetrics: true, httpMetrics: true })
})
