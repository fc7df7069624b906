import t from 'tap'
import {
  CONTROL_COMMANDS,
  createControlRequest,
  createLineReader,
  encodeControlMessage,
  isClusterStatus,
  isControlRequest,
  isControlResponse,
  type ClusterStatus,
  type ControlResponse
} from '../../launcher/control-protocol.js'

const STATUS: ClusterStatus = {
  pid: 4242,
  name: 'server-3000',
  entry: '/srv/api/server.ts',
  port: 3000,
  host: 'localhost',
  startedAt: 1700000000000,
  uptime: 5000,
  instance: { ready: 2, total: 2, state: 'running' },
  configVersion: 1,
  control: '/run/user/1000/fastify-cluster-launch/server-3000.sock',
  limits: { readyTimeout: 30000, graceTimeout: 30000 },
  workers: [
    { workerId: 0, pid: 4243, state: 'ready', startedAt: 1700000000100, uptime: 4900, restarts: 0, rss: 1, heapUsed: 2, elu: 0.1, requests: 7, lastSeenAt: 1700000000100, silentMs: 0 },
    { workerId: 1, pid: 4244, state: 'starting', startedAt: 1700000000100, uptime: 4900, restarts: 1, rss: null, heapUsed: null, elu: null, requests: null, lastSeenAt: 1700000000100, silentMs: 0 }
  ],
  backoff: [{ workerId: 2, restarts: 1, restartIn: 200 }],
  singletons: [{ name: 'cleanup', state: 'running', workerId: 0, pid: 4243, since: 1700000000200, for: 4800, reason: null, handovers: 0 }],
  lastRoll: { ok: true, replaced: 2, total: 2, ms: 1400, finishedAt: 1700000001000 },
  lastConfigReload: null
}

const RESPONSES: ControlResponse[] = [
  { v: 1, ok: true, command: 'status', status: STATUS },
  { v: 1, ok: true, command: 'reload', roll: { ok: true, replaced: 2, total: 2, ms: 1400 } },
  { v: 1, ok: false, command: 'reload', roll: { ok: false, replaced: 0, total: 2, ms: 300, error: 'boom' } },
  { v: 1, ok: true, command: 'reload-config', configReload: { ok: true, applied: 2, total: 2, version: 2, failures: [] } },
  { v: 1, ok: true, command: 'scale', target: 3, workers: 3 },
  { v: 1, ok: true, command: 'stop', stopping: true },
  { v: 1, ok: true, command: 'stop', stopped: { code: 0, reason: 'shutdown', killed: [] } },
  { v: 1, ok: false, command: 'stop', stopped: { code: 1, reason: 'shutdown', killed: ['worker 0 (pid 1)'], error: 'killed at the grace timeout' } },
  { v: 1, ok: false, command: 'scale', refused: true, error: 'cannot scale: the launcher is stopping', code: 'FCL_ERR_SUPERVISOR_STOPPING' },
  { v: 1, ok: false, command: null, refused: true, error: 'not a control request this version understands' }
]

t.test('requests: every command, stamped with the version', async (t) => {
  for (const command of CONTROL_COMMANDS) {
    const request = command === 'scale' ? createControlRequest({ command, workers: 3 }) : createControlRequest({ command })
    t.equal(request.v, 1)
    t.ok(isControlRequest(request), command)
    t.ok(isControlRequest(JSON.parse(JSON.stringify(request))), `${command} after JSON`)
  }
})

t.test('malformed requests are rejected', async (t) => {
  const bad: unknown[] = [
    null, 'status', [], {}, { command: 'status' }, { v: 2, command: 'status' }, { v: '1', command: 'status' },
    { v: 1, command: 'restart' }, { v: 1, command: 42 },
    { v: 1, command: 'scale' }, { v: 1, command: 'scale', workers: '3' }, { v: 1, command: 'scale', workers: 2.5 }
  ]
  for (const value of bad) t.notOk(isControlRequest(value), JSON.stringify(value))
})

t.test('responses of every kind pass the guard, before and after JSON', async (t) => {
  for (const response of RESPONSES) {
    t.ok(isControlResponse(response), JSON.stringify(response).slice(0, 60))
    t.ok(isControlResponse(JSON.parse(JSON.stringify(response))))
  }
  t.ok(isClusterStatus(STATUS))
})

t.test('malformed responses are rejected', async (t) => {
  const bad: unknown[] = [
    null, { v: 1 }, { v: 1, ok: 'yes', command: 'stop', stopping: true }, { v: 2, ok: true, command: 'stop', stopping: true },
    { v: 1, ok: true, command: 'nope' },
    { v: 1, ok: true, command: 'status', status: { ...STATUS, pid: '4242' } },
    { v: 1, ok: true, command: 'status', status: { ...STATUS, workers: [{ ...STATUS.workers[0], requests: '7' }] } },
    { v: 1, ok: true, command: 'status', status: { ...STATUS, workers: [{ ...STATUS.workers[0], rss: undefined }] } },
    { v: 1, ok: true, command: 'status', status: { ...STATUS, backoff: undefined } },
    { v: 1, ok: true, command: 'status', status: { ...STATUS, backoff: [{ workerId: 2, restarts: 1 }] } },
    { v: 1, ok: true, command: 'status', status: { ...STATUS, singletons: undefined } },
    { v: 1, ok: true, command: 'status', status: { ...STATUS, singletons: [{ name: 'x', state: 'held', workerId: 0, pid: 1, since: 0, for: 0, reason: null, handovers: 0 }] } },
    { v: 1, ok: true, command: 'status', status: { ...STATUS, lastRoll: { ok: true, replaced: 2, total: 2, ms: 1 } } },
    { v: 1, ok: true, command: 'status', status: { ...STATUS, limits: undefined } },
    { v: 1, ok: true, command: 'reload', roll: { ok: true } },
    { v: 1, ok: true, command: 'reload-config', configReload: { ok: true, applied: 1, total: 1, version: 1 } },
    { v: 1, ok: true, command: 'scale', target: 3 },
    { v: 1, ok: true, command: 'stop' },
    { v: 1, ok: true, command: 'stop', stopped: { code: 0, reason: 'shutdown' } },
    { v: 1, ok: true, command: 'stop', stopping: true, error: 42 },
    { v: 1, ok: true, command: 'status', refused: true, error: 'x' },
    { v: 1, ok: false, command: 'status', refused: true }
  ]
  for (const value of bad) t.notOk(isControlResponse(value), JSON.stringify(value)?.slice(0, 100))
})

t.test('messages are one JSON document per line', async (t) => {
  const line = encodeControlMessage({ v: 1, command: 'status' })
  t.equal(line, '{"v":1,"command":"status"}\n')
  const lines: string[] = []
  let tooLong = 0
  const read = createLineReader(16, (l) => { lines.push(l) }, () => { tooLong++ })
  read('{"a":1}\n{"b"')
  read(':2}\n\n')
  t.same(lines, ['{"a":1}', '{"b":2}'], 'split across chunks, blank lines skipped')
  read('x'.repeat(17))
  t.equal(tooLong, 1, 'a line that never ends is cut off')
})
