import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { assertNothingFailed, sleep, underLoad } from '../helpers/load.js'
import { FIXTURES, forkedPids, freePort, pidsServing, request, spawnCli, waitUntil, type Running } from '../helpers/process.js'

const SOURCE = readFileSync(path.join(FIXTURES, 'watch-app.mjs'), 'utf8')
const BROKEN = 'export default async function (app) {\n  app.get(\'/\', async () => ({ text: \'broken\' ))\n}\n'

interface App {
  dir: string
  entry: string
  /** Writes a file of the copy, creating its folder. */
  write: (file: string, text: string) => void
  /** Saves the entry with `text` as the answer. */
  save: (text: string) => void
}

/** A copy of the fixture in a fresh temp dir: the test edits it, never the repo. */
function copyApp (t: Test, files: Record<string, string> = {}): App {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-watch-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const write = (file: string, text: string): void => {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    writeFileSync(path.join(dir, file), text)
  }
  write('app.mjs', SOURCE)
  for (const [file, text] of Object.entries(files)) write(file, text)
  return {
    dir,
    entry: path.join(dir, 'app.mjs'),
    write,
    save: (text) => { write('app.mjs', SOURCE.replace('text: \'one\'', `text: '${text}'`)) }
  }
}

function count (cli: Running, pattern: RegExp): number {
  return cli.lines().filter((line) => pattern.test(line)).length
}

/** What each worker answers, by pid, from `tries` requests on fresh connections. */
async function answers (port: number, tries = 20): Promise<Map<number, { text: string, value: unknown }>> {
  const byPid = new Map<number, { text: string, value: unknown }>()
  for (let i = 0; i < tries; i++) {
    const body = (await request(port, '/')).json()
    byPid.set(body.pid, { text: body.text, value: body.value })
  }
  return byPid
}

/**
 * Saves `text`; returns the ms from the write until a request on a fresh connection
 * answers it, and how long of that the first new worker took to start.
 */
async function saveUntilServed (cli: Running, app: App, port: number, text: string): Promise<{ ms: number, workerStartMs: number }> {
  const seen = cli.lines().length
  const saved = Date.now()
  app.save(text)
  await waitUntil(async () => (await request(port, '/')).json().text === text, 15000, `an answer with "${text}"`, 20)
  const ms = Date.now() - saved
  const ready = cli.lines().slice(seen).map((line) => /ready in (\d+) ms/.exec(line)).find((match) => match !== null)
  return { ms, workerStartMs: Number(ready?.[1] ?? NaN) }
}

const ROLL_DONE = /rolling restart done: 2\/2 workers replaced/
const ROLL_START = /rolling restart: replacing 2 workers/

