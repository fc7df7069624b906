import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { mkdtempSync, rmSync } from 'node:fs'
import t from 'tap'
import { assertNothingFailed, underLoad } from '../helpers/load.js'
import { FIXTURES, freePort, hasProgram, ROOT, spawnCli, spawnProcess, waitUntil, type Running, type Teardown } from '../helpers/process.js'

const CONFIG = path.join(ROOT, 'examples/deploy/haproxy.cfg')
// A JavaScript entry: this test is about HAProxy and the drain, not the TypeScript loader.
const APP = path.join(FIXTURES, 'self-start.mjs')

/** `show stat` over the admin socket: server name -> status (UP, DOWN, ...). */
function serverStatus (socket: string): Promise<Map<string, string>> {
  return new Promise((resolve) => {
    const conn = net.connect(socket)
    let text = ''
    conn.setEncoding('utf8')
    conn.on('data', (c: string) => { text += c })
    conn.on('error', () => { resolve(new Map()) })
    conn.on('end', () => {
      const [header, ...rows] = text.split('\n')
      const columns = (header ?? '').replace(/^# /, '').split(',')
      const at = (name: string): number => columns.indexOf(name)
      const status = new Map<string, string>()
      for (const row of rows) {
        const f = row.split(',')
        if (f[at('pxname')] === 'app' && f[at('svname')] !== 'BACKEND') status.set(f[at('svname')] ?? '', f[at('status')] ?? '')
      }
      resolve(status)
    })
    conn.end('show stat\n')
  })
}

function startInstance (t: Teardown, port: number): Running {
  return spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--drain-delay', '2000', '--grace-timeout', '15000', APP])
}

t.test('HAProxy probing /ready moves traffic with 0 failed requests through a roll, a stop and a restart of each instance',
  { skip: hasProgram('haproxy') ? false : 'haproxy is not installed (.ci/run installs it)' }, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-haproxy-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const stats = path.join(dir, 'admin.sock')
    const [front, portA, portB] = [await freePort(), await freePort(), await freePort()]
    let a = startInstance(t, portA)
    let b = startInstance(t, portB)
    await Promise.all([a.waitFor(/2\/2 workers ready/), b.waitFor(/2\/2 workers ready/)])
    const haproxy = spawnProcess(t, 'haproxy', ['-db', '-f', CONFIG], {
      env: { FCL_HAPROXY_STATS: stats, FCL_HAPROXY_BIND: `127.0.0.1:${front}`, FCL_BACKEND_A: `127.0.0.1:${portA}`, FCL_BACKEND_B: `127.0.0.1:${portB}` }
    })
    await waitUntil(async () => {
      const s = await serverStatus(stats)
      return s.get('a') === 'UP' && s.get('b') === 'UP'
    }, 10000, 'HAProxy to see both instances UP')

    // Record every status HAProxy reports for each server.
    const seen = { a: [] as string[], b: [] as string[] }
    const polling = new AbortController()
    const poller = (async () => {
      while (!polling.signal.aborted) {
        const s = await serverStatus(stats)
        for (const name of ['a', 'b'] as const) {
          const status = s.get(name)
          if (status !== undefined && seen[name].at(-1) !== status) seen[name].push(status)
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    const upAgain = (name: 'a' | 'b'): Promise<void> => waitUntil(async () => (await serverStatus(stats)).get(name) === 'UP', 15000, `${name} UP again`)

    // A steady 2,000 requests per second keeps every transition under traffic and leaves the
    // CPUs to the instances' starts and rolls (flat out, each step takes twice as long on 2 CPUs).
    const load = await underLoad({ port: front, connections: 16, rate: 2000, seconds: 60, stopWhenDone: true }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 500))
      // (a) rolling restart of A
      a.signal('SIGUSR2')
      await a.waitFor(/rolling restart done: 2\/2/, 20000)
      // (b) stop A with a drain delay longer than HAProxy's detection, then start it again
      a.signal('SIGTERM')
      t.equal((await a.exited(15000)).code, 0, 'A stopped cleanly')
      a = startInstance(t, portA)
      await a.waitFor(/2\/2 workers ready/)
      await upAgain('a')
      // (c) the same for B
      b.signal('SIGTERM')
      t.equal((await b.exited(15000)).code, 0, 'B stopped cleanly')
      b = startInstance(t, portB)
      await b.waitFor(/2\/2 workers ready/)
      await upAgain('b')
      await new Promise((resolve) => setTimeout(resolve, 500))
    })
    polling.abort()
    await poller
    t.comment(`through HAProxy: ${load.total} requests, ${load.errors} errors, ${load.non2xx} non-2xx, ${load.timeouts} timeouts`)
    t.comment(`HAProxy saw a: ${seen.a.join(' -> ')}; b: ${seen.b.join(' -> ')}`)
    assertNothingFailed(t, load)
    t.ok(seen.a.some((s) => s.startsWith('DOWN')), 'HAProxy saw A go DOWN')
    t.equal(seen.a.at(-1), 'UP', 'and come back UP')
    t.ok(seen.b.some((s) => s.startsWith('DOWN')), 'HAProxy saw B go DOWN')
    t.equal(seen.b.at(-1), 'UP', 'and come back UP')

    for (const instance of [a, b]) instance.signal('SIGTERM')
    t.equal((await a.exited()).code, 0)
    t.equal((await b.exited()).code, 0)
    haproxy.signal('SIGTERM')
    await haproxy.exited(5000)
  })
