import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import type { TLSSocket } from 'node:tls'
import { io as connectSocketIo, type Socket } from 'socket.io-client'
import t from 'tap'
import { assertNothingFailed, sleep, underLoad } from '../helpers/load.js'
import { FIXTURES, forkedPids, freePort, hasProgram, listenerPids, request, ROOT, spawnCli, spawnProcess, waitUntil, type Running, type Teardown } from '../helpers/process.js'

// Several clusters, HAProxy, and forty Socket.IO clients at a time.
t.setTimeout(240000)

const APP = path.join(FIXTURES, 'sticky-app.mjs')
const SELF_START = path.join(FIXTURES, 'sticky-self-start.mjs')
const SOCKET_IO = path.join(ROOT, 'examples/socketio/server.ts')

interface Who { pid: number, workerId: number, ip: string }

/** One request on a fresh connection from `localAddress` (Linux routes all of 127.0.0.0/8 to loopback). */
function get (port: number, localAddress: string, urlPath = '/', options: { host?: string, tls?: boolean } = {}): Promise<{ status: number, who: Who, cert?: string }> {
  return new Promise((resolve, reject) => {
    const client = options.tls === true ? https : http
    const req = client.request({
      host: options.host ?? '127.0.0.1',
      port,
      path: urlPath,
      localAddress,
      agent: false,
      headers: { connection: 'close' },
      timeout: 5000,
      rejectUnauthorized: false
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => {
        const cn: unknown = options.tls === true ? (res.socket as TLSSocket).getPeerCertificate().subject?.CN : undefined
        const cert = typeof cn === 'string' ? cn : undefined
        resolve({ status: res.statusCode ?? 0, who: JSON.parse(body) as Who, ...(cert === undefined ? {} : { cert }) })
      })
    })
    req.on('timeout', () => { req.destroy(new Error('timed out')) })
    req.on('error', reject)
    req.end()
  })
}

async function launch (t: Teardown, args: string[], entry = APP, env: Record<string, string> = {}): Promise<{ cli: Running, port: number }> {
  const port = await freePort()
  const cli = spawnCli(t, ['-p', String(port), '--host', '127.0.0.1', ...args, entry], { env })
  return { cli, port }
}

/** 20 clients from distinct loopback addresses, default transports (polling first, then the upgrade). */
async function connectClients (t: Teardown, port: number, count: number, firstAddress = 10): Promise<SioClient[]> {
  const clients = Array.from({ length: count }, (_v, i) => new SioClient(port, `127.0.0.${firstAddress + i}`))
  t.teardown(() => { for (const c of clients) c.socket.close() })
  return clients
}

class SioClient {
  readonly socket: Socket
  readonly address: string
  connectErrors: string[] = []
  hellos: Who[] = []
  chats: string[] = []
  connects = 0

  constructor (port: number, address: string) {
    this.address = address
    this.socket = connectSocketIo(`http://127.0.0.1:${port}`, {
      // Both transports from this address: polling requests through the agent, and the
      // WebSocket upgrade, which uses the same agent in Node.
      agent: new http.Agent({ localAddress: address }) as never,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      timeout: 5000
    })
    this.socket.on('connect', () => { this.connects++ })
    this.socket.on('connect_error', (err: Error) => { this.connectErrors.push(err.message) })
    this.socket.on('hello', (who: Who) => { this.hellos.push(who) })
    this.socket.on('chat', (message: { text: string }) => { this.chats.push(message.text) })
  }

  get upgraded (): boolean {
    return this.socket.io.engine?.transport?.name === 'websocket'
  }
}

