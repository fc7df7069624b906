import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pino, type Logger } from 'pino'
import t, { type Test } from 'tap'
import type { ConfigReloadResult } from '../../launcher/config-reload.js'
import type { RollResult } from '../../launcher/roll.js'
import { createChangeRunner, isIgnoredPath, watchError, watchFiles, type WatchBatch } from '../../launcher/watch.js'
import { sleep } from '../helpers/load.js'
import { ROOT, spawnNode, waitUntil } from '../helpers/process.js'

t.test('isIgnoredPath: dependencies, version control, build output, editor temp files', async (t) => {
  const ignored = [
    'node_modules', 'node_modules/fastify/package.json', 'packages/api/node_modules/x.js',
    '.git', '.git/HEAD', '.git/objects/ab/cdef', '.hg/store', '.svn/entries',
    'dist', 'dist/server.js', 'build/app.js', 'coverage/lcov.info', '.nyc_output/1.json',
    '.app.mjs.swp', 'routes/.users.ts.swo', '.app.ts.swx', 'app.mjs~', 'routes/.#users.ts', '#app.mjs#', '4913', 'routes/4913',
    'app.ts___jb_tmp___', 'app.ts___jb_old___', '.DS_Store', 'server.log', 'logs/today.log',
    'node_modules\\fastify\\index.js', 'src\\.git\\HEAD', './dist/x.js'
  ]
  const watched = [
    'app.mjs', 'routes/users.ts', '.env', 'config.json', 'package.json', 'src/distribution/x.ts', 'builder.ts',
    'my-dist/x.js', 'dist.ts', 'routes/swp.ts', 'logs.ts', 'logger/index.ts', 'src\\routes\\a.ts', '.', ''
  ]
  for (const file of ignored) t.ok(isIgnoredPath(file), `ignored: ${file}`)
  for (const file of watched) t.notOk(isIgnoredPath(file), `watched: ${file}`)
})

t.test('watchError: a coded error with a hint for each failure', async (t) => {
  const unsupported = Object.assign(new TypeError('The feature watch recursively is unavailable on the current platform'), { code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM' })
  t.match(watchError(unsupported, '/app'), { name: 'FclOptionsError', code: 'FCL_ERR_WATCH_UNSUPPORTED', message: /--watch needs recursive file watching/, hint: /SIGUSR2/ })
  const limit = Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' })
  t.match(watchError(limit, '/app'), { name: 'FclError', code: 'FCL_ERR_WATCH_FAILED', message: /cannot watch \/app: the limit on watched directories/, hint: /max_user_watches/ })
  t.match(watchError(Object.assign(new Error('too many'), { code: 'EMFILE' }), '/app'), { code: 'FCL_ERR_WATCH_FAILED', hint: /ulimit -n/ })
  t.match(watchError(new Error('boom'), '/app'), { code: 'FCL_ERR_WATCH_FAILED', message: 'cannot watch /app: boom' })
})

/** A temp project with files, and the batches its watcher reported. */
function project (t: Test, files: Record<string, string>): { dir: string, write: (file: string, text: string) => void } {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'fcl-watch-')))
  t.teardown(() => { fs.rmSync(dir, { recursive: true, force: true }) })
  const write = (file: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    fs.writeFileSync(path.join(dir, file), text)
  }
  for (const [file, text] of Object.entries(files)) write(file, text)
  return { dir, write }
}

const DEBOUNCE = 80

function startWatching (t: Test, root: string, opts: { configFile?: string, perDirectory?: boolean } = {}): { batches: WatchBatch[], directories: number | null, close: () => void } {
  const batches: WatchBatch[] = []
  const watcher = watchFiles({
    root,
    configFile: opts.configFile ?? null,
    debounceMs: DEBOUNCE,
    ...(opts.perDirectory === undefined ? {} : { perDirectory: opts.perDirectory }),
    onBatch: (batch) => { batches.push(batch) },
    onError: (err) => { t.fail(`watch error: ${err.message}`) }
  })
  t.teardown(() => { watcher.close() })
  return { batches, directories: watcher.directories, close: () => { watcher.close() } }
}

/** Long enough for any event of a write to have arrived and the debounce to have fired. */
const settle = (): Promise<void> => sleep(DEBOUNCE * 4)

