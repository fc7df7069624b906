import t from 'tap'
import { parseCliArgs, usage } from '../../launcher/args.js'
import type { LaunchOptions } from '../../launcher/options.js'

const USAGE = { name: 'FclOptionsError', code: 'FCL_ERR_CLI_USAGE' }

/** Parses and insists on a launch command, returning its options. */
function launch (argv: string[], env: NodeJS.ProcessEnv = {}): LaunchOptions {
  const command = parseCliArgs(argv, env)
  if (command.kind !== 'launch') throw new Error(`expected a launch command, got ${command.kind}`)
  return command.options
}

t.test('--help, -h and --version need no entry', async (t) => {
  t.same(parseCliArgs(['--help'], {}), { kind: 'help' })
  t.same(parseCliArgs(['-h'], {}), { kind: 'help' })
  t.same(parseCliArgs(['--version'], {}), { kind: 'version' })
  t.same(parseCliArgs(['-w', '2', '--help', 'app.js'], {}), { kind: 'help' }, 'help wins over a full command line')
})

t.test('only the entry is set when no flag or env var is given (defaults are left to resolveLaunchOptions)', async (t) => {
  t.same(launch(['app.js']), { entry: 'app.js' })
  t.same(launch(['app.js'], { FCL_WORKER_ID: '3', NODE_ENV: 'production' }), { entry: 'app.js' }, 'unrelated env vars are ignored')
})

// [option key, flag argv, env var, env value, expected value from either]
const CASES: Array<[keyof LaunchOptions, string[], string, string, unknown]> = [
  ['workers', ['-w', '4'], 'WEB_CONCURRENCY', '4', 4],
  ['workers', ['--workers', 'auto'], 'WEB_CONCURRENCY', 'auto', 'auto'],
  ['port', ['-p', '8080'], 'PORT', '8080', 8080],
  ['port', ['--port', '0'], 'PORT', '0', 0],
  ['host', ['--host', '0.0.0.0'], 'HOST', '0.0.0.0', '0.0.0.0'],
  ['config', ['-c', 'conf.json'], 'FCL_CONFIG', 'conf.json', 'conf.json'],
  ['graceTimeout', ['--grace-timeout', '5000'], 'FCL_GRACE_TIMEOUT', '5000', 5000],
  ['drainDelay', ['--drain-delay', '250'], 'FCL_DRAIN_DELAY', '250', 250],
  ['readyTimeout', ['--ready-timeout', '7000'], 'FCL_READY_TIMEOUT', '7000', 7000],
  ['maxRestarts', ['--max-restarts', '3'], 'FCL_MAX_RESTARTS', '3', 3],
  ['minUptime', ['--min-uptime', '1000'], 'FCL_MIN_UPTIME', '1000', 1000],
  ['restartDelay', ['--restart-delay', '50'], 'FCL_RESTART_DELAY', '50', 50],
  ['restartDelayMax', ['--restart-delay-max', '900'], 'FCL_RESTART_DELAY_MAX', '900', 900],
  ['maxMemory', ['--max-memory', '512'], 'FCL_MAX_MEMORY', '512', 512],
  ['workerTimeout', ['--worker-timeout', '5000'], 'FCL_WORKER_TIMEOUT', '5000', 5000],
  ['workerTimeout', ['--worker-timeout', '0'], 'FCL_WORKER_TIMEOUT', '0', 0],
  ['workerStacks', ['--no-worker-stacks'], 'FCL_WORKER_STACKS', '0', false],
  ['watch', ['--watch'], 'FCL_WATCH', 'true', true],
  ['logLevel', ['--log-level', 'debug'], 'FCL_LOG_LEVEL', 'debug', 'debug'],
  ['tsLoader', ['--ts-loader', 'native'], 'FCL_TS_LOADER', 'native', 'native'],
  ['balance', ['--balance', 'reuseport'], 'FCL_BALANCE', 'reuseport', 'reuseport'],
  ['balance', ['--balance', 'sticky'], 'FCL_BALANCE', 'sticky', 'sticky'],
  ['proxyProtocol', ['--proxy-protocol'], 'FCL_PROXY_PROTOCOL', 'true', true],
  ['metrics', ['--metrics'], 'FCL_METRICS', '1', true],
  ['metricsPort', ['--metrics-port', '9464'], 'FCL_METRICS_PORT', '9464', 9464],
  ['metricsHost', ['--metrics-host', '0.0.0.0'], 'FCL_METRICS_HOST', '0.0.0.0', '0.0.0.0'],
  ['prettyLogs', ['--pretty-logs'], 'FCL_PRETTY_LOGS', 'true', true],
  ['name', ['--name', 'api-blue'], 'FCL_NAME', 'api-blue', 'api-blue'],
  ['control', ['--no-control'], 'FCL_CONTROL', '0', false]
]