t.test('Socket.IO under --balance sticky: 20 clients from 20 addresses connect, upgrade and chat across both workers, with no connect error', async (t) => {
  const { cli, port } = await launch(t, ['-w', '2', '--balance', 'sticky'], SOCKET_IO)
  await cli.waitFor(/2\/2 workers ready/, 30000)
  const clients = await connectClients(t, port, 20)
  await waitUntil(() => clients.every((c) => c.hellos.length > 0 && c.upgraded), 15000, 'every client connected and upgraded to WebSocket')
  t.same(clients.flatMap((c) => c.connectErrors), [], 'no connect error (no "Session ID unknown", no HTTP 400)')
  const pids = new Set(clients.map((c) => c.hellos[0]?.pid))
  t.equal(pids.size, 2, 'the clients are served by both workers')
  t.same(new Set(clients.map((c) => c.hellos[0]?.ip)).size, 20, 'each client is seen from its own address')

  clients[0]?.socket.emit('chat', 'hello, everyone')
  await waitUntil(() => clients.every((c) => c.chats.includes('hello, everyone')), 5000, 'the broadcast to reach every client')
  t.pass('a broadcast from one client reached all 20, on both workers (the primary relays the cluster adapter)')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('the same clients under --balance rr fail: polling requests reach the other worker', async (t) => {
  const { cli, port } = await launch(t, ['-w', '2', '--balance', 'rr'], SOCKET_IO)
  await cli.waitFor(/2\/2 workers ready/, 30000)
  const clients = await connectClients(t, port, 20, 40)
  await sleep(4000)
  const errors = clients.flatMap((c) => c.connectErrors)
  t.comment(`round-robin: ${errors.length} connect errors in 4 s (${[...new Set(errors)].join(', ')}); ${clients.filter((c) => c.upgraded).length}/20 upgraded`)
  t.ok(errors.length > 0, 'clients see connect errors (the second polling request lands on a worker that does not know the session)')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('a client keeps its worker across 50 connections; after a rolling restart it sticks again; scaling 3 to 2 moves only the removed worker\'s clients', async (t) => {
  const { cli, port } = await launch(t, ['-w', '3', '--balance', 'sticky'])
  await cli.waitFor(/3\/3 workers ready/, 30000)
  t.same([...listenerPids(port)], [cli.pid], 'only the primary listens on the port')

  const pidsOf = async (address: string, n: number): Promise<Set<number>> => {
    const pids = new Set<number>()
    for (let i = 0; i < n; i++) pids.add((await get(port, address)).who.pid)
    return pids
  }
  const pinned = await pidsOf('127.0.0.50', 50)
  t.equal(pinned.size, 1, '50 new connections from one address: one pid')

  const before = forkedPids(cli)
  cli.signal('SIGUSR2')
  await cli.waitFor(/rolling restart done/, 30000)
  const after = await pidsOf('127.0.0.50', 20)
  t.equal(after.size, 1, 'after the roll the client sticks to one worker again')
  t.notOk(before.includes([...after][0] as number), 'a new process')

  const addresses = Array.from({ length: 30 }, (_v, i) => `127.0.1.${i + 1}`)
  const workerOf = async (): Promise<Map<string, Who>> => new Map(await Promise.all(addresses.map(async (a) => [a, (await get(port, a)).who] as const)))
  const three = await workerOf()
  t.equal(new Set([...three.values()].map((w) => w.workerId)).size, 3, 'the 30 clients are spread over the 3 workers')
  cli.signal('SIGTTOU')
  await cli.waitFor(/scaled to 2 workers/, 30000)
  const two = await workerOf()
  const kept = addresses.filter((a) => three.get(a)?.workerId !== 2)
  t.ok(kept.every((a) => two.get(a)?.pid === three.get(a)?.pid), `the ${kept.length} clients of workers 0 and 1 keep their pid`)
  t.ok(addresses.filter((a) => three.get(a)?.workerId === 2).every((a) => two.get(a)?.workerId !== 2), 'worker 2\'s clients moved')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('a self-starting entry under sticky binds nothing and serves', async (t) => {
  const { cli, port } = await launch(t, ['-w', '2', '--balance', 'sticky'], SELF_START)
  await cli.waitFor(/2\/2 workers ready/, 30000)
  t.same([...listenerPids(port)], [cli.pid], 'the workers bind nothing')
  const answer = await get(port, '127.0.0.60')
  t.match(answer, { status: 200, who: { ip: '127.0.0.60', style: 'self-start' } })
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('rolling restart under keep-alive load: 0 failed requests; a stop waits for an in-flight request', async (t) => {
  const { cli, port } = await launch(t, ['-w', '2', '--balance', 'sticky'])
  await cli.waitFor(/2\/2 workers ready/, 30000)
  const load = await underLoad({ port, connections: 16, rate: 2000, seconds: 30, stopWhenDone: true }, async () => {
    await sleep(1000)
    cli.signal('SIGUSR2')
    await cli.waitFor(/rolling restart done/, 30000)
    await sleep(1000)
  })
  assertNothingFailed(t, load)

  const slow = request(port, '/slow?ms=1500', { timeoutMs: 10000 })
  await sleep(300)
  cli.signal('SIGTERM')
  t.equal((await slow).status, 200, 'the in-flight request completed')
  t.equal((await cli.exited()).code, 0)
})

t.test('Socket.IO clients through a rolling restart: the roll ends long before the grace timeout, and every client reconnects and hears a broadcast', async (t) => {
  const { cli, port } = await launch(t, ['-w', '2', '--balance', 'sticky', '--grace-timeout', '30000'], SOCKET_IO)
  await cli.waitFor(/2\/2 workers ready/, 30000)
  const clients = await connectClients(t, port, 20, 70)
  await waitUntil(() => clients.every((c) => c.connects === 1 && c.upgraded), 15000, 'every client connected')
  const started = Date.now()
  cli.signal('SIGUSR2')
  await cli.waitFor(/rolling restart done/, 40000)
  const rollMs = Date.now() - started
  t.ok(rollMs < 10000, `the roll took ${rollMs} ms, not the grace timeout`)
  await waitUntil(() => clients.every((c) => c.connects >= 2 && c.socket.connected), 15000, 'every client reconnected')
  clients[5]?.socket.emit('chat', 'after the roll')
  await waitUntil(() => clients.every((c) => c.chats.includes('after the roll')), 5000, 'the broadcast after the roll to reach everyone')
  t.pass('all 20 reconnected and heard the broadcast')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

function certificate (t: Teardown): { key: string, cert: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-tls-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=fcl-sticky-test'], { stdio: 'ignore' })
  return { key, cert }
}

t.test('a TLS entry under sticky: HTTPS works and the worker\'s certificate is served', { skip: hasProgram('openssl') ? false : 'openssl is not installed' }, async (t) => {
  const { key, cert } = certificate(t)
  const { cli, port } = await launch(t, ['-w', '2', '--balance', 'sticky'], APP, { TLS_KEY: key, TLS_CERT: cert })
  await cli.waitFor(/2\/2 workers ready/, 30000)
  const answer = await get(port, '127.0.0.80', '/', { tls: true })
  t.match(answer, { status: 200, cert: 'fcl-sticky-test', who: { ip: '127.0.0.80' } })
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('behind HAProxy with send-proxy (v1) and send-proxy-v2: request.ip is the client, the sticky choice follows it, TLS passes through; a connection without the header is closed',
  { skip: hasProgram('haproxy') && hasProgram('openssl') ? false : 'haproxy or openssl is not installed (.ci/run installs haproxy)' }, async (t) => {
    const { key, cert } = certificate(t)
    const front = await freePort()
    const plainFront = await freePort()
    const { cli: tlsCli, port: tlsPort } = await launch(t, ['-w', '2', '--balance', 'sticky', '--proxy-protocol'], APP, { TLS_KEY: key, TLS_CERT: cert })
    const { cli, port } = await launch(t, ['-w', '2', '--balance', 'sticky', '--proxy-protocol'])
    await Promise.all([cli.waitFor(/2\/2 workers ready/, 30000), tlsCli.waitFor(/2\/2 workers ready/, 30000)])
    // The recipe as shipped (v2, the binary header) in front of the TLS instance; the same
    // recipe with the text header (v1) in front of the plain one.
    const config = path.join(ROOT, 'examples/deploy/haproxy-sticky.cfg')
    const v1Dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-haproxy-'))
    t.teardown(() => { rmSync(v1Dir, { recursive: true, force: true }) })
    const v1Config = path.join(v1Dir, 'haproxy-v1.cfg')
    writeFileSync(v1Config, readFileSync(config, 'utf8').replace(/ send-proxy-v2$/m, ' send-proxy'))
    const v2Proxy = spawnProcess(t, 'haproxy', ['-db', '-f', config], { env: { FCL_HAPROXY_BIND: `127.0.0.1:${front}`, FCL_BACKEND: `127.0.0.1:${tlsPort}` } })
    const v1Proxy = spawnProcess(t, 'haproxy', ['-db', '-f', v1Config], { env: { FCL_HAPROXY_BIND: `127.0.0.1:${plainFront}`, FCL_BACKEND: `127.0.0.1:${port}` } })
    try {
      await waitUntil(async () => (await get(plainFront, '127.0.0.90').catch(() => null))?.status === 200, 10000, 'HAProxy to forward')
    } catch (err) {
      // What HAProxy and the launcher said is what tells a port taken meanwhile from a refused header.
      throw new Error(`${(err as Error).message}\nHAProxy (v1): ${v1Proxy.output()}\nHAProxy (v2): ${v2Proxy.output()}\nlauncher: ${cli.output().slice(-4000)}`)
    }

    const seen = new Map<string, Set<number>>()
    for (const address of ['127.0.0.91', '127.0.0.92', '127.0.0.93', '127.0.0.94', '127.0.0.95', '127.0.0.96']) {
      for (let i = 0; i < 5; i++) {
        const { who } = await get(plainFront, address)
        t.equal(who.ip, address, `request.ip is the client's own address (${address}), not HAProxy's`)
        seen.set(address, (seen.get(address) ?? new Set()).add(who.pid))
      }
    }
    t.ok([...seen.values()].every((pids) => pids.size === 1), 'each client keeps one worker through HAProxy')
    t.equal(new Set([...seen.values()].map((pids) => [...pids][0])).size, 2, 'and the clients spread over both workers')

    // Whether the ClientHello comes with the header or after it varies from one connection to
    // the next: several connections cover both.
    for (const address of ['127.0.0.97', '127.0.0.98', '127.0.0.99', '127.0.0.100', '127.0.0.101', '127.0.0.102']) {
      const secure = await get(front, address, '/', { tls: true })
      t.match(secure, { status: 200, cert: 'fcl-sticky-test', who: { ip: address } }, `HTTPS through HAProxy: the worker ends TLS and sees the client (${address})`)
    }

    const direct = await get(port, '127.0.0.103').then(() => 'answered', (err: Error) => err.message)
    t.not(direct, 'answered', `a connection without a PROXY header is closed (${direct})`)
    await cli.waitFor(/--proxy-protocol: closed 1 connection without a valid PROXY header/, 5000)
    for (const c of [cli, tlsCli]) c.signal('SIGTERM')
    for (const c of [cli, tlsCli]) t.equal((await c.exited()).code, 0)
  })

t.test('--proxy-protocol without --balance sticky is a usage error', async (t) => {
  const cli = spawnCli(t, ['--proxy-protocol', APP])
  t.equal((await cli.exited(10000)).code, 2)
  t.match(cli.output(), /^Error: proxyProtocol needs balance sticky, got balance rr$/m)
  t.match(cli.output(), /^Hint: add --balance sticky/m)
})
