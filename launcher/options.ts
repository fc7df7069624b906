import path from 'node:path'
import type { Logger } from 'pino'
import { ERROR_CODES, FclOptionsError } from '../lib/errors.js'
import { BALANCE_MODES, type Balance } from './balance.js'
import { defaultInstanceName, isInstanceName } from './control-path.js'
import { WATCHDOG_CHECK_MS } from './watchdog-timing.js'

// See docs/architecture.md, "Built-in modules": not an ES import, whose namespace loads all of node:fs.
const { statSync } = process.getBuiltinModule('node:fs')

export type TsLoader = 'auto' | 'tsx' | 'native'

/** What `launch()` takes; the CLI builds the same object from flags and environment. */
export interface LaunchOptions {
  /** The app's entry file (plugin-style or self-starting), relative to `cwd`. */
  entry: string
  /** A number, or `'auto'`: the CPUs this process may use (cgroup quota aware). Default `'auto'`. */
  workers?: number | 'auto'
  /** Default 3000. */
  port?: number
  /** Default `'localhost'`. */
  host?: string
  /** A JSON file whose object every worker sees as `fastify.cluster.config`; re-read on SIGHUP. */
  config?: string
  /** How long a stop may take before remaining workers are killed (ms). Default 30000. */
  graceTimeout?: number
  /** How long workers keep serving after a stop began, before they close (ms). Default 0. */
  drainDelay?: number
  /** How long a new worker may take to become ready (ms). Default 30000. */
  readyTimeout?: number
  /** Consecutive quick crashes of one worker before the launcher gives up. Default 10. */
  maxRestarts?: number
  /** A worker up this long (ms) has its crash streak reset. Default 30000. */
  minUptime?: number
  /** Delay (ms) before the second restart of a crash streak (the first is immediate), doubled per further crash. Default 100. */
  restartDelay?: number
  /** Ceiling of the restart delay (ms). Default 15000. */
  restartDelayMax?: number
  /**
   * A ready worker whose event loop has sent no heartbeat for this long (ms) is unresponsive:
   * its stack is logged, then it is killed and restarted. 0 turns the watchdog off (no
   * heartbeats, no stacks). Default 30000.
   */
  workerTimeout?: number
  /**
   * A stuck worker's stack is taken before it is killed: the primary opens the worker's
   * inspector with SIGUSR1 for a moment (stack-capture.ts); a healthy worker pays nothing.
   * False keeps the detection and the replacement, and never opens a debugger port. Default true.
   */
  workerStacks?: boolean
  /** Replace a worker whose RSS stays above this many MB; 0 turns it off. Default 0. */
  maxMemory?: number
  /**
   * Development: a change under the entry's directory rolls the workers (a change
   * to `config` reloads it instead). Default false.
   */
  watch?: boolean
  /** Human-readable logs instead of JSON lines (primary and workers). Default false. */
  prettyLogs?: boolean
  /** pino level for the primary and plugin-style workers. Default `'info'`. */
  logLevel?: string
  /** TypeScript entries: `auto` uses Node's own type stripping where it exists, else tsx. Default `'auto'`. */
  tsLoader?: TsLoader
  /**
   * How connections reach workers: `rr`, node:cluster's round-robin through the primary;
   * `reuseport`, every worker binds with SO_REUSEPORT and the kernel spreads connections
   * (Linux, Node >= 22.12 / 23.1, a fixed port). Default `'rr'`.
   */
  balance?: Balance
  /**
   * With `balance: 'sticky'`: every connection starts with a HAProxy PROXY protocol header (v1
   * or v2, as nginx `proxy_protocol` and HAProxy `send-proxy` send); the client it names is
   * what connections are routed by and what `request.ip` says. A connection without one is
   * closed. Default false.
   */
  proxyProtocol?: boolean
  /**
   * Prometheus metrics: every worker serves `GET /metrics` with the whole cluster's figures
   * (see README, Metrics). Default false.
   */
  metrics?: boolean
  /** Also serve the cluster's metrics from the primary on this port (implies `metrics`). Default none. */
  metricsPort?: number
  /** Host for `metricsPort`. Default `'127.0.0.1'`. */
  metricsHost?: string
  /**
   * The instance's name: its control socket is `<name>.sock`, and the CLI's
   * commands pick it with `--name`. 1-64 of `A-Z a-z 0-9 . _ -`. Default: the
   * entry's base name and the port, e.g. `server-3000`.
   */
  name?: string
  /** Open the control socket (`status`, `reload`, `scale`, `stop` commands). Default true. */
  control?: boolean
  /** Directory the entry and config paths are relative to. Default `process.cwd()`. */
  cwd?: string
  /** Extra environment for workers (on top of the primary's). */
  env?: Record<string, string>
  /** A pino logger for the primary's lines; default: a new one on stdout. */
  logger?: Logger
}

