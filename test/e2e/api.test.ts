import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { launch, FclOptionsError } from '../../dist/launcher/index.js'
import { FIXTURES, freePort, request, runtimeDir } from '../helpers/process.js'

// The control socket goes to a private directory of this test, not the machine's.
process.env.XDG_RUNTIME_DIR = runtimeDir(t)

// node:cluster's primary settings are process-wide: this file runs one launch().
t.test('launch(): the programmatic handle drives the same lifecycle as the signals', async (t) => {
  t.throws(() => launch({ entry: 'nope.ts' }), FclOptionsError, 'bad options throw synchronously, before any fork')
  const port = await freePort()
  const handle = launch({ entry: path.join(FIXTURES, 'lifecycle-app.mjs'), workers: 2, port, host: '127.0.0.1', logger: pino({ level: 'silent' }) })
  t.teardown(async () => { await handle.kill() })
  await handle.ready
  t.equal(handle.workers().length, 2)
  t.same(handle.instance(), { ready: 2, total: 2, state: 'running' })
  const before = handle.workers().map((w) => w.pid)
  const status = handle.status()
  t.match(status, { pid: process.pid, name: `lifecycle-app-${port}`, instance: { ready: 2, total: 2 }, configVersion: 1, lastRoll: null, lastConfigReload: null })
  t.same(status.workers.map((w) => w.pid), before)
  t.ok(status.control !== null && statSync(status.control).isSocket(), 'the control socket is open')

  const roll = await handle.reload()
  t.match(roll, { ok: true, replaced: 2, total: 2 })
  const after = handle.workers().map((w) => w.pid)
  t.equal(after.filter((pid) => before.includes(pid)).length, 0, 'every pid is new after reload()')

  const reloaded = await handle.reloadConfig()
  t.match(reloaded, { ok: true, applied: 2, total: 2 })
  t.match(handle.status(), { lastRoll: { ok: true, replaced: 2, total: 2 }, lastConfigReload: { ok: true, applied: 2, version: 2 }, configVersion: 2 })

  await handle.scale(3)
  t.equal(handle.instance().total, 3)
  t.equal((await request(port, '/ready')).json().workers.total, 3)
  await handle.scale(1)
  t.equal(handle.workers().length, 1)

  const stopped = await handle.shutdown()
  t.match(stopped, { code: 0, reason: 'shutdown', killed: [] })
  t.equal(await handle.stopped, stopped)
  t.notOk(existsSync(status.control ?? ''), 'the control socket is removed')
})
