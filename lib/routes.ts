import type { FastifyInstance, FastifyReply } from 'fastify'
import type { ResolvedPluginOptions } from './options.js'
import type { InstanceView } from './protocol.js'
import type { ReadinessState } from './readiness.js'

/** What the routes need to know; the plugin supplies live getters. */
export interface ProbeSource {
  readonly pid: number
  readonly workerId: number | null
  readonly state: ReadinessState
  /** The primary's last view of the instance, or null standalone. */
  readonly instance: InstanceView | null
}

const HEALTH_JSON = 'application/health+json; charset=utf-8'

/** Routes are tagged so an app's own hooks (auth, rate limits) can let probes through. */
export const PROBE_ROUTE_CONFIG = Object.freeze({ fclProbe: true })

export function uptimeSeconds (): number {
  return Math.round(process.uptime() * 1000) / 1000
}

function probeHeaders (reply: FastifyReply): FastifyReply {
  return reply.type(HEALTH_JSON).header('cache-control', 'no-store')
}

/**
 * What `/ready` says. A worker is ready when it is itself ready and the instance
 * is not shutting down: the primary flips every worker to draining at once, so a
 * load balancer probing any of them sees the same answer.
 */
export function readinessReport (source: ProbeSource): { ok: boolean, state: ReadinessState, workers: { ready: number, total: number } } {
  const instance = source.instance
  const instanceDraining = instance?.state === 'draining'
  const state: ReadinessState = source.state === 'ready' && instanceDraining ? 'draining' : source.state
  const ok = state === 'ready'
  const workers = instance === null
    ? { ready: ok ? 1 : 0, total: 1 }
    : { ready: instance.ready, total: instance.total }
  return { ok, state, workers }
}

export function registerProbeRoutes (fastify: FastifyInstance, options: ResolvedPluginOptions, source: ProbeSource): void {
  const logLevel = options.probeLogLevel

  // GET also answers HEAD (Fastify's exposeHeadRoutes default), with the same status and headers.
  fastify.get(options.healthPath, { logLevel, config: PROBE_ROUTE_CONFIG }, function health (_request, reply) {
    // Liveness answers as long as the event loop turns, draining or not: failing it
    // would make Kubernetes restart a pod that is merely shutting down or busy.
    return probeHeaders(reply).code(200).send({
      status: 'pass',
      pid: source.pid,
      workerId: source.workerId,
      uptime: uptimeSeconds(),
      state: source.state
    })
  })

  fastify.get(options.readyPath, { logLevel, config: PROBE_ROUTE_CONFIG }, function ready (_request, reply) {
    const report = readinessReport(source)
    probeHeaders(reply)
    if (!report.ok) reply.header('retry-after', String(options.retryAfter))
    return reply.code(report.ok ? 200 : 503).send({
      status: report.ok ? 'pass' : 'fail',
      state: report.state,
      pid: source.pid,
      workerId: source.workerId,
      workers: report.workers
    })
  })
}
