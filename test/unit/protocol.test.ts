import t from 'tap'
import { createMessage, isPrimaryMessage, isSingletonName, isWorkerMessage, PROTOCOL_VERSION, SINGLETON_NAME_MAX } from '../../lib/protocol.js'

const primary = [
  createMessage({ type: 'fcl:instance', instance: { ready: 2, total: 3, state: 'running' } }),
  createMessage({ type: 'fcl:config', version: 2, config: { a: 1 } }),
  createMessage({ type: 'fcl:drain', drainDelay: 0, reason: 'shutdown' }),
  createMessage({ type: 'fcl:metrics-collect', id: 1 }),
  createMessage({ type: 'fcl:metrics-result', id: 1, ok: true, text: '# HELP x\n', contentType: 'text/plain' }),
  createMessage({ type: 'fcl:connection', id: 7 }),
  createMessage({ type: 'fcl:connection', id: 8, remoteAddress: '203.0.113.7', remotePort: 51234, remoteFamily: 'IPv4', head: Buffer.from('GET / HTTP/1.1\r\n').toString('base64') }),
  createMessage({ type: 'fcl:singleton-grant', name: 'cleanup', lease: 1 })
]
const worker = [
  createMessage({ type: 'fcl:hello', configVersion: 0 }),
  createMessage({ type: 'fcl:attached' }),
  createMessage({ type: 'fcl:ready' }),
  createMessage({ type: 'fcl:listening', port: 3000 }),
  createMessage({ type: 'fcl:metrics-scrape', id: 2 }),
  createMessage({ type: 'fcl:metrics-snapshot', id: 2, metrics: [] }),
  createMessage({ type: 'fcl:metrics-final', metrics: [{ name: 'x' }] }),
  createMessage({ type: 'fcl:config-ack', version: 2, ok: false, error: 'boom' }),
  createMessage({ type: 'fcl:fatal', message: 'EADDRINUSE', code: 'FCL_ERR_WORKER_PORT_IN_USE' }),
  createMessage({ type: 'fcl:stats', rss: 1, heapUsed: 2, elu: 0.5, requests: 42 }),
  createMessage({ type: 'fcl:stats', rss: 1, heapUsed: 2, elu: 0.5, requests: null }),
  createMessage({ type: 'fcl:heartbeat' }),
  createMessage({ type: 'fcl:connection-ack', id: 7, accepted: true }),
  createMessage({ type: 'fcl:connection-ack', id: 8, accepted: false }),
  createMessage({ type: 'fcl:singleton-join', name: 'cache:warm' }),
  createMessage({ type: 'fcl:singleton-release', name: 'cache:warm', lease: 12 })
]

t.test('createMessage stamps the protocol version', async (t) => {
  t.equal(PROTOCOL_VERSION, 1)
  t.same(createMessage({ type: 'fcl:ready' }), { v: 1, type: 'fcl:ready' })
})

t.test('each guard accepts its own side and rejects the other side', async (t) => {
  for (const m of primary) {
    t.ok(isPrimaryMessage(m), `primary ${m.type}`)
    t.notOk(isWorkerMessage(m), `not worker ${m.type}`)
  }
  for (const m of worker) {
    t.ok(isWorkerMessage(m), `worker ${m.type}`)
    t.notOk(isPrimaryMessage(m), `not primary ${m.type}`)
  }
})

t.test('messages survive the JSON round trip of the IPC channel', async (t) => {
  for (const m of primary) t.ok(isPrimaryMessage(JSON.parse(JSON.stringify(m))), m.type)
  for (const m of worker) t.ok(isWorkerMessage(JSON.parse(JSON.stringify(m))), m.type)
})

t.test('foreign IPC traffic is left alone', async (t) => {
  const foreign: unknown[] = [
    'fcl:ready', '', 1, true, null, undefined, [], [1, 'fcl:ready'],
    { cmd: 'NODE_CLUSTER', act: 'online' },
    { type: 'prom-client:getMetricsReq', requestId: 1 },
    { type: 'fcl:ready' }, // no version
    { v: 2, type: 'fcl:ready' },
    { v: '1', type: 'fcl:ready' },
    { v: 1 },
    { v: 1, type: 42 },
    { v: 1, type: 'fcl:nope' }
  ]
  for (const value of foreign) {
    t.notOk(isPrimaryMessage(value), `primary rejects ${JSON.stringify(value)}`)
    t.notOk(isWorkerMessage(value), `worker rejects ${JSON.stringify(value)}`)
  }
})

