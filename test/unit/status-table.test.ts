import t from 'tap'
import { commandTimeout, describeOutcome } from '../../launcher/control-command.js'
import type { ClusterStatus } from '../../launcher/control-protocol.js'
import { describeConfigReload, describeRoll, describeSingleton, formatDuration, formatElu, formatMegabytes, formatStatus } from '../../launcher/status-table.js'

const NOW = 1700000100000
const STATUS: ClusterStatus = {
  pid: 4242,
  name: 'server-3000',
  entry: '/srv/api/server.ts',
  port: 3000,
  host: 'localhost',
  startedAt: NOW - 3723000,
  uptime: 3723000,
  instance: { ready: 2, total: 2, state: 'running' },
  configVersion: 3,
  control: '/run/user/1000/fastify-cluster-launch/server-3000.sock',
  limits: { readyTimeout: 30000, graceTimeout: 20000 },
  workers: [
    { workerId: 0, pid: 4250, state: 'ready', startedAt: NOW - 65000, uptime: 65000, restarts: 1, rss: 97517568, heapUsed: 12058624, elu: 0.0234, requests: 15230, lastSeenAt: NOW - 65000, silentMs: 0 },
    { workerId: 1, pid: 4251, state: 'starting', startedAt: NOW - 800, uptime: 800, restarts: 0, rss: null, heapUsed: null, elu: null, requests: null, lastSeenAt: NOW - 800, silentMs: 0 }
  ],
  backoff: [],
  singletons: [],
  lastRoll: { ok: true, replaced: 2, total: 2, ms: 1412, finishedAt: NOW - 125000 },
  lastConfigReload: { ok: false, applied: 1, total: 2, version: 3, failures: ['worker 1 (pid 4251): nope'], error: 'worker 1 (pid 4251): nope', finishedAt: NOW - 5000 }
}

t.test('durations, sizes and load read at a glance', async (t) => {
  t.equal(formatDuration(850), '850 ms')
  t.equal(formatDuration(12400), '12 s')
  t.equal(formatDuration(185000), '3m 05s')
  t.equal(formatDuration(7380000), '2h 03m')
  t.equal(formatDuration(4 * 86400000 + 3600000), '4d 01h')
  t.equal(formatMegabytes(97517568), '93.0 MB')
  t.equal(formatMegabytes(null), '-')
  t.equal(formatElu(0.0234), '2.3 %')
  t.equal(formatElu(null), '-')
})

t.test('the last roll and config reload, or none yet', async (t) => {
  t.equal(describeRoll(null, NOW), 'none yet')
  t.equal(describeRoll(STATUS.lastRoll, NOW), 'done, 2/2 workers replaced in 1.4 s (2m 05s ago)')
  t.equal(describeRoll({ ok: false, replaced: 1, total: 2, ms: 900, error: 'boom', finishedAt: NOW - 1000 }, NOW), 'failed after 1/2 workers in 0.9 s: boom (1 s ago)')
  t.equal(describeConfigReload(null, NOW), 'none yet')
  t.equal(describeConfigReload(STATUS.lastConfigReload, NOW), 'failed on 1/2 workers, version 3: worker 1 (pid 4251): nope (5 s ago)')
  t.equal(describeConfigReload({ ok: false, applied: 0, total: 0, version: 1, failures: [], error: 'bad JSON', finishedAt: NOW }, NOW), 'rejected: bad JSON (0 ms ago)')
  t.equal(describeConfigReload({ ok: true, applied: 2, total: 2, version: 2, failures: [], finishedAt: NOW - 60000 }, NOW), 'applied on 2/2 workers, version 2 (1m 00s ago)')
})

t.test('the status table: header lines, then one row per worker, "-" where unknown', async (t) => {
  const text = formatStatus(STATUS, NOW)
  const lines = text.split('\n')
  t.same(lines.slice(0, 4), [
    'instance "server-3000": pid 4242, running, 2/2 workers ready, up 1h 02m',
    'entry /srv/api/server.ts on localhost:3000, config version 3',
    'last rolling restart: done, 2/2 workers replaced in 1.4 s (2m 05s ago)',
    'last config reload: failed on 1/2 workers, version 3: worker 1 (pid 4251): nope (5 s ago)'
  ])
  const rows = lines.filter((l) => l.startsWith('│')).map((l) => l.split('│').slice(1, -1).map((c) => c.trim()))
  t.same(rows, [
    ['worker', 'pid', 'state', 'uptime', 'restarts', 'RSS', 'heap used', 'ELU', 'requests'],
    ['0', '4250', 'ready', '1m 05s', '1', '93.0 MB', '11.5 MB', '2.3 %', '15230'],
    ['1', '4251', 'starting', '800 ms', '0', '-', '-', '-', '-']
  ])
  t.notOk(text.includes('\u001b['), 'no colour codes')
  const widths = new Set(lines.slice(4).map((l) => l.length))
  t.equal(widths.size, 1, 'every table line has the same width')
})

t.test('singletons: the holder, a hand-over in progress, one waiting for a worker; none, no section', async (t) => {
  t.notOk(formatStatus(STATUS, NOW).includes('singletons'), 'no section without singletons')
  const status: ClusterStatus = {
    ...STATUS,
    singletons: [
      { name: 'cleanup', state: 'running', workerId: 0, pid: 4250, since: NOW - 65000, for: 65000, reason: null, handovers: 2 },
      { name: 'mailer', state: 'releasing', workerId: 1, pid: 4251, since: NOW - 1200, for: 1200, reason: 'rolling-restart', handovers: 0 },
      { name: 'warm', state: 'waiting', workerId: null, pid: null, since: NOW - 3000, for: 3000, reason: null, handovers: 1 }
    ]
  }
  const lines = formatStatus(status, NOW).split('\n')
  t.same(lines.slice(-4), [
    'singletons:',
    '  cleanup: worker 0 (pid 4250), running for 1m 05s, 2 hand-overs',
    '  mailer: waiting 1 s for worker 1 (pid 4251) to stop it (rolling-restart)',
    '  warm: waiting 3 s for a ready worker, 1 hand-over'
  ])
  t.equal(describeSingleton({ name: 'x', state: 'running', workerId: 3, pid: 9, since: 0, for: 10, reason: null, handovers: 0 }), 'x: worker 3 (pid 9), running for 10 ms')
})

