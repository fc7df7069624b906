import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { LAUNCH_DEFAULTS, resolveLaunchOptions, type LaunchOptions } from '../../launcher/options.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcl-options-'))
t.teardown(() => { fs.rmSync(dir, { recursive: true, force: true }) })
for (const file of ['app.js', 'app.ts', 'app.mjs', 'app.cts', 'app.txt']) fs.writeFileSync(path.join(dir, file), '')
fs.mkdirSync(path.join(dir, 'folder.js'))

const LAUNCH = { name: 'FclOptionsError', code: 'FCL_ERR_LAUNCH_OPTIONS' }

function resolve (extra: Partial<LaunchOptions> & Record<string, unknown> = {}) {
  return resolveLaunchOptions({ entry: 'app.js', cwd: dir, ...extra } as LaunchOptions)
}

function deepFreeze<T> (value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}

t.test('fills every default and resolves the entry from cwd', async (t) => {
  const resolved = resolve()
  const { workers, port, host, graceTimeout, drainDelay, readyTimeout, maxRestarts, minUptime, restartDelay, restartDelayMax, workerTimeout, workerStacks, maxMemory, watch, prettyLogs, logLevel, tsLoader, balance, metrics, metricsHost, control, proxyProtocol } = resolved
  t.same({ workers, port, host, graceTimeout, drainDelay, readyTimeout, maxRestarts, minUptime, restartDelay, restartDelayMax, workerTimeout, workerStacks, maxMemory, watch, prettyLogs, logLevel, tsLoader, balance, metrics, metricsHost, control, proxyProtocol }, LAUNCH_DEFAULTS)
  t.equal(resolved.metricsPort, null)
  t.equal(resolved.name, 'app-3000', 'the default name is the entry\'s base name and the port')
  t.equal(resolved.entry, path.join(dir, 'app.js'))
  t.equal(resolved.config, null)
  t.same(resolved.env, {})
  t.equal(resolved.logger, null)
  t.ok(Object.isFrozen(resolved), 'the result is frozen')
})

t.test('resolves config relative to cwd and keeps given values', async (t) => {
  const resolved = resolve({ entry: 'app.ts', config: 'conf.json', workers: 4, port: 0, drainDelay: 100, graceTimeout: 200, tsLoader: 'tsx', prettyLogs: true, env: { A: '1' } })
  t.match(resolved, { entry: path.join(dir, 'app.ts'), config: path.join(dir, 'conf.json'), workers: 4, port: 0, drainDelay: 100, graceTimeout: 200, tsLoader: 'tsx', prettyLogs: true })
  t.same(resolved.env, { A: '1' })
})

t.test('accepts every supported entry extension', async (t) => {
  for (const entry of ['app.js', 'app.mjs', 'app.ts', 'app.cts']) t.equal(resolve({ entry }).entry, path.join(dir, entry))
})

t.test('does not mutate its input', async (t) => {
  const input = { entry: 'app.js', cwd: dir, workers: 2, env: { A: '1' }, drainDelay: 10 }
  const copy = structuredClone(input)
  const resolved = resolveLaunchOptions(deepFreeze(input))
  t.same(input, copy)
  t.not(resolved.env, input.env, 'env is copied, not shared')
})

t.test('a missing entry file is FCL_ERR_ENTRY_NOT_FOUND naming the file', async (t) => {
  t.throws(() => resolve({ entry: 'nope.js' }), { code: 'FCL_ERR_ENTRY_NOT_FOUND', message: /"nope\.js" does not exist/ })
  t.throws(() => resolve({ entry: 'folder.js' }), { code: 'FCL_ERR_ENTRY_NOT_FOUND', message: /not a file/ })
})

t.test('no entry at all is a usage error', async (t) => {
  t.throws(() => resolve({ entry: '' }), { code: 'FCL_ERR_CLI_USAGE', message: /no entry/ })
})

t.test('an unsupported entry extension is rejected', async (t) => {
  t.throws(() => resolve({ entry: 'app.txt' }), { ...LAUNCH, message: /"app\.txt" has an unsupported extension/, hint: /\.mjs/ })
})

t.test('an unknown key is rejected by name', async (t) => {
  t.throws(() => resolve({ worker: 2 }), { ...LAUNCH, message: /unknown option "worker"/ })
})

t.test('drainDelay must be below graceTimeout', async (t) => {
  t.throws(() => resolve({ drainDelay: 1000, graceTimeout: 1000 }), { ...LAUNCH, message: /drainDelay \(1000\) must be below graceTimeout \(1000\)/ })
  t.throws(() => resolve({ drainDelay: 40000 }), { ...LAUNCH, message: /drainDelay/ }, 'against the default graceTimeout')
  t.equal(resolve({ drainDelay: 999, graceTimeout: 1000 }).drainDelay, 999)
})

t.test('restartDelayMax must not be below restartDelay', async (t) => {
  t.throws(() => resolve({ restartDelay: 500, restartDelayMax: 100 }), { ...LAUNCH, message: /restartDelayMax/ })
})

