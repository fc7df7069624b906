import path from 'node:path'
import t from 'tap'
import { FIXTURES, forkedPids, freePort, isAlive, request, spawnCli, waitUntil } from '../helpers/process.js'

t.test('kill -9 of a worker: a new pid with the same workerId serves within 2 s; never 0 ready', async (t) => {
  const port = await freePort()
  // A JavaScript entry: the 2 s bound is about the launcher's reaction, not tsx's compile time.
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--restart-delay', '100', path.join(FIXTURES, 'self-start.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  const [victim, survivor] = forkedPids(cli) as [number, number]
  const victimId = cli.logs().find((l) => l.workerPid === victim)?.workerId
  const killedAt = Date.now()
  process.kill(victim, 'SIGKILL')

  // Probe readiness continuously while the worker is replaced.
  let minReady = Infinity
  let replacement: number | undefined
  let lost = 0
  while (replacement === undefined && Date.now() - killedAt < 5000) {
    // A connection node:cluster's primary handed to the worker just as it was
    // killed is never answered (the primary keeps it open): that request is lost,
    // as with any hard kill; bound it and go on.
    const ready = await request(port, '/ready', { timeoutMs: 500 }).catch(() => null)
    if (ready === null) {
      lost++
      continue
    }
    minReady = Math.min(minReady, ready.json().workers.ready)
    const pid = ready.json().pid as number
    if (pid !== victim && pid !== survivor) replacement = pid
  }
  t.ok(lost <= 2, `at most the connections in flight to the killed worker are lost (${lost})`)
  t.ok(replacement, 'a new pid answers')
  t.ok(Date.now() - killedAt < 2000, `new pid served ${Date.now() - killedAt} ms after kill -9`)
  t.ok(minReady >= 1, 'the instance never reported 0 ready workers')
  const health = await request(port, '/health')
  t.ok(health.status === 200)
  const replacementLog = cli.logs().find((l) => l.workerPid === replacement && /forked/.test(String(l.msg)))
  t.equal(replacementLog?.workerId, victimId, 'the replacement inherits the workerId')
  t.match(cli.output(), /was killed by SIGKILL; restarting now/, 'the first restart of a streak is immediate')
  await waitUntil(async () => (await request(port, '/ready')).json().workers.ready === 2, 5000, '2 ready workers again')

  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('kill -9 of the primary: no worker outlives it by more than 2 s', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  const workers = forkedPids(cli)
  t.equal(workers.length, 2)
  cli.signal('SIGKILL')
  await cli.exited()
  await waitUntil(() => workers.every((pid) => !isAlive(pid)), 2000, 'workers to exit after the primary died')
  t.pass('all workers gone within 2 s')
})

t.test('a worker that keeps crashing makes the launcher give up with exit 1', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', '--max-restarts', '2', '--restart-delay', '50', '--min-uptime', '60000', path.join(FIXTURES, 'lifecycle-app.mjs')])
  await cli.waitFor(/1\/1 workers ready/)
  for (let i = 0; i < 3; i++) {
    const pids = forkedPids(cli)
    process.kill(pids[pids.length - 1] as number, 'SIGKILL')
    if (i < 2) await cli.waitFor((l) => l.includes('ready in') && forkedPids(cli).length === pids.length + 1, 10000)
  }
  const { code } = await cli.exited(15000)
  t.equal(code, 1)
  t.match(cli.output(), /crashed 3 times in a row without staying up 60000 ms.*giving up/)
  t.equal(forkedPids(cli).length, 3, 'bounded forks: 1 + 2 restarts')
})
