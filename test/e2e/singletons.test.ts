import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { assertNothingFailed, sleep, underLoad } from '../helpers/load.js'
import { FIXTURES, freePort, runtimeDir, spawnCli, waitUntil, type Running } from '../helpers/process.js'

// Three clusters, rolls, kills, scaling and a memory recycling, one after another.
t.setTimeout(240000)

const APP = path.join(FIXTURES, 'singleton-app.mjs')

/** One process's turn at running a singleton: from its start line to its stop line (or its last line, if it was killed). */
interface Holding { pid: number, start: number, end: number, stopped: boolean }

function readLog (file: string): Array<{ pid: number, event: string, at: number }> {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((line) => {
    const [pid, event, at] = line.split(' ')
    return { pid: Number(pid), event: event ?? '', at: Number(at) }
  })
}

/** The turns of singleton `prefix` ('' for the ticker, 'mailer-' for the second). */
function holdings (file: string, prefix = ''): Holding[] {
  const open = new Map<number, Holding>()
  const done: Holding[] = []
  for (const { pid, event, at } of readLog(file)) {
    if (event === `${prefix}start`) open.set(pid, { pid, start: at, end: at, stopped: false })
    const current = open.get(pid)
    if (current === undefined) continue
    if (event === `${prefix}tick` || event === `${prefix}start`) current.end = at
    if (event === `${prefix}stop`) {
      current.end = at
      current.stopped = true
      done.push(current)
      open.delete(pid)
    }
  }
  return [...done, ...open.values()].sort((a, b) => a.start - b.start)
}

/** The guarantee: no turn starts before the previous one has ended. */
function assertOneAtATime (t: Test, turns: Holding[], what: string): void {
  let latestEnd = 0
  let previous: Holding | null = null
  const overlaps: string[] = []
  for (const turn of turns) {
    if (previous !== null && turn.start < latestEnd) overlaps.push(`pid ${turn.pid} started at ${turn.start}, before pid ${previous.pid} ended at ${latestEnd}`)
    if (turn.end >= latestEnd) {
      latestEnd = turn.end
      previous = turn
    }
  }
  t.same(overlaps, [], `${what}: ${turns.length} turns, never two at once`)
}

/** The latest turn that has not stopped (a killed holder never writes its stop: a later start supersedes it). */
function currentHolder (file: string, prefix = ''): Holding | undefined {
  return holdings(file, prefix).filter((h) => !h.stopped).at(-1)
}

async function launch (t: Test, args: string[], env: Record<string, string> = {}): Promise<{ cli: Running, port: number, log: string, runtime: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-singleton-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const log = path.join(dir, 'singleton.log')
  const runtime = runtimeDir(t)
  const port = await freePort()
  const cli = spawnCli(t, ['-p', String(port), '--host', '127.0.0.1', ...args, APP], { env: { SINGLETON_LOG: log, XDG_RUNTIME_DIR: runtime, ...env } })
  await cli.waitFor(/workers ready in/, 30000)
  await waitUntil(() => currentHolder(log) !== undefined, 10000, 'the singleton to start')
  return { cli, port, log, runtime }
}

async function command (t: Test, runtime: string, args: string[]): Promise<{ code: number | null, out: string }> {
  const cmd = spawnCli(t, args, { env: { XDG_RUNTIME_DIR: runtime } })
  const { code } = await cmd.exited(60000)
  return { code, out: cmd.output() }
}

