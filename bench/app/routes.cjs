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
  done()
}