export interface ResolvedLaunchOptions {
  readonly entry: string
  readonly workers: number | 'auto'
  readonly port: number
  readonly host: string
  readonly config: string | null
  readonly graceTimeout: number
  readonly drainDelay: number
  readonly readyTimeout: number
  readonly maxRestarts: number
  readonly minUptime: number
  readonly restartDelay: number
  readonly restartDelayMax: number
  readonly workerTimeout: number
  readonly workerStacks: boolean
  readonly maxMemory: number
  readonly watch: boolean
  readonly prettyLogs: boolean
  readonly logLevel: string
  readonly tsLoader: TsLoader
  readonly balance: Balance
  readonly proxyProtocol: boolean
  readonly metrics: boolean
  readonly metricsPort: number | null
  readonly metricsHost: string
  readonly name: string
  readonly control: boolean
  readonly env: Readonly<Record<string, string>>
  readonly logger: Logger | null
}

export const LAUNCH_DEFAULTS = Object.freeze({
  workers: 'auto' as const,
  port: 3000,
  host: 'localhost',
  graceTimeout: 30000,
  drainDelay: 0,
  readyTimeout: 30000,
  maxRestarts: 10,
  minUptime: 30000,
  restartDelay: 100,
  restartDelayMax: 15000,
  workerTimeout: 30000,
  workerStacks: true,
  maxMemory: 0,
  watch: false,
  prettyLogs: false,
  logLevel: 'info',
  tsLoader: 'auto' as const,
  balance: 'rr' as const,
  proxyProtocol: false,
  metrics: false,
  metricsHost: '127.0.0.1',
  control: true
})

export const ENTRY_EXTENSIONS: readonly string[] = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']
const TS_EXTENSIONS: ReadonlySet<string> = new Set(['.ts', '.mts', '.cts'])
const LOG_LEVELS: ReadonlySet<string> = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
const KNOWN_KEYS: ReadonlySet<string> = new Set([
  'entry', 'config', 'cwd', 'env', 'logger', 'metricsPort', 'name', ...Object.keys(LAUNCH_DEFAULTS)
])

export function isTypeScriptEntry (entry: string): boolean {
  return TS_EXTENSIONS.has(path.extname(entry))
}

function fail (message: string, hint?: string, code: string = ERROR_CODES.LAUNCH_OPTIONS): never {
  throw new FclOptionsError(code, message, hint === undefined ? undefined : { hint })
}

function show (value: unknown): string {
  if (typeof value === 'string' || (typeof value === 'object' && value !== null)) return JSON.stringify(value)
  return String(value)
}

