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
