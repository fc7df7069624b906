import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import autocannon from 'autocannon'
import t from 'tap'
import { reusePortUnsupported } from '../../launcher/balance.js'
import { runControlCommand } from '../../launcher/control-command.js'
import { assertNothingFailed, sleep, underLoad } from '../helpers/load.js'
import { FIXTURES, forkedPids, freePort, request, runtimeDir, spawnCli, waitUntil, type Running } from '../helpers/process.js'

// Several clusters, one of them under 30 s of full load.
t.setTimeout(240000)

const STUCK_APP = path.join(FIXTURES, 'stuck-app.mjs')
const STUCK_AT_IMPORT = path.join(FIXTURES, 'stuck-at-import.mjs')

/**
 * `status --json` of the instance, through the same code as the CLI command but without a
 * process per call: the `unresponsive` state lasts only as long as the stack capture (tens of
 * ms), too short for a poll that starts Node every time.
 */
async function statusJson (runtime: string): Promise<any> {
  const text = await runControlCommand({ request: { v: 1, command: 'status' }, name: null, json: true }, { XDG_RUNTIME_DIR: runtime })
  return JSON.parse(text)
}

function unresponsiveLines (cli: Running): Array<Record<string, unknown>> {
  return cli.logs().filter((l) => typeof l.msg === 'string' && / unresponsive for /.test(l.msg))
}

/** Requests on fresh connections until one is not answered within `timeoutMs`: that is the one the stuck worker swallowed. */
async function absorbSwallowedConnection (port: number): Promise<void> {
  for (let i = 0; i < 6; i++) {
    const answered = await request(port, '/', { timeoutMs: 500 }).then(() => true, () => false)
    if (!answered) return
  }
}

