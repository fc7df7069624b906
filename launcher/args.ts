import { ERROR_CODES, FclOptionsError } from '../lib/errors.js'
import { BALANCE_MODES } from './balance.js'
import type { ControlInvocation } from './control-command.js'
import { isInstanceName } from './control-path.js'
import { CONTROL_COMMANDS, type ControlCommand, type ControlRequest } from './control-protocol.js'
import { LAUNCH_DEFAULTS, type LaunchOptions } from './options.js'

// See docs/architecture.md, "Built-in modules": not an ES import, whose namespace loads all of node:util.
const { parseArgs } = process.getBuiltinModule('node:util')

/**
 * Turns argv and the environment into `LaunchOptions`, or into a command for a
 * running instance (`status`, `reload`, ...): pure (no reads, no exits), so every
 * flag is unit-tested. Precedence: defaults < environment < flags. Ranges and the
 * entry file are checked once more by `resolveLaunchOptions`.
 */
export type CliCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'launch', options: LaunchOptions }
  | { kind: 'control' } & ControlInvocation

type Kind = 'int' | 'workers' | 'string' | 'boolean' | 'choice'

export interface FlagSpec {
  key: keyof LaunchOptions
  flag: string
  short?: string
  env: string
  kind: Kind
  value: string
  help: string
  /** For `choice` flags: the accepted values. */
  choices?: readonly string[]
  /** A `--no-...` flag: present means false (its env var still reads as itself). */
  negated?: boolean
}

