import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { reusePortUnsupported } from '../../launcher/balance.js'
import { assertNothingFailed, sleep, underLoad } from '../helpers/load.js'
import { FIXTURES, forkedPids, freePort, hasProgram, isAlive, listenerPids, pidsServing, request, spawnCli, spawnProcess } from '../helpers/process.js'

// `--balance reuseport` runs where Node and the OS can do it (CI: Node 22 and 24 on Linux);
// elsewhere the launcher must refuse it, and that refusal is what gets tested.
const unsupported = reusePortUnsupported()

t.test('round-robin (default): only the primary listens on the port', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'self-start.mjs')])
  await cli.waitFor(/2\/2 workers ready/)
  t.same([...listenerPids(port)], [cli.pid], 'the primary owns the accept path')
  t.equal((await pidsServing(port)).size, 2, 'both workers serve')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

if (unsupported !== null) {
  t.test('reuseport is refused here with a clear error, nothing forked', async (t) => {
    const port = await freePort()
    const cli = spawnCli(t, ['--balance', 'reuseport', '-p', String(port), path.join(FIXTURES, 'lifecycle-app.mjs')])
    const { code } = await cli.exited(10000)
    t.equal(code, 2)
    t.match(cli.output(), /^Error: --balance reuseport needs (Linux|Node\.js >= 22\.12 or >= 23\.1)/m)
    t.match(cli.output(), /^Hint: use --balance rr/m)
    t.notMatch(cli.output(), /forked|\n\s+at /, 'no worker, no stack trace')
  })
} else {
  t.test('reuseport: each worker owns a listening socket, the primary none; both serve', async (t) => {
    const port = await freePort()
    const cli = spawnCli(t, ['-w', '2', '--balance', 'reuseport', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
    await cli.waitFor(/2\/2 workers ready/)
    const workers = forkedPids(cli)
    t.same([...listenerPids(port)].sort(), [...workers].sort(), 'the kernel hands connections to the workers directly')
    t.same([...await pidsServing(port, 40)].sort(), [...workers].sort(), '2 workers serve distinct pids')
    t.match((await request(port, '/ready')).json(), { status: 'pass', workers: { ready: 2, total: 2 } })
    t.match(cli.output(), /SO_REUSEPORT, the kernel spreads connections/)
    cli.signal('SIGTERM')
    t.equal((await cli.exited()).code, 0)
  })

  t.test('reuseport: SIGUSR2 under load has 0 failed requests; every pid is new', async (t) => {
    const port = await freePort()
    const cli = spawnCli(t, ['-w', '2', '--balance', 'reuseport', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
    await cli.waitFor(/2\/2 workers ready/)
    const before = await pidsServing(port, 40)
    const load = await underLoad({ port, connections: 32, seconds: 30, stopWhenDone: true }, async () => {
      await sleep(1000)
      cli.signal('SIGUSR2')
      await cli.waitFor(/rolling restart done: 2\/2 workers replaced/, 20000)
      await sleep(1000)
    })
    t.comment(`reuseport rolling restart under load: ${load.total} requests, ${load.errors} errors, ${load.non2xx} non-2xx`)
    assertNothingFailed(t, load)
    const after = await pidsServing(port, 40)
    t.equal(after.size, 2)
    for (const pid of after) t.notOk(before.has(pid), `pid ${pid} is new`)
    for (const pid of before) t.notOk(isAlive(pid), `old worker ${pid} is gone`)
    t.same([...listenerPids(port)].sort(), [...after].sort(), 'only the new workers listen')
    cli.signal('SIGTERM')
    t.equal((await cli.exited()).code, 0)
  })

  t.test('reuseport: an entry without the plugin is ready on listen and retires on disconnect', async (t) => {
    const port = await freePort()
    const cli = spawnCli(t, ['-w', '2', '--balance', 'reuseport', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'no-plugin.mjs')])
    await cli.waitFor(/2\/2 workers ready/)
    const before = forkedPids(cli)
    t.same([...listenerPids(port)].sort(), [...before].sort())
    const started = Date.now()
    cli.signal('SIGUSR2')
    await cli.waitFor(/rolling restart done: 2\/2 workers replaced/, 20000)
    t.ok(Date.now() - started < 10000, 'the old workers left on disconnect, not at the grace timeout')
    t.notMatch(cli.output(), /killing it/)
    const after = await pidsServing(port, 40)
    t.equal(after.size, 2)
    for (const pid of after) t.notOk(before.includes(pid), `pid ${pid} is new`)
    cli.signal('SIGTERM')
    t.equal((await cli.exited()).code, 0)
  })

  t.test('reuseport: a port another process listens on is refused, nothing forked', async (t) => {
    const port = await freePort()
    const other = net.createServer().listen(port, '127.0.0.1')
    t.teardown(() => { other.close() })
    const cli = spawnCli(t, ['-w', '2', '--balance', 'reuseport', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')])
    const { code } = await cli.exited(10000)
    t.equal(code, 1)
    t.match(cli.output(), /port \d+ on 127\.0\.0\.1 is already in use/)
    t.equal(forkedPids(cli).length, 0, 'nothing forked')
  })

  t.test('reuseport: port 0 is a usage error', async (t) => {
    const cli = spawnCli(t, ['--balance', 'reuseport', '-p', '0', path.join(FIXTURES, 'lifecycle-app.mjs')])
    t.equal((await cli.exited(10000)).code, 2)
    t.match(cli.output(), /^Error: balance reuseport needs a fixed port, got port 0/m)
  })
}

// Every request a new connection: the case where a closing listener's accept queue
// matters. Each run gets a network namespace of its own (its loopback, its sysctls),
// so the kernel setting is tested without touching the machine's.
const canUnshare = process.getuid?.() === 0 && hasProgram('unshare') && hasProgram('ip') && hasProgram('sysctl')
const skipMigrate = unsupported !== null ? `reuseport is not available here: ${unsupported}` : canUnshare ? false : 'needs root, unshare, ip and sysctl (CI has them)'
t.test('reuseport with net.ipv4.tcp_migrate_req=1: a roll under new-connection load loses nothing', { skip: skipMigrate }, async (t) => {
  async function rollInNamespace (migrate: 0 | 1): Promise<{ total: number, errors: number, non2xx: number, timeouts: number, code: number }> {
    const script = `ip link set lo up && sysctl -qw net.ipv4.tcp_migrate_req=${migrate} && exec "${process.execPath}" "${path.join(FIXTURES, 'roll-new-connections.mjs')}"`
    const run = spawnProcess(t, 'unshare', ['--net', 'sh', '-c', script])
    const { code } = await run.exited(60000)
    t.equal(code, 0, `the run in the namespace succeeded (tcp_migrate_req=${migrate})`)
    const line = run.lines().find((l) => l.startsWith('{"total"'))
    if (line === undefined) throw new Error(`no result line:\n${run.output()}`)
    return JSON.parse(line)
  }
  const migrated = await rollInNamespace(1)
  t.comment(`tcp_migrate_req=1: ${migrated.total} requests, ${migrated.errors} errors`)
  t.ok(migrated.total > 1000, 'load ran')
  t.equal(migrated.errors, 0, 'no failed requests: queued connections move to the remaining listener')
  t.equal(migrated.timeouts, 0)
  t.equal(migrated.non2xx, 0)
  t.equal(migrated.code, 0, 'the cluster stopped cleanly')
  // Without the setting the kernel resets a few queued connections per roll: measured, not
  // asserted, by `npm run bench` (reload under Connection: close load, ours-reuseport).
})