t.test('workerTimeout is 0 (off) or at least the watchdog\'s check interval; workerStacks is a boolean', async (t) => {
  t.equal(resolve().workerTimeout, 30000)
  t.equal(resolve({ workerTimeout: 0 }).workerTimeout, 0)
  t.equal(resolve({ workerTimeout: 1000 }).workerTimeout, 1000)
  t.throws(() => resolve({ workerTimeout: 999 }), { ...LAUNCH, message: /^workerTimeout must be 0 \(off\) or at least 1000 ms \(the watchdog checks once a second\), got 999/ })
  t.throws(() => resolve({ workerTimeout: -5 }), { ...LAUNCH, message: /^workerTimeout must be a whole number >= 0, got -5/ })
  t.equal(resolve({ workerStacks: false }).workerStacks, false)
  t.throws(() => resolve({ workerStacks: 'no' } as Record<string, unknown>), { ...LAUNCH, message: /^workerStacks must be a boolean/ })
})

t.test('a metrics port turns metrics on and must differ from the app port', async (t) => {
  t.match(resolve({ metricsPort: 9464 }), { metrics: true, metricsPort: 9464, metricsHost: '127.0.0.1' })
  t.match(resolve({ metrics: true }), { metrics: true, metricsPort: null })
  t.throws(() => resolve({ port: 9464, metricsPort: 9464 }), { ...LAUNCH, message: /metricsPort must differ from port, both are 9464/ })
  t.throws(() => resolve({ metricsPort: 0 }), { ...LAUNCH, message: /^metricsPort / })
  t.throws(() => resolve({ metrics: 'yes' as unknown as boolean }), { ...LAUNCH, message: /^metrics must be a boolean/ })
  t.throws(() => resolve({ metricsHost: '' }), { ...LAUNCH, message: /^metricsHost / })
})

t.test('watch is a boolean, off by default, and allowed with either balance mode', async (t) => {
  t.equal(resolve().watch, false)
  t.equal(resolve({ watch: true }).watch, true)
  t.equal(resolve({ watch: true, balance: 'reuseport', port: 8080 }).watch, true)
  for (const value of ['yes', 1, 'false']) {
    t.throws(() => resolve({ watch: value } as Record<string, unknown>), { ...LAUNCH, message: /^watch must be a boolean, got / }, String(value))
  }
})

t.test('balance reuseport needs a fixed port', async (t) => {
  t.throws(() => resolve({ balance: 'reuseport', port: 0 }), { ...LAUNCH, message: /needs a fixed port, got port 0/, hint: /--balance rr/ })
  t.equal(resolve({ balance: 'reuseport', port: 8080 }).balance, 'reuseport')
  t.equal(resolve({ balance: 'rr', port: 0 }).port, 0, 'round-robin shares one port the primary picks')
})

t.test('sticky balance: any port; the PROXY protocol only with it', async (t) => {
  t.equal(resolve({ balance: 'sticky', port: 0 }).balance, 'sticky', 'the primary binds once, so port 0 is fine')
  t.equal(resolve({ balance: 'sticky', proxyProtocol: true }).proxyProtocol, true)
  t.throws(() => resolve({ proxyProtocol: true }), { ...LAUNCH, message: /^proxyProtocol needs balance sticky, got balance rr/, hint: /--balance sticky/ })
  t.throws(() => resolve({ balance: 'reuseport', port: 80, proxyProtocol: true }), { ...LAUNCH, message: /got balance reuseport/ })
  t.throws(() => resolve({ balance: 'sticky', proxyProtocol: 'yes' } as Record<string, unknown>), { ...LAUNCH, message: /^proxyProtocol must be a boolean/ })
})

t.test('out-of-range and wrongly typed values are FCL_ERR_LAUNCH_OPTIONS naming the option', async (t) => {
  const bad: Array<[string, unknown]> = [
    ['workers', 0], ['workers', 1.5], ['workers', 1025], ['workers', 'many'],
    ['port', -1], ['port', 65536], ['port', '3000'],
    ['host', ''], ['config', ''], ['graceTimeout', 0], ['readyTimeout', 0],
    ['maxRestarts', -1], ['minUptime', Number.NaN], ['restartDelay', -1], ['maxMemory', 1.5],
    ['logLevel', 'loud'], ['tsLoader', 'babel'], ['balance', 'random'], ['prettyLogs', 'yes'], ['env', { A: 1 }], ['cwd', 42],
    ['control', 'no'], ['control', 0], ['name', ''], ['name', 'a b'], ['name', 'a/b'], ['name', '../x'], ['name', 'x'.repeat(65)], ['name', 42]
  ]
  for (const [key, value] of bad) {
    t.throws(() => resolve({ [key]: value }), { ...LAUNCH, message: new RegExp(`^${key} `) }, `${key}: ${String(value)}`)
  }
})

t.test('name: given, or the entry\'s base name and the port', async (t) => {
  t.equal(resolve({ name: 'api.blue_2-x' }).name, 'api.blue_2-x')
  t.equal(resolve({ name: 'n'.repeat(64) }).name, 'n'.repeat(64), '64 characters are fine')
  t.equal(resolve({ entry: 'app.ts', port: 8080 }).name, 'app-8080')
  t.match(resolve({ port: 0 }).name, new RegExp(`^app-0-${process.pid}$`), 'port 0: the pid keeps instances apart')
  t.throws(() => resolve({ name: 'a b' }), { ...LAUNCH, message: /^name must be 1-64 characters from A-Z a-z 0-9 \. _ -, got "a b"$/, hint: /\.sock/ })
  t.equal(resolve({ control: false }).control, false)
})
