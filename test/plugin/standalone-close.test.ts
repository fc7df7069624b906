import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { sleep } from '../helpers/load.js'
import { FIXTURES, freePort, request, spawnNode } from '../helpers/process.js'

const APP = path.join(FIXTURES, 'standalone.ts')

t.test('standalone SIGTERM: slow request completes with 200, readiness 503 during the drain delay, exit 0', async (t) => {
  const port = await freePort()
  const app = spawnNode(t, ['--import=tsx', APP], { env: { PORT: String(port), DRAIN_DELAY: '1000' } })
  await app.waitFor(/^listening/)
  t.equal((await request(port, '/ready')).status, 200)
  const slow = request(port, '/slow?ms=2000')
  await sleep(200)
  const signalledAt = Date.now()
  app.signal('SIGTERM')
  await sleep(200)
  const ready = await request(port, '/ready')
  t.equal(ready.status, 503, 'readiness fails during the drain delay')
  t.match(ready.json(), { status: 'fail', state: 'draining', workers: { ready: 0, total: 1 } })
  t.equal(ready.headers.connection, 'close')
  t.equal((await request(port, '/health')).status, 200, 'liveness passes while draining')
  t.equal((await slow).status, 200, 'the in-flight request completed')
  t.same(await app.exited(10000), { code: 0, signal: null })
  t.ok(Date.now() - signalledAt < 5000, 'exited within bounds')
})

t.test('standalone: a second signal exits at once with code 1', async (t) => {
  const port = await freePort()
  const app = spawnNode(t, ['--import=tsx', APP], { env: { PORT: String(port), DRAIN_DELAY: '5000' } })
  await app.waitFor(/^listening/)
  app.signal('SIGTERM')
  await sleep(300)
  const secondAt = Date.now()
  app.signal('SIGINT')
  t.equal((await app.exited(3000)).code, 1)
  t.ok(Date.now() - secondAt < 1000, 'exited at once')
})

t.test('standalone SIGTERM with an upgraded socket open: the drain handlers run, the WebSocket gets 1001 "going away", exit 0 long before the grace timeout', async (t) => {
  const port = await freePort()
  const app = spawnNode(t, ['--import=tsx', APP], { env: { PORT: String(port), UPGRADE: '1' } })
  await app.waitFor(/^listening/)
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  let received = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => { received = Buffer.concat([received, chunk]) })
  const ended = new Promise<void>((resolve) => { socket.once('close', () => { resolve() }) })
  socket.write('GET /socket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
  while (!received.toString('latin1').includes('\r\n\r\n')) await sleep(20)
  t.match(received.toString('latin1'), /^HTTP\/1\.1 101 /)
  const signalledAt = Date.now()
  app.signal('SIGTERM')
  await ended
  const frame = received.subarray(received.indexOf('\r\n\r\n') + 4)
  t.same([...frame], [0x88, 0x02, 0x03, 0xe9], 'a close frame, code 1001, then the end of the stream')
  t.same(await app.exited(10000), { code: 0, signal: null })
  t.ok(Date.now() - signalledAt < 5000, 'not held until the 10 s grace timeout')
  t.match(app.output(), /drain handler ran/, 'the second handler ran although the first threw')
  t.match(app.output(), /a drain handler failed/)
})

t.test('standalone: a singleton runs once, and its stop is written before the process exits 0 on SIGTERM', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-standalone-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const log = path.join(dir, 'singleton.log')
  const port = await freePort()
  const app = spawnNode(t, ['--import=tsx', APP], { env: { PORT: String(port), SINGLETON_LOG: log } })
  await app.waitFor(/^listening/)
  await sleep(200)
  app.signal('SIGTERM')
  t.same(await app.exited(10000), { code: 0, signal: null })
  t.same(readFileSync(log, 'utf8').split('\n').filter((l) => l !== ''), [`${app.pid} start`, `${app.pid} stop`])
})