t.test('a worker stuck in a busy loop: named with its stack, shown unresponsive, replaced; the other worker serves throughout', async (t) => {
  const runtime = runtimeDir(t)
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--worker-timeout', '3000', STUCK_APP], { env: { XDG_RUNTIME_DIR: runtime } })
  await cli.waitFor(/2\/2 workers ready/, 30000)
  const before = forkedPids(cli)

  // Poll the status as fast as it answers, to see the stuck worker before it is replaced.
  const seen = new Set<string>()
  const polling = new AbortController()
  const poller = (async () => {
    while (!polling.signal.aborted) {
      const status = await statusJson(runtime).catch(() => null)
      for (const w of status?.workers ?? []) seen.add(`${String(w.pid)}:${String(w.state)}`)
      await sleep(10)
    }
  })()

  const spunAt = Date.now()
  const spin = request(port, '/spin', { timeoutMs: 20000 }).then(() => null, (err: Error) => err)
  await cli.waitFor(/"url":"\/spin"/, 5000)
  const stuckPid = cli.logs().find((l) => (l.req as { url?: string } | undefined)?.url === '/spin')?.pid as number
  t.ok(before.includes(stuckPid), 'the /spin request reached a worker')
  const survivor = before.find((pid) => pid !== stuckPid) as number

  // node:cluster hands the stuck worker at most one more connection, which it never takes;
  // after that every new connection goes to the other worker, and so does all of this load.
  await absorbSwallowedConnection(port)
  let replacement: number | undefined
  let servedAfter = 0
  // A steady rate rather than flat out: the replacement's start, not the load generator, sets the pace.
  const load = await underLoad({ port, connections: 8, rate: 2000, seconds: 20, stopWhenDone: true }, async () => {
    await cli.waitFor((l) => / unresponsive for /.test(l), 15000)
    await waitUntil(async () => {
      const res = await request(port, '/', { timeoutMs: 1000 }).catch(() => null)
      const pid = res?.json().pid as number | undefined
      if (pid !== undefined && !before.includes(pid)) replacement = pid
      return replacement !== undefined
    }, 10000, 'a new pid to answer')
    servedAfter = Date.now() - spunAt
    await sleep(500)
  })
  polling.abort()
  await poller
  assertNothingFailed(t, load, 500)
  t.comment(`stuck worker replaced: a new pid answered ${servedAfter} ms after /spin; the survivor served ${load.total} requests meanwhile`)
  t.ok(servedAfter < 3000 + 2000, `a new pid serves within the timeout + 2 s (${servedAfter} ms)`)
  t.ok(seen.has(`${String(stuckPid)}:unresponsive`), 'status --json showed the stuck worker as unresponsive')
  t.notOk(seen.has(`${survivor}:unresponsive`), 'and only that one')

  const [line] = unresponsiveLines(cli)
  t.match(line?.msg, new RegExp(`^worker \\d \\(pid ${String(stuckPid)}\\) unresponsive for [\\d.]+ s: stuck in spinForever .*stuck-app\\.mjs:43:\\d+; killing it`), 'the log line names the function, the file and the loop\'s line')
  t.match((line?.stack as string[] | undefined)?.slice(0, 2), [/^spinForever .*stuck-app\.mjs:43:/, /^spinRoute .*stuck-app\.mjs:\d+:/], 'with the frames below it')
  const replacementLog = cli.logs().find((l) => l.workerPid === replacement && /forked/.test(String(l.msg)))
  t.equal(replacementLog?.workerId, line?.workerId, 'the replacement took the stuck worker\'s id')
  t.ok(await spin instanceof Error, 'the request that hung the worker is lost with it')

  const status = await statusJson(runtime)
  const slot = status.workers.find((w: { workerId: number }) => w.workerId === line?.workerId)
  t.equal(slot?.restarts, 1, 'counted as a restart of that worker id')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('stuck in native calls: Atomics.wait still gives a stack; a synchronous child process says no JavaScript stack could be taken', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--worker-timeout', '2000', STUCK_APP])
  await cli.waitFor(/2\/2 workers ready/, 30000)

  void request(port, '/wait-native?ms=60000', { timeoutMs: 20000 }).catch(() => {})
  await cli.waitFor((l) => / unresponsive for .*: stuck in waitNative /.test(l), 15000)
  await cli.waitFor((l) => /ready in/.test(l) && forkedPids(cli).length === 3, 10000)

  void request(port, '/exec-sync?s=30', { timeoutMs: 20000 }).catch(() => {})
  const line = await cli.waitFor((l) => / unresponsive for .*: no JavaScript stack: .*native call/.test(l), 15000)
  t.match(JSON.parse(line).msg, /unresponsive for [\d.]+ s: no JavaScript stack: its inspector did not open within 500 ms of SIGUSR1: the main thread is inside a blocking native call/)
  await cli.waitFor((l) => /ready in/.test(l) && forkedPids(cli).length === 4, 10000)
  t.equal(unresponsiveLines(cli).length, 2, 'both replaced')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('a TypeScript entry: the stack names the .ts file and the loop\'s own line', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', '--worker-timeout', '2000', path.join(FIXTURES, 'stuck-app.ts')])
  await cli.waitFor(/1\/1 workers ready/, 30000)
  void request(port, '/spin', { timeoutMs: 20000 }).catch(() => {})
  const line = await cli.waitFor((l) => / unresponsive for .*; killing it/.test(l), 15000)
  t.match(JSON.parse(line).stack.slice(0, 2), [/^spinTyped .*stuck-app\.ts:14:\d+$/, /^spinTypedRoute .*stuck-app\.ts:9:\d+$/])
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

const noReusePort = reusePortUnsupported()
t.test('--balance reuseport: after the stuck worker is replaced, no new connection times out', { skip: noReusePort ?? false }, async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '--balance', 'reuseport', '-p', String(port), '--host', '127.0.0.1', '--worker-timeout', '2000', STUCK_APP])
  await cli.waitFor(/2\/2 workers ready/, 30000)
  void request(port, '/spin', { timeoutMs: 20000 }).catch(() => {})
  await cli.waitFor((l) => / unresponsive for /.test(l), 15000)
  await cli.waitFor((l) => /ready in/.test(l) && forkedPids(cli).length === 3, 10000)
  let answered = 0
  let failed = 0
  const until = Date.now() + 10000
  while (Date.now() < until) {
    if (await request(port, '/', { timeoutMs: 2000 }).then(() => true, () => false)) answered++
    else failed++
  }
  t.comment(`reuseport after the replacement: ${answered} fresh connections answered, ${failed} failed in 10 s`)
  t.ok(answered > 50, 'fresh connections were polled')
  t.equal(failed, 0, 'none timed out or failed')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('--no-worker-stacks: a stuck worker is still found and replaced, and the log says why there is no stack', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', '--worker-timeout', '1000', '--no-worker-stacks', STUCK_APP])
  await cli.waitFor(/1\/1 workers ready/, 30000)
  void request(port, '/spin', { timeoutMs: 20000 }).catch(() => {})
  const line = await cli.waitFor((l) => / unresponsive for /.test(l), 15000)
  t.match(JSON.parse(line).msg, /unresponsive for [\d.]+ s: no stack: stacks are off \(--no-worker-stacks\); killing it/)
  await cli.waitFor((l) => /ready in/.test(l) && forkedPids(cli).length === 2, 10000)
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('no false positives: full load with 200-500 ms synchronous requests at the default timeout, and a request awaiting a 20 s timer at a 3 s timeout', async (t) => {
  const runtime = runtimeDir(t)
  const portA = await freePort()
  const portB = await freePort()
  const loaded = spawnCli(t, ['-w', '2', '-p', String(portA), '--host', '127.0.0.1', STUCK_APP], { env: { XDG_RUNTIME_DIR: runtime } })
  const sleepy = spawnCli(t, ['-w', '1', '-p', String(portB), '--host', '127.0.0.1', '--worker-timeout', '3000', STUCK_APP])
  await Promise.all([loaded.waitFor(/2\/2 workers ready/, 30000), sleepy.waitFor(/1\/1 workers ready/, 30000)])
  const slow = request(portB, '/sleep?ms=20000', { timeoutMs: 30000 })

  // The test would say nothing if heartbeats could go quiet for 29 s unnoticed: watch how long
  // the primary goes without hearing from each worker, all through the load.
  let maxSilentMs = 0
  const watching = new AbortController()
  const watcher = (async () => {
    while (!watching.signal.aborted) {
      const status = await statusJson(runtime).catch(() => null)
      for (const w of status?.workers ?? []) maxSilentMs = Math.max(maxSilentMs, w.silentMs as number)
      await sleep(200)
    }
  })()
  const heavy = autocannon({
    url: `http://127.0.0.1:${portA}`,
    connections: 2,
    duration: 30,
    timeout: 10,
    requests: [{ path: '/burn?ms=200' }, { path: '/burn?ms=500' }, { path: '/burn?ms=350' }]
  })
  const fast = autocannon({ url: `http://127.0.0.1:${portA}/`, connections: 16, duration: 30, timeout: 10 })
  const [heavyResult, fastResult] = await Promise.all([heavy, fast])
  watching.abort()
  await watcher
  t.comment(`30 s on 2 CPUs: ${fastResult.requests.total} fast and ${heavyResult.requests.total} CPU-heavy requests; longest silence of a worker ${maxSilentMs} ms`)
  // A heartbeat every 5 s, and a 500 ms request may hold the next one back: far from 30 s.
  t.ok(maxSilentMs < 8000, `no worker went quiet for long: at most ${maxSilentMs} ms against a 30000 ms timeout`)
  t.ok(heavyResult.requests.total > 40, 'the CPU-heavy requests ran')
  t.equal(fastResult.errors + heavyResult.errors, 0, 'no failed request')
  t.equal(unresponsiveLines(loaded).length, 0, 'no worker declared unresponsive under load')
  t.equal(forkedPids(loaded).length, 2, 'no worker replaced')

  const answer = await slow
  t.equal(answer.status, 200, 'the 20 s request completed')
  t.equal(unresponsiveLines(sleepy).length, 0, 'a request awaiting a timer is not a hang')
  t.equal(forkedPids(sleepy).length, 1)
  loaded.signal('SIGTERM')
  sleepy.signal('SIGTERM')
  t.equal((await loaded.exited()).code, 0)
  t.equal((await sleepy.exited()).code, 0)
})

t.test('a start that hangs at import: exit 1 naming the stuck frame, no restarts; a start that only waits is not called stuck', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', '--ready-timeout', '3000', STUCK_AT_IMPORT])
  const { code } = await cli.exited(20000)
  t.equal(code, 1)
  t.match(cli.output(), /^Error: worker 0 \(pid \d+\) did not become ready within 3000 ms \(--ready-timeout\); stuck in spinAtImport .*stuck-at-import\.mjs:5:\d+$/m)
  t.notMatch(cli.output(), /\n\s+at /, 'no stack trace of ours')
  t.equal(forkedPids(cli).length, 1, 'no retry at start-up')

  const waiting = spawnCli(t, ['-w', '1', '-p', String(await freePort()), '--host', '127.0.0.1', '--ready-timeout', '2000', path.join(FIXTURES, 'slow-start.mjs')])
  t.equal((await waiting.exited(20000)).code, 1)
  t.match(waiting.output(), /^Error: worker 0 \(pid \d+\) did not become ready within 2000 ms \(--ready-timeout\); its event loop turns \(it waits on something; it is not stuck\)$/m)
})

t.test('a worker that hangs after every start falls under the crash-loop guard, which names the stack', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', '--worker-timeout', '1000', '--max-restarts', '1', '--min-uptime', '60000', STUCK_APP], {
    env: { SPIN_AFTER_LISTEN_MS: '200' }
  })
  const { code } = await cli.exited(30000)
  t.equal(code, 1)
  t.equal(unresponsiveLines(cli).length, 2, 'found stuck twice')
  t.match(cli.output(), /^Error: worker 0 \(pid \d+\) was killed by SIGKILL; worker 0 crashed 2 times in a row without staying up 60000 ms \(--min-uptime\): giving up; it was last stuck in spinForever .*stuck-app\.mjs:43:\d+$/m)
  t.match(cli.output(), /^Hint: fix the code that blocks the event loop/m)
  t.equal(forkedPids(cli).length, 2, 'bounded forks')
})