t.test('the table names a stuck worker and a worker id waiting out its restart delay, in id order', async (t) => {
  const status: ClusterStatus = {
    ...STATUS,
    instance: { ready: 1, total: 3, state: 'running' },
    workers: [
      { workerId: 0, pid: 4250, state: 'unresponsive', startedAt: NOW - 65000, uptime: 65000, restarts: 0, rss: 97517568, heapUsed: 12058624, elu: 1, requests: 15230, lastSeenAt: NOW - 65000, silentMs: 0 },
      { workerId: 2, pid: 4252, state: 'ready', startedAt: NOW - 5000, uptime: 5000, restarts: 0, rss: null, heapUsed: null, elu: null, requests: 3, lastSeenAt: NOW - 5000, silentMs: 0 }
    ],
    backoff: [{ workerId: 1, restarts: 3, restartIn: 400 }]
  }
  const rows = formatStatus(status, NOW).split('\n').filter((l) => l.startsWith('│')).map((l) => l.split('│').slice(1, -1).map((c) => c.trim()))
  t.same(rows.slice(1), [
    ['0', '4250', 'unresponsive', '1m 05s', '0', '93.0 MB', '11.5 MB', '100.0 %', '15230'],
    ['1', '-', 'backoff (restart in 400 ms)', '-', '3', '-', '-', '-', '-'],
    ['2', '4252', 'ready', '5 s', '0', '-', '-', '-', '3']
  ])
})

t.test('command outcomes: one line when done, a coded error when failed', async (t) => {
  t.equal(describeOutcome({ v: 1, ok: true, command: 'reload', roll: { ok: true, replaced: 2, total: 2, ms: 1412 } }), 'rolling restart done: 2/2 workers replaced in 1.4 s')
  t.throws(() => describeOutcome({ v: 1, ok: false, command: 'reload', roll: { ok: false, replaced: 1, total: 2, ms: 2000, error: 'worker 1 failed to start: boom' } }),
    { code: 'FCL_ERR_CONTROL_FAILED', message: 'rolling restart failed after 1/2 workers in 2.0 s: worker 1 failed to start: boom', hint: /keep serving/ })
  t.equal(describeOutcome({ v: 1, ok: true, command: 'reload-config', configReload: { ok: true, applied: 2, total: 2, version: 2, failures: [] } }), 'config reloaded on 2/2 workers (version 2)')
  t.throws(() => describeOutcome({ v: 1, ok: false, command: 'reload-config', configReload: { ok: false, applied: 0, total: 0, version: 1, failures: [], error: 'not JSON' } }),
    { code: 'FCL_ERR_CONTROL_FAILED', message: 'config reload rejected: not JSON' })
  t.throws(() => describeOutcome({ v: 1, ok: false, command: 'reload-config', configReload: { ok: false, applied: 1, total: 2, version: 2, failures: ['worker 1: no'], error: 'worker 1: no' } }),
    { message: 'config reload failed on 1/2 workers (version 2): worker 1: no' })
  t.equal(describeOutcome({ v: 1, ok: true, command: 'scale', target: 3, workers: 3 }), 'scaled to 3 workers')
  t.equal(describeOutcome({ v: 1, ok: true, command: 'scale', target: 1, workers: 1 }), 'scaled to 1 worker')
  t.equal(describeOutcome({ v: 1, ok: true, command: 'stop', stopped: { code: 0, reason: 'shutdown', killed: [] } }), 'stopped (exit code 0)')
  t.throws(() => describeOutcome({ v: 1, ok: false, command: 'stop', stopped: { code: 1, reason: 'shutdown', killed: ['w'], error: 'killed at the grace timeout: w' } }),
    { code: 'FCL_ERR_CONTROL_FAILED', message: 'stopped (exit code 1, shutdown): killed at the grace timeout: w' })
  t.throws(() => describeOutcome({ v: 1, ok: false, command: 'scale', refused: true, error: 'cannot scale: the launcher is stopping' }),
    { code: 'FCL_ERR_CONTROL_FAILED', message: 'scale refused: cannot scale: the launcher is stopping' })
  t.throws(() => describeOutcome(undefined), { code: 'FCL_ERR_CONTROL_PROTOCOL' })
  t.throws(() => describeOutcome({ v: 1, ok: true, command: 'stop', stopping: true }), { code: 'FCL_ERR_CONTROL_PROTOCOL' }, 'an acknowledgement alone is no outcome')
})

t.test('command timeouts follow the instance\'s own timeouts', async (t) => {
  t.equal(commandTimeout({ v: 1, command: 'status' }, STATUS), 10000)
  t.equal(commandTimeout({ v: 1, command: 'stop' }, STATUS), 20000 + 30000, 'grace timeout + margin')
  t.equal(commandTimeout({ v: 1, command: 'reload' }, STATUS), 3 * 30000 + 20000 + 30000, 'a ready timeout per worker and one more, the grace timeout, a margin')
  t.equal(commandTimeout({ v: 1, command: 'scale', workers: 5 }, STATUS), 4 * 30000 + 20000 + 30000)
  t.equal(commandTimeout({ v: 1, command: 'reload-config' }, STATUS), 60000)
})