t.test('each flag and its env var set its option', async (t) => {
  for (const [key, flagArgv, envName, envValue, expected] of CASES) {
    const fromEnv = launch(['app.js'], { [envName]: envValue })
    t.same(fromEnv[key], expected, `${envName}=${envValue} -> ${key}`)
    const fromFlag = launch([...flagArgv, 'app.js'])
    t.same(fromFlag[key], expected, `${flagArgv.join(' ')} -> ${key}`)
  }
  t.equal(launch(['--ts-loader', 'tsx', 'app.js']).tsLoader, 'tsx')
  t.equal(launch(['--workers=6', 'app.js']).workers, 6, '--flag=value form')
  t.equal(launch(['-w3', 'app.js']).workers, 3, 'short flag with the value attached')
})

t.test('precedence: defaults < environment < flags', async (t) => {
  const env = { PORT: '4000', WEB_CONCURRENCY: '3', HOST: 'example.internal', FCL_TS_LOADER: 'native' }
  const fromEnv = launch(['app.js'], env)
  t.match(fromEnv, { port: 4000, workers: 3, host: 'example.internal', tsLoader: 'native' })
  const both = launch(['-p', '5000', '-w', '2', '--ts-loader', 'tsx', 'app.js'], env)
  t.match(both, { port: 5000, workers: 2, host: 'example.internal', tsLoader: 'tsx' }, 'flags win, env fills the rest')
  t.equal(launch(['--pretty-logs', 'app.js'], { FCL_PRETTY_LOGS: '0' }).prettyLogs, true)
})

t.test('an empty env var counts as unset', async (t) => {
  t.same(launch(['app.js'], { PORT: '', WEB_CONCURRENCY: '', FCL_PRETTY_LOGS: '' }), { entry: 'app.js' })
})

t.test('-w auto and WEB_CONCURRENCY=3', async (t) => {
  t.equal(launch(['-w', 'auto', 'app.js']).workers, 'auto')
  t.equal(launch(['app.js'], { WEB_CONCURRENCY: '3' }).workers, 3)
})

t.test('boolean env var FCL_PRETTY_LOGS accepts 1/0, true/false, yes/no, on/off', async (t) => {
  for (const on of ['1', 'true', 'YES', 'on']) t.equal(launch(['app.js'], { FCL_PRETTY_LOGS: on }).prettyLogs, true, on)
  for (const off of ['0', 'false', 'no', 'Off']) t.equal(launch(['app.js'], { FCL_PRETTY_LOGS: off }).prettyLogs, false, off)
  t.throws(() => launch(['app.js'], { FCL_PRETTY_LOGS: 'maybe' }), { ...USAGE, message: /FCL_PRETTY_LOGS/ })
})

