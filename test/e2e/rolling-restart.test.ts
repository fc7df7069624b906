import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { assertNothingFailed, sleep, underLoad } from '../helpers/load.js'
import { FIXTURES, forkedPids, freePort, isAlive, request, spawnCli, pidsServing } from '../helpers/process.js'

t.test('SIGUSR2 under load: 0 errors, 0 non-2xx, every worker pid is new', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  const before = await pidsServing(port)
  // The load runs from 1 s before the roll until 1 s after it (bounded at 30 s).
  const load = await underLoad({ port, connections: 32, seconds: 30, stopWhenDone: true }, async () => {
    await sleep(1000)
    cli.signal('SIGUSR2')
    await cli.waitFor(/rolling restart done: 2\/2 workers replaced/, 20000)
    await sleep(1000)
  })
  t.comment(`rolling restart under load: ${load.total} requests, ${load.errors} errors, ${load.non2xx} non-2xx`)
  assertNothingFailed(t, load)
  const after = await pidsServing(port)
  t.equal(after.size, 2)
  for (const pid of after) t.notOk(before.has(pid), `pid ${pid} is new`)
  for (const pid of before) t.notOk(isAlive(pid), `old worker ${pid} is gone`)
  t.match(cli.output(), /rolling restart 1\/2/)
  t.match(cli.output(), /rolling restart 2\/2/)

  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('a replacement that throws at start aborts the roll; the old workers keep serving', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const marker = path.join(dir, 'broken')
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')], { env: { FAIL_MARKER: marker } })
  await cli.waitFor(/2\/2 workers ready/)
  const before = await pidsServing(port)
  writeFileSync(marker, 'bad deploy')
  const load = await underLoad({ port, connections: 32, seconds: 20, stopWhenDone: true }, async () => {
    await sleep(1000)
    cli.signal('SIGUSR2')
    await cli.waitFor(/rolling restart 1\/2 failed: .*bad deploy: marker file present.*old workers keep serving/, 15000)
    await sleep(1000)
  })
  assertNothingFailed(t, load)
  t.same([...await pidsServing(port)].sort(), [...before].sort(), 'the old workers still serve')
  t.equal(forkedPids(cli).length, 3, 'one replacement was tried, then the roll stopped')
  t.match((await request(port, '/ready')).json(), { status: 'pass', workers: { ready: 2, total: 2 } })

  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('a second SIGUSR2 during a roll is ignored with a log line', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  cli.signal('SIGUSR2')
  await cli.waitFor(/rolling restart 1\/2/)
  cli.signal('SIGUSR2')
  await cli.waitFor(/rolling restart already running; this request is ignored/)
  await cli.waitFor(/rolling restart done/, 20000)
  t.equal(forkedPids(cli).length, 4, 'exactly one roll: 2 + 2 forks')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})
