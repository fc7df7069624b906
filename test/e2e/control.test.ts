import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { assertNothingFailed, sleep, underLoad } from '../helpers/load.js'
import { FIXTURES, forkedPids, freePort, isAlive, pidsServing, runtimeDir, spawnCli, waitUntil, type Running } from '../helpers/process.js'

// Five clusters and some forty short CLI runs, one after another: more than the
// suite's per-file default on a busy 2-core machine.
t.setTimeout(300000)

// JavaScript entries where the TypeScript fixture's extras are not needed: no
// compile step in every worker, so this file weighs less on the tests beside it.
const APP = path.join(FIXTURES, 'self-start.mjs')
const FAILING_APP = path.join(FIXTURES, 'lifecycle-app.mjs')
const NO_PLUGIN = path.join(FIXTURES, 'no-plugin.mjs')

/** Runs one CLI command against the instances of `runtime`; bounded, like every wait here. */
async function command (t: Test, runtime: string, args: string[], timeoutMs = 60000): Promise<{ code: number | null, out: string, cmd: Running }> {
  const cmd = spawnCli(t, args, { env: { XDG_RUNTIME_DIR: runtime } })
  const { code } = await cmd.exited(timeoutMs)
  return { code, out: cmd.output(), cmd }
}

async function statusJson (t: Test, runtime: string, name?: string): Promise<any> {
  const { code, out } = await command(t, runtime, ['status', '--json', ...(name === undefined ? [] : ['--name', name])])
  if (code !== 0) throw new Error(`status --json exited ${String(code)}:\n${out}`)
  return JSON.parse(out)
}

/** The worker rows of a status table: one array of cell texts per row. */
function tableRows (out: string): string[][] {
  return out.split('\n')
    .filter((line) => line.startsWith('│'))
    .map((line) => line.split('│').slice(1, -1).map((cell) => cell.trim()))
    .filter((cells) => /^\d+$/.test(cells[0] ?? ''))
}

function sockets (runtime: string): string {
  return path.join(runtime, 'fastify-cluster-launch')
}

t.test('status: one ready row per worker with the forked pids; a kill -9 shows a new pid with 1 restart; --json has the fields', async (t) => {
  const runtime = runtimeDir(t)
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', APP], { env: { XDG_RUNTIME_DIR: runtime } })
  await cli.waitFor(/2\/2 workers ready/, 30000)
  const forked = forkedPids(cli)
  t.same([...await pidsServing(port)].sort(), [...forked].sort(), 'the forked pids are the ones serving')

  const first = await command(t, runtime, ['status'])
  t.equal(first.code, 0)
  t.comment(`\n${first.out}`)
  t.match(first.out, new RegExp(`^instance "self-start-${port}": pid ${cli.pid}, running, 2/2 workers ready`, 'm'))
  t.match(first.out, new RegExp(`^entry ${APP.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} on 127\\.0\\.0\\.1:${port}, config version 1$`, 'm'))
  t.match(first.out, /^last rolling restart: none yet$/m)
  t.match(first.out, /^last config reload: none yet$/m)
  t.match(first.out, /worker.*pid.*state.*uptime.*restarts.*RSS.*heap used.*ELU.*requests/)
  const rows = tableRows(first.out)
  t.equal(rows.length, 2, 'two rows')
  t.same(rows.map((r) => r[0]), ['0', '1'], 'worker ids')
  t.same(rows.map((r) => Number(r[1])).sort(), [...forked].sort(), 'the pids the primary forked')
  t.same(rows.map((r) => r[2]), ['ready', 'ready'])
  t.same(rows.map((r) => r[4]), ['0', '0'], 'no restarts yet')

  // Requests are counted by the plugin and reported with the stats every 5 s.
  await pidsServing(port, 20)
  await waitUntil(async () => {
    const status = await statusJson(t, runtime)
    return status.workers.reduce((sum: number, w: any) => sum + (w.requests ?? 0), 0) >= 20
  }, 20000, 'the status to count the 20 requests', 500)

  const victim = forked[0] as number
  const victimId = cli.logs().find((l) => l.workerPid === victim)?.workerId
  process.kill(victim, 'SIGKILL')
  await cli.waitFor((line) => line.includes('ready in') && forkedPids(cli).length === 3, 20000)
  const replacement = forkedPids(cli)[2] as number
  const after = await command(t, runtime, ['status'])
  t.equal(after.code, 0)
  const rowsAfter = tableRows(after.out)
  t.equal(rowsAfter.length, 2)
  const restarted = rowsAfter.find((r) => r[0] === String(victimId))
  t.equal(Number(restarted?.[1]), replacement, 'the restarted row shows the new pid')
  t.not(Number(restarted?.[1]), victim)
  t.equal(restarted?.[4], '1', 'and 1 restart')
  t.equal(rowsAfter.find((r) => r[0] !== String(victimId))?.[4], '0', 'the other worker has none')

  const json = await statusJson(t, runtime)
  t.match(json, {
    pid: cli.pid,
    name: `self-start-${port}`,
    entry: APP,
    port,
    configVersion: 1,
    instance: { ready: 2, total: 2, state: 'running' },
    control: path.join(sockets(runtime), `self-start-${port}.sock`),
    lastRoll: null,
    lastConfigReload: null
  })
  t.equal(json.workers.length, 2)
  for (const worker of json.workers) {
    for (const field of ['workerId', 'pid', 'state', 'startedAt', 'uptime', 'restarts', 'rss', 'heapUsed', 'elu', 'requests']) {
      t.ok(field in worker, `worker ${String(worker.workerId)} has ${field}`)
    }
  }

  cli.signal('SIGTERM')
  t.equal((await cli.exited(30000)).code, 0)
  t.notOk(existsSync(json.control), 'the socket is removed on exit')
})

