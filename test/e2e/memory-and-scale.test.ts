import path from 'node:path'
import t from 'tap'
import { assertNothingFailed, sleep, underLoad } from '../helpers/load.js'
import { FIXTURES, freePort, request, spawnCli, waitUntil, pidsServing } from '../helpers/process.js'

t.test('a worker above --max-memory is replaced with 0 failed requests under load', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--max-memory', '200', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  let bloated = 0
  const load = await underLoad({ port, connections: 16, seconds: 30, stopWhenDone: true }, async () => {
    await sleep(1000)
    bloated = (await request(port, '/bloat?mb=300')).json().pid
    await cli.waitFor(new RegExp(`worker \\d \\(pid ${bloated}\\) uses \\d+ MB RSS, above --max-memory 200 MB; replacing it`), 10000)
    await cli.waitFor(new RegExp(`pid ${bloated}\\) exited with code 0 after draining`), 10000)
    await sleep(1000)
  })
  t.comment(`memory recycling under load: ${load.total} requests, ${load.errors} errors, ${load.non2xx} non-2xx`)
  assertNothingFailed(t, load)
  const pids = await pidsServing(port)
  t.equal(pids.size, 2)
  t.notOk(pids.has(bloated), 'the bloated worker was replaced')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('SIGTTIN adds a worker, SIGTTOU removes one, never below 1', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  cli.signal('SIGTTIN')
  await cli.waitFor(/scaled to 3 workers/)
  t.equal((await pidsServing(port)).size, 3, '3 distinct pids serve')
  t.match((await request(port, '/ready')).json(), { workers: { ready: 3, total: 3 } })

  cli.signal('SIGTTOU')
  await cli.waitFor(/scaled to 2 workers/)
  cli.signal('SIGTTOU')
  await cli.waitFor(/scaled to 1 worker"/)
  await waitUntil(async () => (await pidsServing(port, 10)).size === 1, 5000, 'a single pid serving')
  cli.signal('SIGTTOU')
  await cli.waitFor(/already at 1 worker, the minimum/)
  t.match((await request(port, '/ready')).json(), { workers: { ready: 1, total: 1 } })
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})