export const FLAGS: readonly FlagSpec[] = [
  { key: 'workers', flag: 'workers', short: 'w', env: 'WEB_CONCURRENCY', kind: 'workers', value: '<n|auto>', help: 'worker processes; auto = CPUs this process may use (cgroup quota aware)' },
  { key: 'port', flag: 'port', short: 'p', env: 'PORT', kind: 'int', value: '<port>', help: `port to listen on (default ${LAUNCH_DEFAULTS.port})` },
  { key: 'host', flag: 'host', env: 'HOST', kind: 'string', value: '<host>', help: `host to listen on (default ${LAUNCH_DEFAULTS.host})` },
  { key: 'config', flag: 'config', short: 'c', env: 'FCL_CONFIG', kind: 'string', value: '<file.json>', help: 'JSON config for fastify.cluster.config; re-read on SIGHUP' },
  { key: 'graceTimeout', flag: 'grace-timeout', env: 'FCL_GRACE_TIMEOUT', kind: 'int', value: '<ms>', help: `a stop may take this long, then workers are killed (default ${LAUNCH_DEFAULTS.graceTimeout})` },
  { key: 'drainDelay', flag: 'drain-delay', env: 'FCL_DRAIN_DELAY', kind: 'int', value: '<ms>', help: `keep serving this long after a stop began (default ${LAUNCH_DEFAULTS.drainDelay})` },
  { key: 'readyTimeout', flag: 'ready-timeout', env: 'FCL_READY_TIMEOUT', kind: 'int', value: '<ms>', help: `a new worker must be ready within this (default ${LAUNCH_DEFAULTS.readyTimeout})` },
  { key: 'maxRestarts', flag: 'max-restarts', env: 'FCL_MAX_RESTARTS', kind: 'int', value: '<n>', help: `quick crashes in a row before giving up (default ${LAUNCH_DEFAULTS.maxRestarts})` },
  { key: 'minUptime', flag: 'min-uptime', env: 'FCL_MIN_UPTIME', kind: 'int', value: '<ms>', help: `uptime that resets a worker's crash streak (default ${LAUNCH_DEFAULTS.minUptime})` },
  { key: 'restartDelay', flag: 'restart-delay', env: 'FCL_RESTART_DELAY', kind: 'int', value: '<ms>', help: `delay before the second restart of a crash streak (the first is immediate), doubled per further crash (default ${LAUNCH_DEFAULTS.restartDelay})` },
  { key: 'restartDelayMax', flag: 'restart-delay-max', env: 'FCL_RESTART_DELAY_MAX', kind: 'int', value: '<ms>', help: `restart delay ceiling (default ${LAUNCH_DEFAULTS.restartDelayMax})` },
  { key: 'workerTimeout', flag: 'worker-timeout', env: 'FCL_WORKER_TIMEOUT', kind: 'int', value: '<ms>', help: `replace a ready worker whose event loop has not turned for this long, after logging its stack (default ${LAUNCH_DEFAULTS.workerTimeout}; 0 = off)` },
  { key: 'workerStacks', flag: 'no-worker-stacks', env: 'FCL_WORKER_STACKS', kind: 'boolean', negated: true, value: '', help: 'find and replace stuck workers without taking their stack: never opens a worker\'s inspector (FCL_WORKER_STACKS=0 does the same)' },
  { key: 'maxMemory', flag: 'max-memory', env: 'FCL_MAX_MEMORY', kind: 'int', value: '<MB>', help: 'replace a worker whose RSS stays above this (default 0 = off)' },
  { key: 'watch', flag: 'watch', env: 'FCL_WATCH', kind: 'boolean', value: '', help: 'development: roll the workers when a file under the entry\'s directory changes' },
  { key: 'logLevel', flag: 'log-level', env: 'FCL_LOG_LEVEL', kind: 'string', value: '<level>', help: `pino level (default ${LAUNCH_DEFAULTS.logLevel})` },
  { key: 'tsLoader', flag: 'ts-loader', env: 'FCL_TS_LOADER', kind: 'choice', choices: ['auto', 'tsx', 'native'], value: '<auto|tsx|native>', help: 'how .ts entries run (default auto: native type stripping where Node has it, else tsx)' },
  { key: 'balance', flag: 'balance', env: 'FCL_BALANCE', kind: 'choice', choices: BALANCE_MODES, value: '<rr|reuseport|sticky>', help: `how connections reach workers: rr = round-robin in the primary, reuseport = kernel SO_REUSEPORT (Linux, Node >= 22.12), sticky = by client address, so a client keeps its worker (default ${LAUNCH_DEFAULTS.balance})` },
  { key: 'proxyProtocol', flag: 'proxy-protocol', env: 'FCL_PROXY_PROTOCOL', kind: 'boolean', value: '', help: 'with --balance sticky: every connection starts with a PROXY protocol header (v1 or v2) that names the client' },
  { key: 'metrics', flag: 'metrics', env: 'FCL_METRICS', kind: 'boolean', value: '', help: 'Prometheus metrics: GET /metrics on the app port answers for the whole cluster' },
  { key: 'metricsPort', flag: 'metrics-port', env: 'FCL_METRICS_PORT', kind: 'int', value: '<port>', help: 'also serve the cluster metrics from the primary on this port (implies --metrics)' },
  { key: 'metricsHost', flag: 'metrics-host', env: 'FCL_METRICS_HOST', kind: 'string', value: '<host>', help: `host for --metrics-port (default ${LAUNCH_DEFAULTS.metricsHost})` },
  { key: 'prettyLogs', flag: 'pretty-logs', env: 'FCL_PRETTY_LOGS', kind: 'boolean', value: '', help: 'human-friendly logs instead of JSON lines' },
  { key: 'name', flag: 'name', env: 'FCL_NAME', kind: 'string', value: '<name>', help: 'instance name: its control socket and what the commands below pick (default <entry base name>-<port>)' },
  { key: 'control', flag: 'no-control', env: 'FCL_CONTROL', kind: 'boolean', negated: true, value: '', help: 'no control socket, so the commands below cannot reach this instance (FCL_CONTROL=0 does the same)' }
]

const COMMANDS: ReadonlySet<string> = new Set(CONTROL_COMMANDS)
const COMMAND_LIST = CONTROL_COMMANDS.join(', ')

