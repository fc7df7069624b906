/**
 * Worker side of the metrics: prom-client's registry as usual, HTTP request
 * metrics from Fastify hooks, and a `/metrics` route. Under the launcher that
 * route answers with the whole cluster (the primary collects every worker),
 * because a scrape lands on one worker and one worker's counters are not the
 * service's: Prometheus would see N braided series and a reset at every switch.
 *
 * HTTP metrics come from two hooks rather than fastify-metrics: its current major
 * has moved off prom-client, and prom-client already does the bookkeeping.
 */
import type { FastifyInstance } from 'fastify'
import type { Counter, Histogram, Registry } from 'prom-client'
import { ERROR_CODES, FclError } from './errors.js'
import type { ResolvedMetricsOptions } from './options.js'
import type { WorkerLink } from './worker-link.js'

type HttpLabels = 'method' | 'route' | 'status_code'
interface HttpMetrics {
  requests: Counter<HttpLabels>
  duration: Histogram<HttpLabels>
}

/**
 * A worker waits this long for the primary's aggregate; the primary itself gives a slow
 * worker 2 s (see launcher/cluster-metrics.ts), so this only trips when the primary is stuck.
 */
const SCRAPE_TIMEOUT_MS = 5000

// Per registry, so several Fastify instances in one process (tests, multi-app
// servers) share one set of HTTP metrics instead of failing on a duplicate name.
const httpMetricsByRegistry = new WeakMap<Registry, HttpMetrics>()
const withDefaultMetrics = new WeakSet<Registry>()

type PromClient = typeof import('prom-client')

function httpMetricsFor (prom: PromClient, registry: Registry): HttpMetrics {
  const existing = httpMetricsByRegistry.get(registry)
  if (existing !== undefined) return existing
  for (const name of ['http_requests_total', 'http_request_duration_seconds']) {
    if (registry.getSingleMetric(name) !== undefined) {
      throw new FclError(ERROR_CODES.PLUGIN_OPTIONS, `fastify-cluster-launch: the registry already has a metric named ${name}`, {
        hint: 'set metrics: { httpMetrics: false } to keep your own HTTP metrics'
      })
    }
  }
  const labelNames = ['method', 'route', 'status_code'] as const
  const metrics: HttpMetrics = {
    requests: new prom.Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route and status code', labelNames, registers: [registry] }),
    duration: new prom.Histogram({ name: 'http_request_duration_seconds', help: 'HTTP response time in seconds, by method, route and status code', labelNames, registers: [registry] })
  }
  httpMetricsByRegistry.set(registry, metrics)
  return metrics
}

export async function registerMetrics (fastify: FastifyInstance, options: ResolvedMetricsOptions, link: WorkerLink): Promise<void> {
  // Loaded only when metrics are on: a worker without them pays nothing.
  const prom = await import('prom-client')
  const registry = options.registry ?? prom.register

  if (options.defaultMetrics && !withDefaultMetrics.has(registry) && registry.getSingleMetric('process_cpu_seconds_total') === undefined) {
    prom.collectDefaultMetrics({ register: registry })
    withDefaultMetrics.add(registry)
  }

  if (options.httpMetrics) {
    const http = httpMetricsFor(prom, registry)
    // A callback hook: it runs on every response, and an async one costs a promise each time.
    fastify.addHook('onResponse', function countRequest (request, reply, done) {
      // The route pattern, never the raw URL: label values must stay few.
      const labels = { method: request.method, route: request.routeOptions.url ?? '(unmatched)', status_code: String(reply.statusCode) }
      http.requests.inc(labels)
      http.duration.observe(labels, reply.elapsedTime / 1000)
      done()
    })
  }

  fastify.get(options.path, { logLevel: 'warn' }, async function metricsRoute (request, reply) {
    reply.header('cache-control', 'no-store')
    if (!link.active) {
      reply.type(registry.contentType)
      return await registry.metrics()
    }
    try {
      const { text, contentType } = await link.requestClusterMetrics(SCRAPE_TIMEOUT_MS)
      reply.type(contentType)
      return text
    } catch (err) {
      request.log.error({ err }, 'cluster metrics unavailable')
      reply.code(503).type('text/plain; charset=utf-8')
      return `cluster metrics unavailable: ${(err as Error).message}\n`
    }
  })

  if (link.active) link.setMetricsSource(async function snapshot () { return await registry.getMetricsAsJSON() })
}