t.test('--watch takes no value; FCL_WATCH is a boolean like FCL_PRETTY_LOGS', async (t) => {
  for (const on of ['1', 'true', 'yes', 'ON']) t.equal(launch(['app.js'], { FCL_WATCH: on }).watch, true, on)
  for (const off of ['0', 'false', 'No', 'off']) t.equal(launch(['app.js'], { FCL_WATCH: off }).watch, false, off)
  t.equal(launch(['--watch', 'app.js'], { FCL_WATCH: '0' }).watch, true, 'the flag wins over the env var')
  t.equal(launch(['app.js'], { FCL_WATCH: '' }).watch, undefined, 'empty counts as unset')
  t.equal(launch(['app.js', '--watch']).entry, 'app.js', 'the flag does not take the entry as its value')
  t.throws(() => launch(['app.js'], { FCL_WATCH: 'sometimes' }), { ...USAGE, message: /FCL_WATCH must be true or false, got "sometimes"/ })
  t.throws(() => parseCliArgs(['--watch=yes', 'app.js'], {}), { ...USAGE, message: /--watch/ })
  t.match(usage(), /--watch\s+development: roll the workers when a file under the entry's directory changes \[FCL_WATCH\]/)
})

t.test('usage mistakes throw FCL_ERR_CLI_USAGE naming the flag or env var', async (t) => {
  const bad: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--nope', 'app.js'], {}, /--nope/],
    [['-x', 'app.js'], {}, /-x/],
    [['--port', 'abc', 'app.js'], {}, /--port/],
    [['--port=-5', 'app.js'], {}, /--port/],
    [['--port', '65536', 'app.js'], {}, /--port.*65535/],
    [['app.js'], { PORT: '70000' }, /PORT/],
    [['-w', '0', 'app.js'], {}, /--workers.*at least 1/],
    [['-w', 'many', 'app.js'], {}, /--workers/],
    [['app.js'], { WEB_CONCURRENCY: '0' }, /WEB_CONCURRENCY/],
    [['app.js'], { WEB_CONCURRENCY: '2.5' }, /WEB_CONCURRENCY/],
    [['--grace-timeout', '1e3', 'app.js'], {}, /--grace-timeout/],
    [['app.js'], { FCL_DRAIN_DELAY: '-1' }, /FCL_DRAIN_DELAY/],
    [['--ts-loader', 'babel', 'app.js'], {}, /--ts-loader/],
    [['app.js'], { FCL_TS_LOADER: 'swc' }, /FCL_TS_LOADER/],
    [['--balance', 'random', 'app.js'], {}, /--balance must be rr, reuseport or sticky, got "random"/],
    [['app.js'], { FCL_BALANCE: 'kernel' }, /FCL_BALANCE/],
    [['--metrics-port', '70000', 'app.js'], {}, /--metrics-port must be a port/],
    [['app.js'], { FCL_METRICS: 'maybe' }, /FCL_METRICS must be true or false/],
    [['--host', ' ', 'app.js'], {}, /--host/],
    [['--port'], {}, /--port/],
    [[], {}, /no entry file/],
    [['-w', '2'], {}, /no entry file/],
    [['a.js', 'b.js'], {}, /one entry file, got 2/]
  ]
  for (const [argv, env, message] of bad) {
    t.throws(() => parseCliArgs(argv, env), { ...USAGE, message }, `${argv.join(' ')} ${JSON.stringify(env)}`)
  }
})

t.test('usage errors carry a hint for the operator', async (t) => {
  t.throws(() => parseCliArgs(['--nope', 'app.js'], {}), { ...USAGE, message: /--nope/, hint: /--help/ })
  t.throws(() => parseCliArgs([], {}), { ...USAGE, message: /no entry/, hint: /<entry>/ })
})

t.test('usage() mentions every flag, its short form and its env var', async (t) => {
  const text = usage()
  const flags = ['--workers', '--port', '--host', '--config', '--grace-timeout', '--drain-delay', '--ready-timeout',
    '--max-restarts', '--min-uptime', '--restart-delay', '--restart-delay-max', '--worker-timeout', '--no-worker-stacks', '--max-memory', '--log-level',
    '--ts-loader', '--balance', '--proxy-protocol', '--metrics', '--metrics-port', '--metrics-host', '--pretty-logs', '--name', '--no-control', '--help', '--version']
  for (const flag of flags) t.match(text, new RegExp(`${flag}\\b`), flag)
  for (const short of ['-w', '-p', '-c', '-h']) t.match(text, `${short}, `, short)
  const envs = ['WEB_CONCURRENCY', 'PORT', 'HOST', 'FCL_CONFIG', 'FCL_GRACE_TIMEOUT', 'FCL_DRAIN_DELAY', 'FCL_READY_TIMEOUT',
    'FCL_MAX_RESTARTS', 'FCL_MIN_UPTIME', 'FCL_RESTART_DELAY', 'FCL_RESTART_DELAY_MAX', 'FCL_WORKER_TIMEOUT', 'FCL_WORKER_STACKS', 'FCL_MAX_MEMORY', 'FCL_LOG_LEVEL',
    'FCL_TS_LOADER', 'FCL_BALANCE', 'FCL_PROXY_PROTOCOL', 'FCL_METRICS', 'FCL_METRICS_PORT', 'FCL_METRICS_HOST', 'FCL_PRETTY_LOGS', 'FCL_NAME', 'FCL_CONTROL']
  for (const env of envs) t.match(text, `[${env}]`, env)
  for (const command of ['status [--json]', 'reload', 'reload-config', 'scale <n>', 'stop']) t.match(text, `\n  ${command} `, command)
})

