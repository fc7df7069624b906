import path from 'node:path'
import t from 'tap'
import { sleep } from '../helpers/load.js'
import { FIXTURES, forkedPids, freePort, isAlive, request, spawnCli, waitUntil } from '../helpers/process.js'

t.test('SIGTERM: in-flight request completes, readiness 503 during the drain delay, liveness 200, exit 0', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--drain-delay', '1500', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  const workers = forkedPids(cli)
  const slow = request(port, '/slow?ms=2000')
  await sleep(200)
  cli.signal('SIGTERM')
  await cli.waitFor(/stopping: draining 2 workers/)
  await sleep(100)
  const ready = await request(port, '/ready')
  t.equal(ready.status, 503, 'readiness fails during the drain delay')
  t.match(ready.json(), { status: 'fail', state: 'draining' })
  t.ok(ready.headers['retry-after'], 'Retry-After is set')
  t.equal(ready.headers.connection, 'close', 'responses close their connection while draining')
  const health = await request(port, '/health')
  t.equal(health.status, 200, 'liveness still passes while draining')
  const served = await request(port, '/')
  t.equal(served.status, 200, 'requests are still served during the drain delay')

  const slowResult = await slow
  t.equal(slowResult.status, 200, 'the in-flight slow request completed')
  t.same(await cli.exited(10000), { code: 0, signal: null })
  await waitUntil(() => workers.every((pid) => !isAlive(pid)), 2000, 'no worker left')
  t.notMatch(cli.output(), /restarting in/, 'no worker was restarted while stopping')
})

t.test('a worker that does not finish is killed at the grace timeout; exit 1 names it', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', '--grace-timeout', '1500', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/1\/1 workers ready/)
  const hanging = request(port, '/hang', { timeoutMs: 8000 }).catch((err: Error) => err)
  await sleep(200)
  const stopAt = Date.now()
  cli.signal('SIGTERM')
  const { code } = await cli.exited(10000)
  t.equal(code, 1)
  t.ok(Date.now() - stopAt < 5000, 'stopped soon after the grace timeout')
  t.match(cli.output(), /killed at the grace timeout: worker 0 \(pid \d+\)/)
  t.type(await hanging, Error, 'the hung request was cut')
})

t.test('a second SIGINT stops at once', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/1\/1 workers ready/)
  void request(port, '/hang', { timeoutMs: 8000 }).catch(() => {})
  await sleep(200)
  cli.signal('SIGINT')
  await cli.waitFor(/SIGINT: stopping gracefully/)
  cli.signal('SIGINT')
  const { code } = await cli.exited(5000)
  t.equal(code, 1)
  t.match(cli.output(), /second SIGINT: stopping at once/)
})

t.test('Ctrl+C (SIGINT to the whole process group) behaves like one SIGINT', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  const slow = request(port, '/slow?ms=1000')
  await sleep(200)
  process.kill(-cli.pid, 'SIGINT')
  t.equal((await slow).status, 200, 'the in-flight request completed')
  t.same(await cli.exited(10000), { code: 0, signal: null })
  t.notMatch(cli.output(), /second SIGINT/)
})

t.test('SIGTERM while workers are still starting stops at once with exit 0', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/worker 1 forked/)
  const stopAt = Date.now()
  cli.signal('SIGTERM')
  t.same(await cli.exited(5000), { code: 0, signal: null })
  t.ok(Date.now() - stopAt < 3000, 'no wait for the grace timeout')
  await waitUntil(() => forkedPids(cli).every((pid) => !isAlive(pid)), 2000, 'no worker left')
})
