'use strict'
// The one app every subject serves: a hello route and a CPU-bound route with a
// fixed amount of work per request. CommonJS so PM2's cluster mode loads it as is.

/** 2e6 square roots: about 8 ms of CPU on a current core. */
const CPU_ITERATIONS = 2e6

module.exports = function routes (fastify, _opts, done) {
  fastify.get('/', async function hello () {
    return { hello: 'world', pid: process.pid }
  })
  fastify.get('/cpu', async function cpu () {
    let sum = 0
    for (let i = 0; i < CPU_ITERATIONS; i++) sum += Math.sqrt(i)
    return { pid: process.pid, sum }
  })
  // The spiky-load scenario's slow route: `ms` of synchronous CPU, as a report or an image
  // resize would take, blocking the event loop meanwhile. The offload example runs the same
  // work in a worker-thread pool instead.
  fastify.get('/burn', async function burn (request) {
    const ms = Math.min(Number(request.query.ms) || 100, 2000)
    const until = Date.now() + ms
    let spins = 0
    while (Date.now() < until) spins++
    return { pid: process.pid, ms, spins }
  })
  done()
}