t.test('reload under load loses nothing; reload-config, scale 3 and stop print their outcome', async (t) => {
  const runtime = runtimeDir(t)
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', APP], { env: { XDG_RUNTIME_DIR: runtime } })
  await cli.waitFor(/2\/2 workers ready/, 30000)
  const before = await pidsServing(port)

  let reload: { code: number | null, out: string } | undefined
  const load = await underLoad({ port, connections: 32, seconds: 20, stopWhenDone: true }, async () => {
    await sleep(1000)
    reload = await command(t, runtime, ['reload'])
    await sleep(1000)
  })
  t.comment(`reload command under load: ${load.total} requests, ${load.errors} errors, ${load.non2xx} non-2xx`)
  t.equal(reload?.code, 0, 'reload exits 0')
  t.match(reload?.out, /^rolling restart done: 2\/2 workers replaced in \d+\.\d s$/m)
  assertNothingFailed(t, load)
  const after = await pidsServing(port)
  t.equal(after.size, 2)
  for (const pid of after) t.notOk(before.has(pid), `pid ${pid} is new`)

  const config = await command(t, runtime, ['reload-config'])
  t.equal(config.code, 0)
  t.match(config.out, /^config reloaded on 2\/2 workers \(version 2\)$/m)

  const status = await command(t, runtime, ['status'])
  t.match(status.out, /^last rolling restart: done, 2\/2 workers replaced in \d+\.\d s \(.+ ago\)$/m)
  t.match(status.out, /^last config reload: applied on 2\/2 workers, version 2 \(.+ ago\)$/m)

  const scale = await command(t, runtime, ['scale', '3'])
  t.equal(scale.code, 0)
  t.match(scale.out, /^scaled to 3 workers$/m)
  await waitUntil(async () => (await pidsServing(port, 15)).size === 3, 10000, '3 distinct pids serving')
  t.equal(tableRows((await command(t, runtime, ['status'])).out).length, 3, 'status shows 3 rows')

  const socket = path.join(sockets(runtime), `self-start-${port}.sock`)
  t.ok(existsSync(socket))
  const stop = await command(t, runtime, ['stop'])
  t.equal(stop.code, 0, 'stop exits 0')
  t.match(stop.out, /^stopped \(exit code 0\)$/m)
  t.equal((await cli.exited(30000)).code, 0, 'the instance exits 0')
  t.match(cli.output(), /control socket: stop requested/)
  t.notOk(existsSync(socket), 'the socket is gone')
})

t.test('failed actions exit 1: a roll that fails, a config file that is rejected', async (t) => {
  const runtime = runtimeDir(t)
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const marker = path.join(dir, 'broken')
  const configFile = path.join(dir, 'config.json')
  writeFileSync(configFile, '{ "value": 1 }')
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--config', configFile, FAILING_APP], { env: { XDG_RUNTIME_DIR: runtime, FAIL_MARKER: marker } })
  await cli.waitFor(/2\/2 workers ready/, 30000)

  writeFileSync(marker, 'bad deploy')
  const roll = await command(t, runtime, ['reload'])
  t.equal(roll.code, 1, 'a failed roll exits 1')
  t.match(roll.out, /^Error: rolling restart failed after 0\/2 workers in \d+\.\d s: .*bad deploy: marker file present/m)
  t.match(roll.out, /^Hint: /m)
  rmSync(marker)

  writeFileSync(configFile, '{ "value": ')
  const config = await command(t, runtime, ['reload-config'])
  t.equal(config.code, 1, 'a rejected config exits 1')
  t.match(config.out, /^Error: config reload rejected: config file .*config\.json is not valid JSON/m)

  const status = await command(t, runtime, ['status'])
  t.match(status.out, /^last rolling restart: failed after 0\/2 workers in .*bad deploy/m)
  t.match(status.out, /^last config reload: rejected: /m)

  cli.signal('SIGTERM')
  t.equal((await cli.exited(30000)).code, 0)
})

