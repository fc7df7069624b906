'use strict'
// The node:cluster script every blog shows: fork one worker per CPU, fork again on exit.
const cluster = require('node:cluster')
const os = require('node:os')

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS) || os.availableParallelism()
  for (let i = 0; i < n; i++) cluster.fork()
  cluster.on('exit', () => { cluster.fork() })
} else {
  require('./server.cjs')
}