t.test('--worker-timeout 0: no heartbeats; --no-worker-stacks: heartbeats, no inspector flags; no extra thread either way; bad values are usage errors', async (t) => {
  const start = async (flags: string[]): Promise<{ cli: Running, pid: number }> => {
    const port = await freePort()
    const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', ...flags, STUCK_APP])
    await cli.waitFor(/1\/1 workers ready/, 30000)
    return { cli, pid: forkedPids(cli)[0] as number }
  }
  const [on, noStacks, off] = await Promise.all([start([]), start(['--no-worker-stacks']), start(['--worker-timeout', '0'])])
  await sleep(500)
  const threads = (pid: number): number => readdirSync(`/proc/${pid}/task`).length
  const environ = (pid: number): string => readFileSync(`/proc/${pid}/environ`, 'utf8')
  const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  t.equal(threads(on.pid), threads(off.pid), `the watchdog adds no thread to a worker (${threads(on.pid)} vs ${threads(off.pid)} threads)`)
  t.equal(threads(noStacks.pid), threads(off.pid), '--no-worker-stacks neither')
  t.match(cmdline(on.pid), /\0--inspect-publish-uid=http\0--inspect-port=0\0/, 'an inspector that SIGUSR1 opens on a free port, without a log line')
  t.notMatch(cmdline(noStacks.pid), /--inspect/, '--no-worker-stacks: no inspector flags')
  t.notMatch(cmdline(off.pid), /--inspect/, '--worker-timeout 0: no inspector flags')
  t.match(environ(on.pid), /FCL_WORKER_HEARTBEAT_MS=5000\0/, 'heartbeats every 5 s at the default timeout')
  t.match(environ(noStacks.pid), /FCL_WORKER_HEARTBEAT_MS=5000\0/, 'heartbeats without the thread')
  t.notMatch(environ(off.pid), /FCL_WORKER_HEARTBEAT_MS/, 'and none with the watchdog off')
  for (const { cli } of [on, noStacks, off]) cli.signal('SIGTERM')
  for (const { cli } of [on, noStacks, off]) t.equal((await cli.exited()).code, 0)

  for (const bad of ['-5', 'abc', '500']) {
    const cli = spawnCli(t, ['--worker-timeout', bad, STUCK_APP])
    const { code } = await cli.exited(10000)
    t.equal(code, 2, `--worker-timeout ${bad}: usage error`)
    t.match(cli.output(), /^Error: .*(worker-timeout|workerTimeout)/m)
    t.notMatch(cli.output(), /forked/)
  }
})