t.test('one holder at every moment: through a roll under load, a kill -9 of the holder, scaling 3 -> 1 -> 3 and a stop; two names on two workers; status names the holders', async (t) => {
  const { cli, port, log, runtime } = await launch(t, ['-w', '3'], { SINGLETON_SECOND: '1' })
  await waitUntil(() => currentHolder(log, 'mailer-') !== undefined, 10000, 'the second singleton to start')
  const ticker = currentHolder(log)
  const mailer = currentHolder(log, 'mailer-')
  t.not(ticker?.pid, mailer?.pid, 'two names land on two workers')

  const status = JSON.parse((await command(t, runtime, ['status', '--json'])).out)
  t.match(status.singletons, [
    { name: 'mailer', state: 'running', pid: mailer?.pid },
    { name: 'ticker', state: 'running', pid: ticker?.pid }
  ], 'status --json names each holder')
  t.match((await command(t, runtime, ['status'])).out, new RegExp(`ticker: worker \\d \\(pid ${String(ticker?.pid)}\\), running for`))

  const load = await underLoad({ port, connections: 16, rate: 2000, seconds: 30, stopWhenDone: true }, async () => {
    await sleep(500)
    cli.signal('SIGUSR2')
    await cli.waitFor(/rolling restart done/, 60000)
  })
  assertNothingFailed(t, load)
  await waitUntil(() => currentHolder(log) !== undefined, 5000, 'a holder after the roll')
  t.not(currentHolder(log)?.pid, ticker?.pid, 'the roll moved the singleton to a new process')
  t.match(cli.output(), /singleton \\?"ticker\\?": handed over to worker \d \(pid \d+\) \(worker \d \(pid \d+\) stopped it for rolling-restart\)/)

  const victim = currentHolder(log)
  if (victim === undefined) return t.fail('no holder')
  const killedAt = Date.now()
  process.kill(victim.pid, 'SIGKILL')
  await waitUntil(() => { const h = currentHolder(log); return h !== undefined && h.pid !== victim.pid }, 10000, 'another holder after the kill')
  const next = currentHolder(log)
  const gap = (next?.start ?? 0) - killedAt
  // The other workers are ready: the lease moves as soon as the primary sees the exit.
  t.ok(gap < 1000, `the next holder started ${gap} ms after the kill`)
  t.match(cli.output(), /singleton \\?"ticker\\?": handed over to .* exited\)/)

  t.equal((await command(t, runtime, ['scale', '1'])).code, 0)
  await waitUntil(() => currentHolder(log) !== undefined && currentHolder(log, 'mailer-') !== undefined, 10000, 'both singletons on the one worker left')
  t.equal(currentHolder(log)?.pid, currentHolder(log, 'mailer-')?.pid, 'one worker: it runs both')
  t.equal((await command(t, runtime, ['scale', '3'])).code, 0)
  await sleep(500)

  cli.signal('SIGTERM')
  t.equal((await cli.exited(30000)).code, 0)
  const last = holdings(log).at(-1)
  t.equal(last?.stopped, true, 'the last holder wrote its stop before the primary exited 0')
  assertOneAtATime(t, holdings(log), 'ticker')
  assertOneAtATime(t, holdings(log, 'mailer-'), 'mailer')
  t.ok(holdings(log).length >= 3, 'the ticker moved at least twice')
})

t.test('a handler that finishes its work for 2 s after the abort: the next holder starts only after it stopped', async (t) => {
  const { cli, log } = await launch(t, ['-w', '2'], { SINGLETON_IGNORE_ABORT_MS: '2000' })
  const first = currentHolder(log)
  cli.signal('SIGUSR2')
  await cli.waitFor(/rolling restart done/, 60000)
  await waitUntil(() => { const h = currentHolder(log); return h !== undefined && h.pid !== first?.pid }, 10000, 'a new holder')
  const old = holdings(log).find((h) => h.pid === first?.pid)
  const drainLine = cli.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith('singleton "ticker"') && l.msg.includes('drains (rolling-restart)'))
  const drainAt = Number(drainLine?.time)
  t.ok(old?.stopped === true && (old.end - drainAt) >= 1900, `the old holder kept working ${(old?.end ?? 0) - drainAt} ms after its drain began`)
  t.ok((currentHolder(log)?.start ?? 0) >= (old?.end ?? Infinity), 'and the next one started after it stopped')
  cli.signal('SIGTERM')
  t.equal((await cli.exited(30000)).code, 0)
  assertOneAtATime(t, holdings(log), 'ticker')
})

t.test('--max-memory recycles the holder: the lease moves to its replacement, one at a time', async (t) => {
  const { cli, log } = await launch(t, ['-w', '2', '--max-memory', '150'], { SINGLETON_GROW_MB: '2' })
  const holder = currentHolder(log)
  await cli.waitFor(new RegExp(`worker \\d \\(pid ${String(holder?.pid)}\\) uses \\d+ MB RSS, above --max-memory 150 MB; replacing it`), 60000)
  await cli.waitFor(/singleton \\?"ticker\\?": handed over to .* stopped it for memory\)/, 30000)
  cli.signal('SIGTERM')
  t.equal((await cli.exited(30000)).code, 0)
  t.not(holdings(log).at(-1)?.pid, holder?.pid, 'another process holds it after the recycling')
  assertOneAtATime(t, holdings(log), 'ticker')
})