t.test('--watch: a save rolls to the new code under load; a broken save keeps the old workers; the fix rolls', { timeout: 90000 }, async (t) => {
  const app = copyApp(t)
  const port = await freePort()
  const cli = spawnCli(t, ['--watch', '-w', '2', '-p', String(port), '--host', '127.0.0.1', app.entry])
  await cli.waitFor(/2\/2 workers ready/)
  t.match(cli.output(), /watching .*fcl-watch-\w+ \(1 directory\) for changes/)
  const first = await pidsServing(port)
  let toNew = { ms: 0, workerStartMs: 0 }
  let toFixed = { ms: 0, workerStartMs: 0 }
  let edited = new Set<number>()
  // Light load: a developer's few requests, not a flood that starves the starting worker of CPU.
  const load = await underLoad({ port, connections: 4, rate: 200, seconds: 60, stopWhenDone: true }, async () => {
    await sleep(500)
    toNew = await saveUntilServed(cli, app, port, 'two')
    await waitUntil(() => count(cli, ROLL_DONE) === 1, 20000, 'the roll')
    t.match(cli.output(), /"files":\["app\.mjs"\],"msg":"file change: app\.mjs; rolling restart"/)
    const served = await answers(port)
    t.same([...served.values()].map((a) => a.text), ['two', 'two'], 'both workers answer the new text')
    edited = new Set(served.keys())
    for (const pid of edited) t.notOk(first.has(pid), `pid ${pid} is new`)

    app.write('app.mjs', BROKEN)
    await cli.waitFor(/rolling restart 1\/2 failed: worker 0 \(pid \d+\) failed to start: Unexpected token.*old workers keep serving/, 20000)
    await cli.waitFor(/rolling restart after a file change failed; the old workers keep serving until the next change/)
    t.ok(cli.logs().some((l) => (l.err as { type?: string } | undefined)?.type === 'SyntaxError' && l.level === 60), 'the worker logged the SyntaxError')
    const afterBroken = await answers(port)
    t.same([...afterBroken.keys()].sort(), [...edited].sort(), 'the same workers keep serving')
    t.same([...afterBroken.values()].map((a) => a.text), ['two', 'two'], 'with the last good code')
    t.equal(forkedPids(cli).length, 5, '2 at start, 2 for the first save, 1 that failed')

    toFixed = await saveUntilServed(cli, app, port, 'three')
    await waitUntil(() => count(cli, ROLL_DONE) === 2, 20000, 'the roll after the fix')
  })
  t.comment(`watch: save to new answer ${toNew.ms} ms (worker start ${toNew.workerStartMs} ms), fix to new answer ${toFixed.ms} ms (worker start ${toFixed.workerStartMs} ms); ` +
    `${load.total} requests at 200/s on 4 connections, ${load.errors} errors, ${load.non2xx} non-2xx`)
  t.ok(toNew.ms < 3000, `the new text answered ${toNew.ms} ms after the save`)
  t.ok(toFixed.ms < 3000, `the fixed text answered ${toFixed.ms} ms after the save`)
  assertNothingFailed(t, load, 500)
  const final = await answers(port)
  t.same([...final.values()].map((a) => a.text), ['three', 'three'])
  for (const pid of final.keys()) t.notOk(edited.has(pid), `pid ${pid} is new after the fix`)

  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('--watch: a burst of saves makes one roll; saves during a roll make exactly one more', { timeout: 90000 }, async (t) => {
  const app = copyApp(t)
  const port = await freePort()
  // Each start takes 500 ms more, so a roll surely outlasts the saves made during it.
  const cli = spawnCli(t, ['--watch', '-w', '2', '-p', String(port), '--host', '127.0.0.1', app.entry], { env: { WATCH_APP_START_DELAY: '500' } })
  await cli.waitFor(/2\/2 workers ready/)

  for (let i = 1; i <= 5; i++) {
    app.save(`burst-${i}`)
    await sleep(40)
  }
  await waitUntil(() => count(cli, ROLL_DONE) === 1, 30000, 'the roll')
  // Well past the 300 ms debounce: a second roll would have begun by now.
  await sleep(1000)
  const burstRolls = count(cli, ROLL_START)
  t.comment(`5 saves 40 ms apart: ${burstRolls} roll(s)`)
  t.ok(burstRolls >= 1 && burstRolls <= 2, `5 quick saves make one roll, at most two (${burstRolls})`)
  t.same([...(await answers(port)).values()].map((a) => a.text), ['burst-5', 'burst-5'])

  const startsBefore = count(cli, ROLL_START)
  const stepsBefore = count(cli, /rolling restart 1\/2: starting/)
  app.save('during-1')
  await waitUntil(() => count(cli, /rolling restart 1\/2: starting/) > stepsBefore, 10000, 'the roll to begin')
  for (let i = 2; i <= 4; i++) {
    app.save(`during-${i}`)
    await sleep(40)
  }
  await waitUntil(() => count(cli, ROLL_DONE) === burstRolls + 2, 30000, 'two more rolls')
  await sleep(1000)
  t.equal(count(cli, ROLL_START) - startsBefore, 2, 'the saves made during the roll make exactly one more')
  t.match(cli.output(), /file change: app\.mjs; rolling restart after the current one/)
  t.same([...(await answers(port)).values()].map((a) => a.text), ['during-4', 'during-4'], 'the last save is served')

  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('--watch: ignored folders and editor temp files roll nothing; the --config file reloads the config', { timeout: 60000 }, async (t) => {
  const app = copyApp(t, {
    'config.json': JSON.stringify({ value: 'one' }),
    'node_modules/dep/index.js': 'export default 1\n',
    '.git/HEAD': 'ref: refs/heads/main\n'
  })
  const port = await freePort()
  const cli = spawnCli(t, ['--watch', '-w', '2', '-p', String(port), '--host', '127.0.0.1', '--config', path.join(app.dir, 'config.json'), app.entry])
  await cli.waitFor(/2\/2 workers ready/)
  t.match(cli.output(), /\(1 directory\) for changes/, 'node_modules and .git are not even entered')

  app.write('node_modules/dep/index.js', 'export default 2\n')
  app.write('node_modules/new-dep/index.js', 'export default 3\n')
  app.write('.git/HEAD', 'ref: refs/heads/other\n')
  app.write('.git/objects/ab/cdef', 'blob')
  app.write('dist/app.js', '')
  app.write('.app.mjs.swp', '')
  app.write('app.mjs~', SOURCE)
  await sleep(1000)
  t.notMatch(cli.output(), /file change/, 'no change was reported')
  t.equal(forkedPids(cli).length, 2, 'no roll')

  app.write('config.json', JSON.stringify({ value: 'two' }))
  await cli.waitFor(/file change: config\.json; config reload/)
  await cli.waitFor(/config reloaded on 2\/2 workers/)
  const reloaded = await answers(port)
  t.same([...reloaded.values()].map((a) => a.value), ['two', 'two'], 'every worker has the new config')
  t.equal(forkedPids(cli).length, 2, 'a config change reloads the config, it does not roll')

  app.write('routes/extra.mjs', 'export const extra = true\n')
  await cli.waitFor(/file change: routes.*; rolling restart/)
  await waitUntil(() => count(cli, ROLL_DONE) === 1, 20000, 'the roll for a file in a new folder')

  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})