function integer (name: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`
    fail(`${name} must be a whole number ${range}, got ${show(value)}`)
  }
  return value
}

function checkEntry (entry: unknown, cwd: string): string {
  if (typeof entry !== 'string' || entry === '') {
    fail('no entry file given', 'pass the file that builds your app, e.g. fastify-cluster-launch server.ts', ERROR_CODES.CLI_USAGE)
  }
  const file = path.resolve(cwd, entry)
  let isFile = false
  try {
    isFile = statSync(file).isFile()
  } catch {
    fail(`entry file ${show(entry)} does not exist (looked for ${file})`, 'check the path; it is resolved from the current directory', ERROR_CODES.ENTRY_NOT_FOUND)
  }
  if (!isFile) fail(`entry ${show(entry)} is not a file`, 'pass the app\'s entry file, not a directory', ERROR_CODES.ENTRY_NOT_FOUND)
  if (!ENTRY_EXTENSIONS.includes(path.extname(file))) {
    fail(`entry ${show(entry)} has an unsupported extension`, `use one of ${ENTRY_EXTENSIONS.join(', ')}`)
  }
  return file
}

/** Validates once, before anything is read, forked or logged; never mutates `input`. */
export function resolveLaunchOptions (input: LaunchOptions): ResolvedLaunchOptions {
  if (typeof input !== 'object' || input === null) fail(`options must be an object, got ${show(input)}`)
  for (const key of Object.keys(input)) {
    if (!KNOWN_KEYS.has(key)) fail(`unknown option ${show(key)}`, `known options: ${[...KNOWN_KEYS].join(', ')}`)
  }
  const cwd = input.cwd ?? process.cwd()
  if (typeof cwd !== 'string') fail(`cwd must be a directory path, got ${show(cwd)}`)
  const entry = checkEntry(input.entry, cwd)

  const workers = input.workers ?? LAUNCH_DEFAULTS.workers
  if (workers !== 'auto') integer('workers', workers, 1, 1, 1024)
  const host = input.host ?? LAUNCH_DEFAULTS.host
  if (typeof host !== 'string' || host === '') fail(`host must be a host name or address, got ${show(host)}`)
  const config = input.config ?? null
  if (config !== null && (typeof config !== 'string' || config === '')) fail(`config must be a path to a JSON file, got ${show(config)}`)
  const logLevel = input.logLevel ?? LAUNCH_DEFAULTS.logLevel
  if (typeof logLevel !== 'string' || !LOG_LEVELS.has(logLevel)) fail(`logLevel must be one of ${[...LOG_LEVELS].join(', ')}, got ${show(logLevel)}`)
  const tsLoader = input.tsLoader ?? LAUNCH_DEFAULTS.tsLoader
  if (tsLoader !== 'auto' && tsLoader !== 'tsx' && tsLoader !== 'native') fail(`tsLoader must be auto, tsx or native, got ${show(tsLoader)}`)
  const balance = input.balance ?? LAUNCH_DEFAULTS.balance
  if (!BALANCE_MODES.includes(balance)) fail(`balance must be ${BALANCE_MODES.slice(0, -1).join(', ')} or ${BALANCE_MODES.at(-1) ?? ''}, got ${show(balance)}`)
  const control = input.control ?? LAUNCH_DEFAULTS.control
  if (typeof control !== 'boolean') fail(`control must be a boolean, got ${show(control)}`)
  const watch = input.watch ?? LAUNCH_DEFAULTS.watch
  if (typeof watch !== 'boolean') fail(`watch must be a boolean, got ${show(watch)}`)
  const prettyLogs = input.prettyLogs ?? LAUNCH_DEFAULTS.prettyLogs
  if (typeof prettyLogs !== 'boolean') fail(`prettyLogs must be a boolean, got ${show(prettyLogs)}`)
  const env = input.env ?? {}
  if (typeof env !== 'object' || env === null || Array.isArray(env) || Object.values(env).some((v) => typeof v !== 'string')) {
    fail('env must be an object of strings')
  }
  const restartDelay = integer('restartDelay', input.restartDelay, LAUNCH_DEFAULTS.restartDelay, 0)
  const restartDelayMax = integer('restartDelayMax', input.restartDelayMax, LAUNCH_DEFAULTS.restartDelayMax, 0)
  if (restartDelayMax < restartDelay) fail(`restartDelayMax (${restartDelayMax}) must not be below restartDelay (${restartDelay})`)

  const workerTimeout = integer('workerTimeout', input.workerTimeout, LAUNCH_DEFAULTS.workerTimeout, 0)
  // The primary looks once a second: a shorter timeout could not be told from a missed look.
  if (workerTimeout !== 0 && workerTimeout < WATCHDOG_CHECK_MS) {
    fail(`workerTimeout must be 0 (off) or at least ${WATCHDOG_CHECK_MS} ms (the watchdog checks once a second), got ${workerTimeout}`)
  }

  const workerStacks = input.workerStacks ?? LAUNCH_DEFAULTS.workerStacks
  if (typeof workerStacks !== 'boolean') fail(`workerStacks must be a boolean, got ${show(workerStacks)}`)

  const graceTimeout = integer('graceTimeout', input.graceTimeout, LAUNCH_DEFAULTS.graceTimeout, 1)
  const drainDelay = integer('drainDelay', input.drainDelay, LAUNCH_DEFAULTS.drainDelay, 0)
  // The grace timeout counts from the stop signal, drain delay included (as
  // Kubernetes counts terminationGracePeriodSeconds), so the delay must leave room.
  if (drainDelay >= graceTimeout) fail(`drainDelay (${drainDelay}) must be below graceTimeout (${graceTimeout})`, 'the grace timeout counts from the stop signal and includes the drain delay')

  const port = integer('port', input.port, LAUNCH_DEFAULTS.port, 0, 65535)
  const metricsPort = input.metricsPort === undefined ? null : integer('metricsPort', input.metricsPort, 0, 1, 65535)
  if (metricsPort !== null && metricsPort === port) fail(`metricsPort must differ from port, both are ${port}`, 'the metrics listener is the primary\'s own; the app port already serves /metrics')
  const metricsHost = input.metricsHost ?? LAUNCH_DEFAULTS.metricsHost
  if (typeof metricsHost !== 'string' || metricsHost === '') fail(`metricsHost must be a host name or address, got ${show(metricsHost)}`)
  const metrics = input.metrics ?? LAUNCH_DEFAULTS.metrics
  if (typeof metrics !== 'boolean') fail(`metrics must be a boolean, got ${show(metrics)}`)
  // Port 0 means "any free port" to each bind: every reuseport worker would get a different one.
  const proxyProtocol = input.proxyProtocol ?? LAUNCH_DEFAULTS.proxyProtocol
  if (typeof proxyProtocol !== 'boolean') fail(`proxyProtocol must be a boolean, got ${show(proxyProtocol)}`)
  // Only a primary that reads each connection first can take the header off it.
  if (proxyProtocol && balance !== 'sticky') fail(`proxyProtocol needs balance sticky, got balance ${balance}`, 'add --balance sticky: the primary then reads the header and routes by the client it names')
  if (balance === 'reuseport' && port === 0) fail('balance reuseport needs a fixed port, got port 0', 'pick a port, or use --balance rr, where the primary picks one free port for all workers')
  const name = input.name ?? defaultInstanceName(entry, port)
  if (!isInstanceName(name)) fail(`name must be 1-64 characters from A-Z a-z 0-9 . _ -, got ${show(name)}`, 'the name becomes the control socket\'s file name (<name>.sock)')

  return Object.freeze({
    entry,
    workers,
    port,
    host,
    config: config === null ? null : path.resolve(cwd, config),
    graceTimeout,
    drainDelay,
    readyTimeout: integer('readyTimeout', input.readyTimeout, LAUNCH_DEFAULTS.readyTimeout, 1),
    maxRestarts: integer('maxRestarts', input.maxRestarts, LAUNCH_DEFAULTS.maxRestarts, 0),
    minUptime: integer('minUptime', input.minUptime, LAUNCH_DEFAULTS.minUptime, 0),
    restartDelay,
    restartDelayMax,
    workerTimeout,
    workerStacks,
    maxMemory: integer('maxMemory', input.maxMemory, LAUNCH_DEFAULTS.maxMemory, 0),
    watch,
    prettyLogs,
    logLevel,
    tsLoader,
    balance,
    proxyProtocol,
    // A metrics port without metrics would serve nothing; asking for one means wanting them.
    metrics: metrics || metricsPort !== null,
    metricsPort,
    metricsHost,
    name,
    control,
    env: Object.freeze({ ...env }),
    logger: input.logger ?? null
  })
}