t.test('after kill -9, status counts the restart as soon as the replacement is forked, and still once it is ready; a second quick crash waits in backoff', async (t) => {
  const runtime = runtimeDir(t)
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--restart-delay', '1500', STUCK_APP], { env: { XDG_RUNTIME_DIR: runtime } })
  await cli.waitFor(/2\/2 workers ready/, 30000)
  const readyLines = (): number => cli.logs().filter((x) => /^worker \d \(pid \d+\) ready in/.test(String(x.msg))).length
  const slot0 = (status: { workers: Array<{ workerId: number, pid: number }> }, pid: number): unknown => status.workers.find((w) => w.workerId === 0 && w.pid === pid)

  const [victim] = forkedPids(cli) as [number]
  process.kill(victim, 'SIGKILL')
  await cli.waitFor(/was killed by SIGKILL; restarting now/, 5000)
  await cli.waitFor(() => forkedPids(cli).length === 3, 5000)
  const first = forkedPids(cli)[2] as number
  t.match(slot0(await statusJson(runtime), first), { state: 'starting', restarts: 1 }, 'the first restart is immediate and counted when forked')
  await cli.waitFor(() => readyLines() === 3, 10000)
  t.match(slot0(await statusJson(runtime), first), { state: 'ready', restarts: 1 }, 'and still 1 once ready')

  process.kill(first, 'SIGKILL')
  await cli.waitFor(/was killed by SIGKILL; restarting in 1500 ms/, 5000)
  const waiting = await statusJson(runtime)
  t.match(waiting.backoff, [{ workerId: 0, restarts: 1 }], 'a second quick crash waits out --restart-delay, shown as backoff')
  await cli.waitFor(() => forkedPids(cli).length === 4, 5000)
  t.match(slot0(await statusJson(runtime), forkedPids(cli)[3] as number), { restarts: 2 })
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('--pretty-logs: each line tagged with its source, without the fields its message already says', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', '--pretty-logs', STUCK_APP])
  await cli.waitFor(/1\/1 workers ready/, 30000)
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
  const out = cli.output()
  t.match(out, /INFO: primary: starting 1 worker \(set by --workers \/ WEB_CONCURRENCY\); JavaScript entry, no loader; round-robin in the primary entry=\S+stuck-app\.mjs port=\d+ host=127\.0\.0\.1 balance=rr$/m)
  t.match(out, /INFO: primary: worker 0 \(pid \d+\) ready in \d+ ms$/m, 'nothing repeated after the message')
  t.match(out, /INFO: w0: Server listening at http:\/\/127\.0\.0\.1:\d+$/m, 'a worker line carries its worker id')
  t.notMatch(out, /\{"role"/, 'no JSON after the messages')
})
