// Socket.IO across the workers of a cluster: `npm run example:socketio`, then open
// http://localhost:3000 in a few tabs. It needs --balance sticky:
// Socket.IO's default transport starts with HTTP long-polling, several requests that must all
// reach the worker holding the session, so the launcher routes every connection of a client
// to one worker. Broadcasts reach the clients of every worker through Socket.IO's cluster
// adapter, whose messages the launcher's primary relays.
import { readFileSync } from 'node:fs'
import { createAdapter } from '@socket.io/cluster-adapter'
import type { FastifyPluginAsync } from 'fastify'
import { Server } from 'socket.io'

const page = readFileSync(new URL('./index.html', import.meta.url), 'utf8')

const socketioApp: FastifyPluginAsync = async function (fastify) {
  const io = new Server(fastify.server, {
    // Under the launcher: broadcast through the primary to the other workers. Without the
    // launcher there is no other worker to reach.
    ...(fastify.cluster.isWorker ? { adapter: createAdapter() } : {})
  })
  const whoami = { pid: process.pid, workerId: fastify.cluster.workerId }

  io.on('connection', function onClient (socket) {
    socket.emit('hello', { ...whoami, ip: socket.handshake.address })
    socket.on('whoami', function answer (reply: (who: typeof whoami) => void) { reply(whoami) })
    socket.on('chat', function broadcast (text: string) {
      io.emit('chat', { text: String(text).slice(0, 500), from: whoami })
    })
  })

  // A draining worker (stop, rolling restart, scale-down) closes Socket.IO: its clients see
  // "transport close" and reconnect, to a worker that stays. Without this, long-polling
  // requests would hold the drain until the grace timeout.
  fastify.cluster.onDrain(async function closeSocketIo () {
    await io.close()
  })

  fastify.get('/', async function chatPage (_request, reply) {
    return reply.type('text/html; charset=utf-8').send(page)
  })
}

export default socketioApp