t.test('one watch per directory: in-place and atomic saves, new folders; ignored folders are never entered', async (t) => {
  const { dir, write } = project(t, {
    'app.mjs': 'one',
    'routes/users.mjs': 'one',
    'node_modules/dep/lib/index.js': '',
    '.git/HEAD': 'ref: refs/heads/main'
  })
  const w = startWatching(t, dir, { perDirectory: true })
  t.equal(w.directories, 2, 'the root and routes/; node_modules and .git are not entered')
  await settle()
  t.same(w.batches, [], 'starting reports nothing')

  write('app.mjs', 'two')
  await waitUntil(() => w.batches.length === 1, 3000, 'the in-place save')
  t.same(w.batches[0], { code: ['app.mjs'], config: [] })

  // Editors that save by rename give the path a new inode, every time.
  for (const text of ['three', 'four']) {
    const before = w.batches.length
    write('routes/.users.mjs.tmp', text)
    fs.renameSync(path.join(dir, 'routes/.users.mjs.tmp'), path.join(dir, 'routes/users.mjs'))
    await waitUntil(() => w.batches.length === before + 1, 3000, `the atomic save of ${text}`)
    t.ok(w.batches.at(-1)?.code.includes(path.join('routes', 'users.mjs')), `atomic save of ${text} reported`)
  }
  write('routes/users.mjs', 'five')
  await waitUntil(() => w.batches.length === 4, 3000, 'an in-place save after the atomic ones')

  write('plugins/auth/index.mjs', 'new')
  await waitUntil(() => w.batches.length === 5, 3000, 'a file in a new folder')
  await settle()
  write('plugins/auth/index.mjs', 'changed')
  await waitUntil(() => w.batches.length === 6, 3000, 'a change inside the new folder')
  t.same(w.batches.at(-1)?.code, [path.join('plugins', 'auth', 'index.mjs')])

  const count = w.batches.length
  write('node_modules/dep/lib/index.js', 'patched')
  write('node_modules/new-dep/index.js', '')
  write('.git/HEAD', 'ref: refs/heads/other')
  write('dist/server.js', '')
  write('.app.mjs.swp', '')
  write('app.mjs~', '')
  write('server.log', 'line')
  await settle()
  t.equal(w.batches.length, count, 'ignored paths report nothing')

  fs.rmSync(path.join(dir, 'plugins'), { recursive: true })
  await waitUntil(() => w.batches.length === count + 1, 3000, 'a removed folder')
  t.same(w.batches.at(-1)?.code, ['plugins'])

  w.close()
  write('app.mjs', 'after close')
  await settle()
  t.equal(w.batches.length, count + 1, 'nothing after close')
})

t.test('a burst of writes is one batch, sorted and without duplicates', async (t) => {
  const { dir, write } = project(t, { 'app.mjs': '', 'b.mjs': '' })
  const w = startWatching(t, dir, { perDirectory: true })
  for (let i = 0; i < 5; i++) {
    write('b.mjs', String(i))
    write('app.mjs', String(i))
    await sleep(DEBOUNCE / 4)
  }
  await waitUntil(() => w.batches.length === 1, 3000, 'the batch')
  await settle()
  t.same(w.batches, [{ code: ['app.mjs', 'b.mjs'], config: [] }])
})

t.test('the config file is reported apart, inside or outside the watched folder', async (t) => {
  const { dir, write } = project(t, { 'app/app.mjs': '', 'app/config.json': '{}', 'etc/dev.json': '{}' })
  const inside = startWatching(t, path.join(dir, 'app'), { configFile: path.join(dir, 'app/config.json') })
  write('app/config.json', '{"a":1}')
  await waitUntil(() => inside.batches.length === 1, 3000, 'the config change')
  t.same(inside.batches[0], { code: [], config: ['config.json'] })
  inside.close()

  const outside = startWatching(t, path.join(dir, 'app'), { configFile: path.join(dir, 'etc/dev.json') })
  write('etc/dev.json', '{"a":2}')
  write('etc/other.json', '{}')
  write('app/app.mjs', 'x')
  await waitUntil(() => outside.batches.length === 1, 3000, 'the config and code change')
  await settle()
  t.same(outside.batches, [{ code: ['app.mjs'], config: [path.join('..', 'etc', 'dev.json')] }], 'other files next to the config are not watched')
})

t.test('paths are relative to the watched folder: an entry inside dist/ watches dist/ itself', async (t) => {
  const { dir, write } = project(t, { 'dist/server.js': '', 'dist/routes/a.js': '' })
  const w = startWatching(t, path.join(dir, 'dist'))
  t.equal(w.directories, 2)
  write('dist/routes/a.js', 'rebuilt')
  write('dist/server.js', 'rebuilt')
  await waitUntil(() => w.batches.length === 1, 3000, 'the rebuild')
  t.same(w.batches[0], { code: [path.join('routes', 'a.js'), 'server.js'], config: [] })
})

t.test('the recursive watcher (macOS, Windows) filters the same paths', async (t) => {
  const { dir, write } = project(t, { 'app.mjs': '', 'node_modules/dep/index.js': '' })
  const w = startWatching(t, dir, { perDirectory: false })
  t.equal(w.directories, null)
  await settle()
  t.same(w.batches, [], 'starting reports nothing')
  write('node_modules/dep/index.js', 'patched')
  write('app.mjs~', '')
  await settle()
  write('app.mjs', 'two')
  await waitUntil(() => w.batches.length > 0, 3000, 'the save')
  await settle()
  t.same(w.batches.flatMap((b) => b.code), ['app.mjs'])
})

