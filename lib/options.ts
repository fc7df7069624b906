import type { LogLevel } from 'fastify'
import { ERROR_CODES, FclOptionsError } from './errors.js'

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
}

export interface ResolvedPluginOptions {
  readonly healthPath: string
  readonly readyPath: string
  readonly drainDelay: number
  readonly gracefulTimeout: number
  readonly handleSignals: boolean
  readonly probeLogLevel: LogLevel
  readonly retryAfter: number
}

export const PLUGIN_DEFAULTS: ResolvedPluginOptions = Object.freeze({
  healthPath: '/health',
  readyPath: '/ready',
  drainDelay: 0,
  gracefulTimeout: 30000,
  handleSignals: true,
  probeLogLevel: 'warn',
  retryAfter: 5
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
  return Object.freeze({
    healthPath,
    readyPath,
    drainDelay: msOption('drainDelay', raw.drainDelay, PLUGIN_DEFAULTS.drainDelay, 0),
    gracefulTimeout: msOption('gracefulTimeout', raw.gracefulTimeout, PLUGIN_DEFAULTS.gracefulTimeout, 1),
    handleSignals,
    probeLogLevel: probeLogLevel as LogLevel,
    retryAfter
  })
}

