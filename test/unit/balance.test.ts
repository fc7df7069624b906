import net from 'node:net'
import t from 'tap'
import { checkPortFree, readTcpMigrateReq, reusePortUnsupported } from '../../launcher/balance.js'
import { withReusePort } from '../../launcher/worker-reuse-port.js'
import { ERROR_CODES } from '../../lib/errors.js'
import { freePort } from '../helpers/process.js'

t.test('reuseport needs Linux and Node >= 22.12 / 23.1', async (t) => {
  for (const version of ['22.12.0', '22.18.1', '23.1.0', '24.0.0', '25.2.0']) t.equal(reusePortUnsupported('linux', version), null, version)
  for (const version of ['20.19.0', '20.20.2', '22.11.0', '23.0.0']) {
    t.match(reusePortUnsupported('linux', version), new RegExp(`Node\\.js >= 22\\.12 or >= 23\\.1.*v${version.replaceAll('.', '\\.')}$`), version)
  }
  t.match(reusePortUnsupported('darwin', '24.0.0'), /needs Linux.*this is darwin/)
  t.match(reusePortUnsupported('win32', '24.0.0'), /needs Linux/)
})

t.test('withReusePort rewrites TCP listens on a fixed port, and nothing else', async (t) => {
  const cb = (): void => {}
  t.same(withReusePort([{ port: 3000, host: '127.0.0.1' }, cb]), [{ port: 3000, host: '127.0.0.1', exclusive: true, reusePort: true }, cb])
  t.same(withReusePort([{ port: '3000' }]), [{ port: '3000', exclusive: true, reusePort: true }], 'a numeric string port')
  t.same(withReusePort([3000, '0.0.0.0', 511, cb]), [{ port: 3000, exclusive: true, reusePort: true, host: '0.0.0.0', backlog: 511 }, cb])
  t.same(withReusePort([3000]), [{ port: 3000, exclusive: true, reusePort: true }])
  t.same(withReusePort(['8080', cb]), [{ port: 8080, exclusive: true, reusePort: true }, cb])
  const untouched: unknown[][] = [
    [{ port: 0 }], [0, '127.0.0.1'], [], [cb], [{ path: '/tmp/app.sock' }], ['/tmp/app.sock'],
    [{ fd: 3 }], [{ handle: {} }], [{ port: -1 }], [{ port: 1.5 }], [{ host: 'localhost' }]
  ]
  for (const args of untouched) t.equal(withReusePort(args), null, JSON.stringify(args))
})

t.test('the caller\'s options object is not mutated', async (t) => {
  const options = { port: 3000 }
  withReusePort([options])
  t.same(options, { port: 3000 })
})

t.test('checkPortFree: a free port passes and stays free; a held one is FCL_ERR_WORKER_PORT_IN_USE', async (t) => {
  const port = await freePort()
  await checkPortFree(port, '127.0.0.1')
  const again = net.createServer().listen(port, '127.0.0.1')
  await new Promise((resolve) => again.once('listening', resolve))
  await t.rejects(checkPortFree(port, '127.0.0.1'), { code: ERROR_CODES.PORT_IN_USE, message: new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`) })
  await new Promise((resolve) => again.close(resolve))
})

t.test('readTcpMigrateReq reads the sysctl, null where there is none', async (t) => {
  t.equal(readTcpMigrateReq('/nonexistent/tcp_migrate_req'), null)
  const value = readTcpMigrateReq()
  t.ok(value === null || typeof value === 'boolean')
})