export function usage (): string {
  const lines = [
    'Usage: fastify-cluster-launch [options] <entry>',
    '       fastify-cluster-launch <command> [--name <name>]',
    '',
    'Runs <entry> (a .js/.mjs/.cjs/.ts/.mts/.cts file) as a cluster of Fastify workers.',
    '',
    'Options (environment variable in brackets; flags win over the environment):'
  ]
  for (const spec of FLAGS) {
    const names = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${spec.flag}${spec.value === '' ? '' : ` ${spec.value}`}`
    lines.push(`  ${names.padEnd(34)} ${spec.help} [${spec.env}]`)
  }
  lines.push(`  ${'-h, --help'.padEnd(34)} show this help`)
  lines.push(`  ${'    --version'.padEnd(34)} print the version`)
  lines.push(
    '',
    'Commands, sent to a running instance over its control socket (--name picks one when several run):',
    `  ${'status [--json]'.padEnd(34)} workers, memory, event-loop use, requests; last roll and config reload`,
    `  ${'reload'.padEnd(34)} rolling restart, like SIGUSR2`,
    `  ${'reload-config'.padEnd(34)} re-read --config, like SIGHUP`,
    `  ${'scale <n>'.padEnd(34)} run n workers (1-1024)`,
    `  ${'stop'.padEnd(34)} graceful stop, like SIGTERM`,
    '',
    'Signals to the primary: SIGTERM/SIGINT graceful stop (twice: stop now), SIGUSR2 rolling restart,',
    'SIGHUP reload --config, SIGTTIN add a worker, SIGTTOU remove one.',
    'Exit codes: 0 clean stop or command done, 1 runtime failure or command failed, 2 usage error.'
  )
  return lines.join('\n')
}

function usageError (message: string, hint = 'run fastify-cluster-launch --help for the options'): never {
  throw new FclOptionsError(ERROR_CODES.CLI_USAGE, message, { hint })
}

function convert (spec: FlagSpec, raw: string | boolean, from: string): LaunchOptions[keyof LaunchOptions] {
  if (spec.kind === 'boolean') {
    if (typeof raw === 'boolean') return spec.negated === true ? !raw : raw
    if (/^(1|true|yes|on)$/i.test(raw)) return true
    if (/^(0|false|no|off|)$/i.test(raw)) return false
    return usageError(`${from} must be true or false, got ${JSON.stringify(raw)}`)
  }
  const text = String(raw).trim()
  if (spec.kind === 'string') {
    if (text === '') usageError(`${from} needs a value ${spec.value}`)
    return text
  }
  if (spec.kind === 'choice') {
    const choices = spec.choices ?? []
    if (choices.includes(text)) return text as LaunchOptions[keyof LaunchOptions]
    return usageError(`${from} must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1) ?? ''}, got ${JSON.stringify(text)}`)
  }
  if (spec.kind === 'workers' && text === 'auto') return 'auto'
  if (!/^\d+$/.test(text)) {
    const expected = spec.kind === 'workers' ? 'a whole number >= 1 or "auto"' : `a whole number ${spec.value}`
    usageError(`${from} must be ${expected}, got ${JSON.stringify(text)}`)
  }
  const value = Number(text)
  if (spec.kind === 'workers' && value < 1) usageError(`${from} must be at least 1, got ${text}`)
  if ((spec.key === 'port' || spec.key === 'metricsPort') && value > 65535) usageError(`${from} must be a port from 0 to 65535, got ${text}`)
  return value
}

export function parseCliArgs (argv: readonly string[], env: NodeJS.ProcessEnv): CliCommand {
  const parseOptions: Record<string, { type: 'string' | 'boolean', short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
    json: { type: 'boolean' }
  }
  for (const spec of FLAGS) {
    parseOptions[spec.flag] = spec.short === undefined
      ? { type: spec.kind === 'boolean' ? 'boolean' : 'string' }
      : { type: spec.kind === 'boolean' ? 'boolean' : 'string', short: spec.short }
  }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: [...argv], options: parseOptions, allowPositionals: true, strict: true })
  } catch (err) {
    // parseArgs' messages name the flag; keep the first sentence, drop its own advice.
    const message = err instanceof Error ? err.message.split(/\.\s/)[0] ?? err.message : String(err)
    usageError(message.replace(/\.$/, ''))
  }
  const values = parsed.values as Record<string, string | boolean | undefined>
  if (values.help === true) return { kind: 'help' }
  if (values.version === true) return { kind: 'version' }

  const first = parsed.positionals[0]
  if (first !== undefined && COMMANDS.has(first)) return parseControlCommand(first as ControlCommand, parsed.positionals.slice(1), values, env)
  // Entries always have an extension, so a bare word is a mistyped command.
  if (first !== undefined && /^[a-z][a-z-]*$/.test(first)) {
    usageError(`unknown command "${first}"`, `commands: ${COMMAND_LIST}; an entry file needs its extension (.js, .ts, ...)`)
  }
  if (values.json !== undefined) usageError('--json goes with the status command', 'fastify-cluster-launch status --json')

  if (parsed.positionals.length === 0) usageError('no entry file given', 'usage: fastify-cluster-launch [options] <entry>, e.g. fastify-cluster-launch server.ts')
  if (parsed.positionals.length > 1) {
    usageError(`expected one entry file, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`, 'options go before the entry; quote paths with spaces')
  }

  const options: Record<string, unknown> = { entry: parsed.positionals[0] }
  for (const spec of FLAGS) {
    const fromFlag = values[spec.flag]
    const fromEnv = env[spec.env]
    if (fromFlag !== undefined) options[spec.key] = convert(spec, fromFlag, `--${spec.flag}`)
    else if (fromEnv !== undefined && fromEnv !== '') options[spec.key] = convert(spec, fromEnv, spec.env)
  }
  return { kind: 'launch', options: options as unknown as LaunchOptions }
}

/** `status`, `reload`, `reload-config`, `scale <n>`, `stop`: only --name (and --json for status) apply. */
function parseControlCommand (command: ControlCommand, args: string[], values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): CliCommand {
  const takes = command === 'status' ? '--name and --json' : '--name'
  for (const spec of FLAGS) {
    if (spec.key !== 'name' && values[spec.flag] !== undefined) {
      usageError(`--${spec.flag} is a launcher option; ${command} takes ${takes}`, 'run fastify-cluster-launch --help for the commands')
    }
  }
  if (values.json !== undefined && command !== 'status') usageError(`--json goes with the status command, not ${command}`, 'fastify-cluster-launch status --json')
  let request: ControlRequest
  if (command === 'scale') {
    const [count, ...extra] = args
    const value = count !== undefined && /^\d+$/.test(count) ? Number(count) : Number.NaN
    if (extra.length > 0 || !(value >= 1 && value <= 1024)) {
      usageError(`scale needs one worker count from 1 to 1024, got ${args.length === 0 ? 'none' : JSON.stringify(args.join(' '))}`, 'e.g. fastify-cluster-launch scale 3')
    }
    request = { v: 1, command, workers: value }
  } else {
    if (args.length > 0) usageError(`${command} takes no arguments, got ${JSON.stringify(args.join(' '))}`, `e.g. fastify-cluster-launch ${command} --name <name>`)
    request = { v: 1, command }
  }
  const fromFlag = values.name
  const fromEnv = env.FCL_NAME
  let name: string | null = null
  if (typeof fromFlag === 'string') name = fromFlag.trim()
  else if (fromEnv !== undefined && fromEnv !== '') name = fromEnv.trim()
  if (name !== null && !isInstanceName(name)) {
    const from = typeof fromFlag === 'string' ? '--name' : 'FCL_NAME'
    usageError(`${from} must be 1-64 characters from A-Z a-z 0-9 . _ -, got ${JSON.stringify(name)}`, 'use the name the instance was started with (--name, or its default <entry base name>-<port>)')
  }
  return { kind: 'control', request, name, json: values.json === true }
}