t.test('a watcher left open does not keep the process alive', async (t) => {
  const { dir } = project(t, { 'app.mjs': '' })
  const watchModule = path.join(ROOT, 'dist/launcher/watch.js')
  const script = `import { watchFiles } from ${JSON.stringify(watchModule)}
watchFiles({ root: ${JSON.stringify(dir)}, configFile: null, onBatch () {}, onError () {} })
setTimeout(() => {}, 50)`
  const child = spawnNode(t, ['--input-type=module', '-e', script])
  t.same(await child.exited(5000), { code: 0, signal: null })
})

interface FakeActions {
  calls: string[]
  roll: () => Promise<RollResult>
  reloadConfig: () => Promise<ConfigReloadResult>
}

function fakeActions (opts: { rollMs?: number, rollOk?: boolean } = {}): FakeActions {
  const calls: string[] = []
  return {
    calls,
    async roll () {
      calls.push('roll')
      await sleep(opts.rollMs ?? 20)
      calls.push('roll done')
      const ok = opts.rollOk ?? true
      return ok ? { ok, replaced: 2, total: 2, ms: 20 } : { ok, replaced: 0, total: 2, ms: 20, error: 'worker 0 failed to start: SyntaxError' }
    },
    async reloadConfig () {
      calls.push('config')
      return { ok: true, applied: 2, total: 2, version: 2, failures: [] }
    }
  }
}

function captureLog (): { log: Logger, lines: Array<{ level: number, msg: string, files?: string[] }> } {
  const lines: Array<{ level: number, msg: string, files?: string[] }> = []
  const log: Logger = pino({ level: 'info' }, { write (line: string) { lines.push(JSON.parse(line)) } })
  return { log, lines }
}

t.test('change runner: one roll per batch, logged with the files', async (t) => {
  const { log, lines } = captureLog()
  const actions = fakeActions()
  const runner = createChangeRunner(log, actions)
  runner.push({ code: ['routes/x.ts'], config: [] })
  await runner.idle()
  t.same(actions.calls, ['roll', 'roll done'])
  t.match(lines, [{ level: 30, msg: 'file change: routes/x.ts; rolling restart', files: ['routes/x.ts'] }])
})

t.test('change runner: batches during a roll make exactly one more roll, with every file', async (t) => {
  const { log, lines } = captureLog()
  const actions = fakeActions({ rollMs: 150 })
  const runner = createChangeRunner(log, actions)
  runner.push({ code: ['a.ts'], config: [] })
  await sleep(30)
  runner.push({ code: ['b.ts'], config: [] })
  runner.push({ code: ['c.ts', 'b.ts'], config: [] })
  await runner.idle()
  t.same(actions.calls, ['roll', 'roll done', 'roll', 'roll done'])
  t.same(lines.map((l) => l.msg), [
    'file change: a.ts; rolling restart',
    'file change: b.ts; rolling restart after the current one',
    'file change: c.ts, b.ts; rolling restart after the current one'
  ])
  runner.push({ code: ['d.ts'], config: [] })
  await runner.idle()
  t.equal(actions.calls.filter((c) => c === 'roll').length, 3, 'idle again: the next batch rolls at once')
})

t.test('change runner: the config file reloads the config, before a roll of the same batch', async (t) => {
  const { log, lines } = captureLog()
  const actions = fakeActions()
  const runner = createChangeRunner(log, actions)
  runner.push({ code: [], config: ['config.json'] })
  await runner.idle()
  t.same(actions.calls, ['config'], 'no roll for the config alone')
  runner.push({ code: ['app.mjs'], config: ['config.json'] })
  await runner.idle()
  t.same(actions.calls, ['config', 'config', 'roll', 'roll done'])
  t.same(lines.map((l) => l.msg), ['file change: config.json; config reload', 'file change: config.json, app.mjs; config reload, then rolling restart'])
})

t.test('change runner: a failed roll is logged; the next change rolls again', async (t) => {
  const { log, lines } = captureLog()
  const actions = fakeActions({ rollOk: false })
  const runner = createChangeRunner(log, actions)
  runner.push({ code: ['app.mjs'], config: [] })
  await runner.idle()
  t.match(lines.at(-1), { level: 40, msg: /rolling restart after a file change failed; the old workers keep serving until the next change/ })
  runner.push({ code: ['app.mjs'], config: [] })
  await runner.idle()
  t.equal(actions.calls.filter((c) => c === 'roll').length, 2)
})

t.test('change runner: nothing runs after close, and a rejection then is not logged', async (t) => {
  const { log, lines } = captureLog()
  const runner = createChangeRunner(log, {
    roll: async () => { throw new Error('the launcher is stopping') },
    reloadConfig: async () => { throw new Error('the launcher is stopping') }
  })
  runner.push({ code: ['a.ts'], config: [] })
  runner.close()
  await runner.idle()
  runner.push({ code: ['b.ts'], config: [] })
  t.same(lines.map((l) => l.msg), ['file change: a.ts; rolling restart'])
})
