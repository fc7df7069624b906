// CPU-heavy requests without a blocked event loop: the heavy route runs in a worker-thread pool
// (piscina), so the fast routes of the same process keep answering while it works.
//
//   npm run example:cpu-offload        (one worker per CPU, each with its pool)
//   curl 'localhost:3000/burn?ms=200'  (in the pool)
//   curl 'localhost:3000/burn-inline?ms=200'  (on the event loop, for comparison)
//
// Sizing the pool with the cluster in mind: every cluster worker has its own pool, so the
// instance runs workers x threads CPU-heavy threads, plus the event loops. More threads than
// CPUs buys nothing for CPU-bound work: they only take turns. So each pool gets its share of
// the CPUs, `cores / workers`, at least 1: on 2 CPUs with 2 workers, one thread per worker. The
// event loop then competes with its pool thread only through the kernel's time slices
// (milliseconds), never waits behind a whole task (hundreds of milliseconds): that is the
// point. Work beyond the pool's threads waits in piscina's queue, bounded below so a burst is
// refused with 503 rather than queued for minutes.
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync } from 'fastify'
import { Piscina } from 'piscina'

const MAX_MS = 2000

function workersOfInstance (): number {
  // WEB_CONCURRENCY when set (the launcher takes its worker count from it too), else one per
  // CPU, the launcher's default. With `-w N` on the command line, set WEB_CONCURRENCY=N instead
  // so the pools see the same N.
  const fromEnv = Number(process.env.WEB_CONCURRENCY)
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : os.availableParallelism()
}

export function poolSize (cores = os.availableParallelism(), workers = workersOfInstance()): number {
  return Math.max(1, Math.floor(cores / workers))
}

function msOf (query: unknown): number {
  const ms = Number((query as { ms?: string }).ms)
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, MAX_MS) : 100
}

const cpuOffload: FastifyPluginAsync = async function (fastify) {
  const threads = poolSize()
  const pool = new Piscina({
    filename: fileURLToPath(new URL('./burn.mjs', import.meta.url)),
    minThreads: threads,
    maxThreads: threads,
    // A few tasks per thread may wait; beyond that the route answers 503 at once.
    maxQueue: threads * 16
  })
  fastify.log.info({ threads }, `CPU pool: ${threads} thread(s) in this worker`)

  fastify.get('/', async function hello () {
    return { hello: 'world', pid: process.pid }
  })

  fastify.get('/burn', async function burnInPool (request, reply) {
    try {
      return { pid: process.pid, ...await pool.run({ ms: msOf(request.query) }) }
    } catch (err) {
      if ((err as Error).message.includes('queue is at limit')) return reply.code(503).send({ error: 'busy, try again' })
      throw err
    }
  })

  fastify.get('/burn-inline', async function burnInline (request) {
    const ms = msOf(request.query)
    const until = Date.now() + ms
    let spins = 0
    while (Date.now() < until) spins++
    return { pid: process.pid, ms, spins, threadId: 0 }
  })

  // The pool's threads end with the worker: after the drain, before the process exits.
  fastify.addHook('onClose', async function closePool () {
    await pool.destroy()
  })
}

export default cpuOffload
