'use strict'
// A plain Fastify server, as a single process, a raw node:cluster worker or a PM2 instance.
const Fastify = require('fastify')
const routes = require('./routes.cjs')

const app = Fastify({ logger: false })
app.register(routes)
app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' }).catch((err) => {
  console.error(err)
  process.exit(1)
})