t.test('commands without an instance, with several, and with bad arguments', async (t) => {
  const runtime = runtimeDir(t)
  const none = await command(t, runtime, ['status'])
  t.equal(none.code, 1)
  t.match(none.out, new RegExp(`^Error: no fastify-cluster-launch instance is running \\(looked in ${sockets(runtime)}\\)$`, 'm'))
  t.notMatch(none.out, /^\s+at /m, 'no stack trace')
  for (const args of [['reload'], ['stop']]) {
    const result = await command(t, runtime, args)
    t.equal(result.code, 1, `${args.join(' ')} exits 1`)
    t.match(result.out, /^Error: no fastify-cluster-launch instance is running/m)
  }

  const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()]
  const env = { XDG_RUNTIME_DIR: runtime }
  const a = spawnCli(t, ['-w', '1', '-p', String(portA), '--host', '127.0.0.1', '--name', 'alpha', NO_PLUGIN], { env })
  const b = spawnCli(t, ['-w', '1', '-p', String(portB), '--host', '127.0.0.1', '--name', 'beta', NO_PLUGIN], { env })
  const hidden = spawnCli(t, ['-w', '1', '-p', String(portC), '--host', '127.0.0.1', '--name', 'gamma', NO_PLUGIN], { env: { ...env, FCL_CONTROL: '0' } })
  await Promise.all([a, b, hidden].map((p) => p.waitFor(/1\/1 workers ready/, 30000)))

  const several = await command(t, runtime, ['status'])
  t.equal(several.code, 1)
  t.match(several.out, /^Error: 2 instances are running: alpha, beta$/m, 'names them; the one without a control socket is not there')
  t.match(several.out, /^Hint: .*--name/m)
  const missing = await command(t, runtime, ['reload', '--name', 'delta'])
  t.equal(missing.code, 1)
  t.match(missing.out, /^Error: no instance named "delta" is running \(running: alpha, beta; looked in /m)

  // Requests of an entry without the plugin are not counted: "-" (null), not 0.
  await waitUntil(async () => (await statusJson(t, runtime, 'alpha')).workers[0]?.rss !== null, 15000, 'the first stats', 500)
  const alpha = await command(t, runtime, ['status', '--name', 'alpha'])
  const row = tableRows(alpha.out)[0]
  t.equal(row?.[8], '-', 'requests unknown without the plugin')
  t.equal((await statusJson(t, runtime, 'alpha')).workers[0]?.requests, null)

  // The parser's other cases are unit-tested (test/unit/args.test.ts); these check the exit code.
  const usage: Array<[string[], RegExp]> = [
    [['scale', 'abc'], /^Error: scale needs one worker count from 1 to 1024, got "abc"$/m],
    [['scale', '0'], /^Error: scale needs one worker count from 1 to 1024, got "0"$/m],
    [['stauts'], /^Error: unknown command "stauts"$/m]
  ]
  for (const [args, pattern] of usage) {
    const result = await command(t, runtime, args)
    t.equal(result.code, 2, `${args.join(' ')}: exit 2`)
    t.match(result.out, pattern)
    t.match(result.out, /^Hint: /m)
  }

  for (const p of [a, b, hidden]) p.signal('SIGTERM')
  for (const p of [a, b, hidden]) t.equal((await p.exited(30000)).code, 0)
})

t.test('the socket is 0600 in a 0700 directory; a second instance of the same name is refused until the first is killed', async (t) => {
  const runtime = runtimeDir(t)
  const env = { XDG_RUNTIME_DIR: runtime }
  const [portA, portB] = [await freePort(), await freePort()]
  const first = spawnCli(t, ['-w', '1', '-p', String(portA), '--host', '127.0.0.1', '--name', 'shared', APP], { env })
  await first.waitFor(/1\/1 workers ready/, 30000)
  const socket = path.join(sockets(runtime), 'shared.sock')
  t.equal(statSync(sockets(runtime)).mode & 0o777, 0o700, 'directory 0700')
  t.ok(statSync(socket).isSocket())
  t.equal(statSync(socket).mode & 0o777, 0o600, 'socket 0600')

  const second = spawnCli(t, ['-w', '1', '-p', String(portB), '--host', '127.0.0.1', '--name', 'shared', APP], { env })
  t.equal((await second.exited(30000)).code, 1, 'the second instance exits 1')
  t.match(second.output(), new RegExp(`^Error: another instance named "shared" is running \\(pid ${first.pid}; control socket ${socket.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`, 'm'))
  t.match(second.output(), /^Hint: .*--name/m)
  t.same(forkedPids(second), [], 'nothing was forked')
  t.ok(existsSync(socket), 'the first one\'s socket is untouched')
  t.equal((await command(t, runtime, ['status', '--name', 'shared'])).code, 0, 'and it still answers')

  const workers = forkedPids(first)
  first.signal('SIGKILL')
  await first.exited()
  await waitUntil(() => workers.every((pid) => !isAlive(pid)), 5000, 'the orphaned worker to exit')
  t.ok(existsSync(socket), 'a SIGKILLed primary leaves its socket behind')

  const third = spawnCli(t, ['-w', '1', '-p', String(portB), '--host', '127.0.0.1', '--name', 'shared', APP], { env })
  await third.waitFor(/1\/1 workers ready/, 30000)
  t.match(third.output(), /removed a stale control socket .*shared\.sock/)
  const status = await statusJson(t, runtime, 'shared')
  t.equal(status.pid, third.pid, 'the new instance answers on the name')
  third.signal('SIGTERM')
  t.equal((await third.exited(30000)).code, 0)
  t.notOk(existsSync(socket))
})