t.test('malformed fields are rejected', async (t) => {
  const badPrimary: unknown[] = [
    { v: 1, type: 'fcl:instance' },
    { v: 1, type: 'fcl:instance', instance: null },
    { v: 1, type: 'fcl:instance', instance: { ready: '1', total: 2 } },
    { v: 1, type: 'fcl:instance', instance: { ready: 1 } },
    { v: 1, type: 'fcl:config', version: '2', config: {} },
    { v: 1, type: 'fcl:config', version: 2, config: null },
    { v: 1, type: 'fcl:config', version: 2, config: 'a=1' },
    { v: 1, type: 'fcl:drain', drainDelay: '100', reason: 'shutdown' },
    { v: 1, type: 'fcl:drain', drainDelay: 100 },
    { v: 1, type: 'fcl:metrics-collect' },
    { v: 1, type: 'fcl:metrics-result', id: 1 },
    { v: 1, type: 'fcl:metrics-result', id: 1, ok: true, text: 42 },
    { v: 1, type: 'fcl:connection' },
    { v: 1, type: 'fcl:connection', id: 1, remotePort: 70000 },
    { v: 1, type: 'fcl:connection', id: 1, remoteFamily: 'IPv5' },
    { v: 1, type: 'fcl:connection', id: 1, head: 42 },
    { v: 1, type: 'fcl:singleton-grant', name: 'x' },
    { v: 1, type: 'fcl:singleton-grant', name: '', lease: 1 },
    { v: 1, type: 'fcl:singleton-grant', name: 'x', lease: 0 },
    { v: 1, type: 'fcl:singleton-grant', name: 'x', lease: 1.5 }
  ]
  for (const value of badPrimary) t.notOk(isPrimaryMessage(value), JSON.stringify(value))
  const badWorker: unknown[] = [
    { v: 1, type: 'fcl:hello' },
    { v: 1, type: 'fcl:hello', configVersion: '1' },
    { v: 1, type: 'fcl:config-ack', version: 1, ok: 'yes' },
    { v: 1, type: 'fcl:config-ack', ok: true },
    { v: 1, type: 'fcl:fatal', message: 42 },
    { v: 1, type: 'fcl:stats', rss: 1, heapUsed: 2, requests: 0 },
    { v: 1, type: 'fcl:stats', rss: '1', heapUsed: 2, elu: 0, requests: 0 },
    { v: 1, type: 'fcl:stats', rss: 1, heapUsed: 2, elu: 0 },
    { v: 1, type: 'fcl:stats', rss: 1, heapUsed: 2, elu: 0, requests: '7' },
    { v: 1, type: 'fcl:listening' },
    { v: 1, type: 'fcl:metrics-scrape' },
    { v: 1, type: 'fcl:metrics-snapshot', id: 1, metrics: {} },
    { v: 1, type: 'fcl:metrics-final' },
    { v: 1, type: 'fcl:connection-ack', id: 1 },
    { v: 1, type: 'fcl:connection-ack', accepted: true },
    { v: 1, type: 'fcl:singleton-join' },
    { v: 1, type: 'fcl:singleton-join', name: 7 },
    { v: 1, type: 'fcl:singleton-release', name: 'x' },
    { v: 1, type: 'fcl:singleton-release', name: 'x', lease: '3' }
  ]
  for (const value of badWorker) t.notOk(isWorkerMessage(value), JSON.stringify(value))
})

t.test('singleton names: 1-100 printable characters', async (t) => {
  for (const name of ['cleanup', 'cache:warm', 'queue/orders', 'x', 'é', 'n'.repeat(SINGLETON_NAME_MAX)]) t.ok(isSingletonName(name), name)
  for (const name of ['', 'n'.repeat(SINGLETON_NAME_MAX + 1), 'a\nb', 'tab\there', '\u007f', 42, null]) t.notOk(isSingletonName(name), JSON.stringify(name))
})
