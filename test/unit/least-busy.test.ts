import { EventEmitter } from 'node:events'
import t from 'tap'
import { createMessage } from '../../lib/protocol.js'
import { LeastBusyChooser, loadScore, STALE_AFTER_MS } from '../../launcher/routing/least-busy.js'
import type { Supervisor, WorkerProc } from '../../launcher/supervisor.js'

const proc = (workerId: number, pid: number): WorkerProc => ({ workerId, pid }) as unknown as WorkerProc

t.test('the score: reported load plus connections handed since; overdue means busy', async (t) => {
  const now = 10_000
  t.equal(loadScore(undefined, now), 0, 'never reported, never handed: idle')
  t.equal(loadScore({ inflight: 2, elu: 0.5, reportedAt: now - 10, handed: 1, firstHandedAt: now - 5 }, now), 3.5)
  t.equal(loadScore({ inflight: 0, elu: 0, reportedAt: now - 60_000, handed: 0, firstHandedAt: 0 }, now), 0, 'an idle worker that stopped reporting is not stale')
  t.ok(loadScore({ inflight: 0, elu: 0, reportedAt: now - 60_000, handed: 1, firstHandedAt: now - STALE_AFTER_MS - 1 }, now) > 1000, 'handed a connection and silent since: busy')
  t.ok(loadScore({ inflight: 1, elu: 0.9, reportedAt: now - STALE_AFTER_MS - 1, handed: 0, firstHandedAt: 0 }, now) > 1000, 'requests in flight and silent: busy')
  t.ok(loadScore({ inflight: 1, elu: 0.9, reportedAt: now - STALE_AFTER_MS, handed: 0, firstHandedAt: 0 }, now) < 1000, 'not overdue yet')
})

t.test('power of two choices: two distinct workers, the less busy wins; reports and exits update the table', async (t) => {
  const supervisor = new EventEmitter()
  const draws = [0.0, 0.0]
  const chooser = new LeastBusyChooser(supervisor as unknown as Supervisor, () => draws.shift() ?? 0)
  const a = proc(0, 100)
  const b = proc(1, 101)
  const c = proc(2, 102)
  supervisor.emit('load', a, createMessage({ type: 'fcl:load', inflight: 5, elu: 0.9 }))
  supervisor.emit('load', b, createMessage({ type: 'fcl:load', inflight: 0, elu: 0.1 }))
  t.equal(chooser.choose('x', [a, b, c]), b, 'first draw a, second the next one: b is less busy')

  draws.push(0.0, 0.99)
  t.equal(chooser.choose('x', [a, b, c]), c, 'a against c (never reported): c')

  chooser.handed(b)
  chooser.handed(b)
  draws.push(0.4, 0.0)
  supervisor.emit('load', c, createMessage({ type: 'fcl:load', inflight: 1, elu: 0 }))
  t.equal(chooser.choose('x', [a, b, c]), c, 'b was handed two since its report (2.1) against c (1)')

  t.equal(chooser.choose('x', [a]), a, 'one candidate: that one')
  supervisor.emit('worker-exit', { pid: 100 })
  draws.push(0.0, 0.0)
  t.equal(chooser.choose('x', [a, b]), a, 'a exited and came back as a fresh entry: idle again')
  chooser.dispose()
  t.equal(supervisor.listenerCount('load'), 0)
})
