import path from 'node:path'
import t from 'tap'
import { freePort, hasProgram, request, ROOT, spawnCli, spawnProcess, waitUntil } from '../helpers/process.js'

const ENTRY = path.join(ROOT, 'examples/rate-limit-redis/server.ts')
const REQUESTS = 40

/** Sends REQUESTS on fresh connections (so the primary spreads them over the workers) and counts the 200s. */
async function countAllowed (port: number): Promise<{ allowed: number, pids: Set<number> }> {
  let allowed = 0
  const pids = new Set<number>()
  for (let i = 0; i < REQUESTS; i++) {
    const res = await request(port, '/')
    if (res.status === 200) {
      allowed++
      pids.add(res.json().pid)
    }
  }
  return { allowed, pids }
}

t.test('in-memory rate limit: each worker counts alone, 10 x 2 get through', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--log-level', 'warn', ENTRY])
  await waitUntil(async () => (await request(port, '/health').catch(() => null))?.status === 200, 20000, 'the cluster to answer')
  await waitUntil(async () => (await request(port, '/ready')).json().workers.ready === 2, 20000, '2 ready workers')
  const { allowed, pids } = await countAllowed(port)
  t.comment(`in-memory store: ${allowed} of ${REQUESTS} requests allowed across ${pids.size} workers`)
  t.equal(pids.size, 2)
  t.equal(allowed, 20, 'limit 10 per worker: 20 through')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('Redis rate limit: the cluster counts once, exactly 10 get through', { skip: hasProgram('redis-server') ? false : 'redis-server is not installed (.ci/run installs it)' }, async (t) => {
  const redisPort = await freePort()
  const redis = spawnProcess(t, 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'])
  await redis.waitFor(/Ready to accept connections/, 10000)

  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', '--log-level', 'warn', ENTRY], { env: { REDIS_URL: `redis://127.0.0.1:${redisPort}` } })
  await waitUntil(async () => (await request(port, '/health').catch(() => null))?.status === 200, 20000, 'the cluster to answer')
  await waitUntil(async () => (await request(port, '/ready')).json().workers.ready === 2, 20000, '2 ready workers')
  const { allowed, pids } = await countAllowed(port)
  t.comment(`redis store: ${allowed} of ${REQUESTS} requests allowed across ${pids.size} workers`)
  t.equal(pids.size, 2)
  t.equal(allowed, 10, 'one shared limit: exactly 10 through')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
  redis.signal('SIGTERM')
  await redis.exited(5000)
})
