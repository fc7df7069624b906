import type { LogLevel } from 'fastify'
import type { Registry } from 'prom-client'
import { ERROR_CODES, FclOptionsError } from './errors.js'

export interface MetricsOptions {
  /** The route that serves the metrics. Default `/metrics`. */
  path?: string
  /**
   * The prom-client registry to expose (and, under the launcher, to aggregate). Default: prom-client's
   * global registry, as loaded by this package; pass yours if your app has a copy of prom-client of its own.
   */
  registry?: Registry
  /** prom-client's `collectDefaultMetrics()` (process CPU, memory, event loop, GC). Default true. */
  defaultMetrics?: boolean
  /** `http_requests_total` and `http_request_duration_seconds` by method, route and status code. Default true. */
  httpMetrics?: boolean
}

export interface ResolvedMetricsOptions {
  readonly path: string
  readonly registry: Registry | null
  readonly defaultMetrics: boolean
  readonly httpMetrics: boolean
}

export interface ClusterPluginOptions {
  /** Liveness route. Default `/health`. */
  healthPath?: string
  /** Readiness route. Default `/ready`. */
  readyPath?: string
  /**
   * Standalone only: after SIGTERM/SIGINT keep serving this long (ms), with
   * `Connection: close` on every response and `/ready` failing, before closing.
   * Under the launcher the primary's `--drain-delay` applies instead. Default 0.
   */
  drainDelay?: number
  /** Standalone only: a close still running after this many ms exits the process with code 1. Default 30000. */
  gracefulTimeout?: number
  /** Standalone only: install the SIGTERM/SIGINT/SIGHUP handlers. Default true. */
  handleSignals?: boolean
  /** Log level of the probe routes, so probes every 2 s do not flood info logs. Default `'warn'`. */
  probeLogLevel?: LogLevel
  /** Seconds sent in `Retry-After` with a 503 from the readiness route. Default 5. */
  retryAfter?: number
  /**
   * Prometheus metrics: `true` or options turn them on. Under the launcher `--metrics` turns them on
   * in every worker whatever this says, and `GET /metrics` answers with the whole cluster's figures.
   * Default off.
   */
  metrics?: boolean | MetricsOptions
}

export interface ResolvedPluginOptions {
  readonly healthPath: string
  readonly readyPath: string
  readonly drainDelay: number
  readonly gracefulTimeout: number
  readonly handleSignals: boolean
  readonly probeLogLevel: LogLevel
  readonly retryAfter: number
  /** Null: off unless the launcher's `--metrics` turns them on. */
  readonly metrics: ResolvedMetricsOptions | null
}

export const METRICS_DEFAULTS: ResolvedMetricsOptions = Object.freeze({
  path: '/metrics',
  registry: null,
  defaultMetrics: true,
  httpMetrics: true
})

export const PLUGIN_DEFAULTS: ResolvedPluginOptions = Object.freeze({
  healthPath: '/health',
  readyPath: '/ready',
  drainDelay: 0,
  gracefulTimeout: 30000,
  handleSignals: true,
  probeLogLevel: 'warn',
  retryAfter: 5,
  metrics: null
})

const LOG_LEVELS: ReadonlySet<string> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

function fail (message: string): never {
  throw new FclOptionsError(ERROR_CODES.PLUGIN_OPTIONS, `fastify-cluster-launch: ${message}`)
}

function describe (value: unknown): string {
  if (typeof value === 'string' || (typeof value === 'object' && value !== null)) return JSON.stringify(value)
  return String(value)
}

function pathOption (name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback
  if (typeof value !== 'string' || !value.startsWith('/') || /\s/.test(value)) {
    fail(`option "${name}" must be a path starting with "/", got ${describe(value)}`)
  }
  return value
}

function msOption (name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(`option "${name}" must be an integer number of milliseconds >= ${min}, got ${describe(value)}`)
  }
  return value
}

function metricsOption (value: unknown): ResolvedMetricsOptions | null {
  if (value === undefined || value === false) return null
  if (value === true) return METRICS_DEFAULTS
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(`option "metrics" must be a boolean or an object, got ${describe(value)}`)
  }
  const raw = value as Record<string, unknown>
  const registry = raw.registry ?? null
  // Duck-typed: the app's prom-client may be another copy than ours, so instanceof would lie.
  if (registry !== null && typeof (registry as { getMetricsAsJSON?: unknown }).getMetricsAsJSON !== 'function') {
    fail('option "metrics.registry" must be a prom-client Registry')
  }
  for (const key of ['defaultMetrics', 'httpMetrics'] as const) {
    if (raw[key] !== undefined && typeof raw[key] !== 'boolean') fail(`option "metrics.${key}" must be a boolean, got ${describe(raw[key])}`)
  }
  return Object.freeze({
    path: pathOption('metrics.path', raw.path, METRICS_DEFAULTS.path),
    registry: registry as Registry | null,
    defaultMetrics: (raw.defaultMetrics as boolean | undefined) ?? METRICS_DEFAULTS.defaultMetrics,
    httpMetrics: (raw.httpMetrics as boolean | undefined) ?? METRICS_DEFAULTS.httpMetrics
  })
}

/**
 * Validates once, before the plugin touches the instance; never mutates `input`.
 * Fastify hands plugins an options object it owns, so extra keys it adds
 * (`prefix`, `logLevel`, ...) must not count as mistakes; only our own keys are checked.
 */
export function resolvePluginOptions (input: unknown): ResolvedPluginOptions {
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    fail(`options must be an object, got ${describe(input)}`)
  }
  const raw = (input ?? {}) as Record<string, unknown>
  const healthPath = pathOption('healthPath', raw.healthPath, PLUGIN_DEFAULTS.healthPath)
  const readyPath = pathOption('readyPath', raw.readyPath, PLUGIN_DEFAULTS.readyPath)
  if (healthPath === readyPath) fail(`options "healthPath" and "readyPath" must differ, both are "${healthPath}"`)
  const handleSignals = raw.handleSignals ?? PLUGIN_DEFAULTS.handleSignals
  if (typeof handleSignals !== 'boolean') fail(`option "handleSignals" must be a boolean, got ${describe(handleSignals)}`)
  const probeLogLevel = raw.probeLogLevel ?? PLUGIN_DEFAULTS.probeLogLevel
  if (typeof probeLogLevel !== 'string' || !LOG_LEVELS.has(probeLogLevel)) {
    fail(`option "probeLogLevel" must be one of ${[...LOG_LEVELS].join(', ')}, got ${describe(probeLogLevel)}`)
  }
  const retryAfter = raw.retryAfter ?? PLUGIN_DEFAULTS.retryAfter
  if (typeof retryAfter !== 'number' || !Number.isInteger(retryAfter) || retryAfter < 0) {
    fail(`option "retryAfter" must be a whole number of seconds >= 0, got ${describe(retryAfter)}`)
  }
  const metrics = metricsOption(raw.metrics)
  if (metrics !== null && (metrics.path === healthPath || metrics.path === readyPath)) {
    fail(`option "metrics.path" must differ from the probe routes, got "${metrics.path}"`)
  }
  return Object.freeze({
    healthPath,
    readyPath,
    metrics,
    drainDelay: msOption('drainDelay', raw.drainDelay, PLUGIN_DEFAULTS.drainDelay, 0),
    gracefulTimeout: msOption('gracefulTimeout', raw.gracefulTimeout, PLUGIN_DEFAULTS.gracefulTimeout, 1),
    handleSignals,
    probeLogLevel: probeLogLevel as LogLevel,
    retryAfter
  })
}