t.test('FCL_CONTROL turns the control socket on or off; --no-control wins', async (t) => {
  t.equal(launch(['app.js'], { FCL_CONTROL: '1' }).control, true)
  t.equal(launch(['app.js'], { FCL_CONTROL: 'off' }).control, false)
  t.equal(launch(['--no-control', 'app.js'], { FCL_CONTROL: '1' }).control, false)
  t.notOk('control' in launch(['app.js']), 'left to the default when neither is given')
})

/** Parses and insists on a control command. */
function control (argv: string[], env: NodeJS.ProcessEnv = {}) {
  const command = parseCliArgs(argv, env)
  if (command.kind !== 'control') throw new Error(`expected a control command, got ${command.kind}`)
  return command
}

t.test('a first word that is a command talks to a running instance', async (t) => {
  t.same(control(['status']), { kind: 'control', request: { v: 1, command: 'status' }, name: null, json: false })
  t.same(control(['status', '--json']), { kind: 'control', request: { v: 1, command: 'status' }, name: null, json: true })
  t.same(control(['--json', 'status', '--name', 'api']), { kind: 'control', request: { v: 1, command: 'status' }, name: 'api', json: true }, 'flags on either side')
  t.same(control(['reload']).request, { v: 1, command: 'reload' })
  t.same(control(['reload-config']).request, { v: 1, command: 'reload-config' })
  t.same(control(['scale', '3']).request, { v: 1, command: 'scale', workers: 3 })
  t.same(control(['scale', '1024']).request, { v: 1, command: 'scale', workers: 1024 })
  t.same(control(['stop', '--name=server-3000']), { kind: 'control', request: { v: 1, command: 'stop' }, name: 'server-3000', json: false })
})

t.test('commands take the name from --name, else FCL_NAME', async (t) => {
  t.equal(control(['status'], { FCL_NAME: 'from-env' }).name, 'from-env')
  t.equal(control(['status', '--name', 'flag'], { FCL_NAME: 'from-env' }).name, 'flag')
  t.equal(control(['status'], { FCL_NAME: '' }).name, null, 'empty counts as unset')
})

t.test('an entry with an extension is never a command', async (t) => {
  t.equal(launch(['status.ts']).entry, 'status.ts')
  t.equal(launch(['./stop.js']).entry, './stop.js')
})

t.test('command mistakes are usage errors with a hint', async (t) => {
  const bad: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['scale'], {}, /^scale needs one worker count from 1 to 1024, got none$/],
    [['scale', 'abc'], {}, /got "abc"/],
    [['scale', '0'], {}, /got "0"/],
    [['scale', '1025'], {}, /got "1025"/],
    [['scale', '2.5'], {}, /got "2.5"/],
    [['scale', '2', '3'], {}, /got "2 3"/],
    [['status', 'now'], {}, /^status takes no arguments, got "now"$/],
    [['stop', 'app.ts'], {}, /^stop takes no arguments/],
    [['staus'], {}, /^unknown command "staus"$/],
    [['restart'], {}, /^unknown command "restart"$/],
    [['reload', '--json'], {}, /^--json goes with the status command, not reload$/],
    [['--json', 'app.js'], {}, /^--json goes with the status command$/],
    [['status', '-w', '2'], {}, /^--workers is a launcher option; status takes --name and --json$/],
    [['stop', '--no-control'], {}, /^--no-control is a launcher option; stop takes --name$/],
    [['status', '--name', 'a b'], {}, /^--name must be 1-64 characters/],
    [['status', '--name', 'x'.repeat(65)], {}, /^--name must be 1-64/],
    [['status'], { FCL_NAME: '../etc' }, /^FCL_NAME must be 1-64/]
  ]
  for (const [argv, env, message] of bad) {
    t.throws(() => parseCliArgs(argv, env), { ...USAGE, message, hint: /\S/ }, `${argv.join(' ')} ${JSON.stringify(env)}`)
  }
  t.throws(() => parseCliArgs(['staus'], {}), { ...USAGE, hint: /status, reload, reload-config, scale, stop.*extension/ })
})
