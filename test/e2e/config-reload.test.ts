import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { FIXTURES, forkedPids, freePort, request, spawnCli } from '../helpers/process.js'

async function valuesServed (port: number): Promise<Map<number, unknown>> {
  const byPid = new Map<number, unknown>()
  for (let i = 0; i < 20; i++) {
    const body = (await request(port, '/')).json()
    byPid.set(body.pid, body.value)
  }
  return byPid
}

t.test('SIGHUP reloads --config everywhere; replacements get it; a bad file changes nothing', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'config.json')
  writeFileSync(file, JSON.stringify({ value: 'one' }))
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--config', file, path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  t.same([...(await valuesServed(port)).values()], ['one', 'one'])

  writeFileSync(file, JSON.stringify({ value: 'two' }))
  cli.signal('SIGHUP')
  await cli.waitFor(/config reloaded on 2\/2 workers/)
  const served = await valuesServed(port)
  t.equal(served.size, 2)
  t.same([...served.values()], ['two', 'two'], 'every worker serves the new value')

  const victim = [...served.keys()][0] as number
  process.kill(victim, 'SIGKILL')
  await cli.waitFor((l) => /ready in/.test(l) && forkedPids(cli).length === 3, 10000)
  const afterRestart = await valuesServed(port)
  t.notOk(afterRestart.has(victim))
  t.same([...afterRestart.values()], ['two', 'two'], 'the replacement got the latest config, not the boot-time one')

  writeFileSync(file, '{ not json')
  cli.signal('SIGHUP')
  await cli.waitFor(/config reload rejected: config file .* is not valid JSON.*keeps the current config/)
  t.same([...(await valuesServed(port)).values()], ['two', 'two'], 'an invalid file changes nothing')

  writeFileSync(file, JSON.stringify({ value: 'three', rejectReload: true }))
  cli.signal('SIGHUP')
  await cli.waitFor(/config reloaded on 0\/2 workers.*failed: worker \d \(pid \d+\): this worker refuses the new config/)
  t.same([...(await valuesServed(port)).values()], ['two', 'two'], 'a failing handler keeps the old config')

  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('without --config, SIGHUP still runs the reload handlers', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  cli.signal('SIGHUP')
  await cli.waitFor(/config reloaded on 2\/2 workers/)
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})
