'use strict'
// The bare node:cluster script of raw-cluster.cjs, with a primary that writes its lines with
// pino as the launcher's does (JSON to stdout, synchronously): the floor for a primary that
// logs pino JSON lines, so the bench can tell pino's memory from the launcher's own.
const cluster = require('node:cluster')
const os = require('node:os')

if (cluster.isPrimary) {
  const { pino } = require('pino')
  const log = pino({ base: { pid: process.pid, role: 'primary' } }, pino.destination({ dest: 1, sync: true }))
  const n = Number(process.env.WORKERS) || os.availableParallelism()
  for (let i = 0; i < n; i++) log.info({ workerPid: cluster.fork().process.pid }, 'worker forked')
  cluster.on('online', (worker) => { log.info({ workerPid: worker.process.pid }, 'worker online') })
  cluster.on('exit', (worker, code) => {
    log.warn({ workerPid: worker.process.pid, code }, 'worker exited')
    cluster.fork()
  })
} else {
  require('./server.cjs')
}
