import { EventEmitter } from 'node:events'
import t from 'tap'
import { createMessage, type PrimaryMessage } from '../../lib/protocol.js'
import { SingletonLeases } from '../../launcher/singletons.js'
import type { Supervisor, WorkerProc } from '../../launcher/supervisor.js'

/** The few parts of a worker process the lease table reads, with what it was sent. */
interface FakeProc {
  proc: WorkerProc
  sent: PrimaryMessage[]
}

function fakeProc (workerId: number, pid: number): FakeProc {
  const sent: PrimaryMessage[] = []
  const worker = {
    isConnected: () => true,
    send: (message: PrimaryMessage) => { sent.push(message); return true }
  }
  const proc = { worker, workerId, pid, state: 'ready', retiring: false, linked: true } as unknown as WorkerProc
  return { proc, sent }
}

const silent = { info () {}, warn () {}, error () {} } as unknown as ConstructorParameters<typeof SingletonLeases>[1]

function setup (): { leases: SingletonLeases, supervisor: EventEmitter & { stopping: boolean } } {
  const supervisor = Object.assign(new EventEmitter(), { stopping: false })
  const leases = new SingletonLeases(supervisor as unknown as Supervisor, silent)
  return { leases, supervisor }
}

const grants = (f: FakeProc): Array<{ name: string, lease: number }> =>
  f.sent.flatMap((m) => m.type === 'fcl:singleton-grant' ? [{ name: m.name, lease: m.lease }] : [])

function join (supervisor: EventEmitter, f: FakeProc, name: string): void {
  supervisor.emit('singleton', f.proc, createMessage({ type: 'fcl:singleton-join', name }))
}

function release (supervisor: EventEmitter, f: FakeProc, name: string, lease: number): void {
  supervisor.emit('singleton', f.proc, createMessage({ type: 'fcl:singleton-release', name, lease }))
}

/** Two ready workers that both run `name`: which one the lease went to, and the other. */
function twoJoined (name: string): ReturnType<typeof setup> & { holder: FakeProc, other: FakeProc } {
  const { leases, supervisor } = setup()
  const a = fakeProc(0, 100)
  const b = fakeProc(1, 101)
  leases.start()
  join(supervisor, a, name)
  join(supervisor, b, name)
  const [holder, other] = grants(a).length === 1 ? [a, b] : [b, a]
  return { leases, supervisor, holder, other }
}

t.test('nothing is granted before the boot is over; then two names land on two workers', async (t) => {
  const { leases, supervisor } = setup()
  const a = fakeProc(0, 100)
  const b = fakeProc(1, 101)
  for (const f of [a, b]) for (const name of ['cleanup', 'mailer']) join(supervisor, f, name)
  t.same([...grants(a), ...grants(b)], [], 'the first worker up does not take everything')
  leases.start()
  t.equal(grants(a).length, 1)
  t.equal(grants(b).length, 1)
  t.not(grants(a)[0]?.name, grants(b)[0]?.name)
  t.same(leases.status().map((s) => s.state), ['running', 'running'])
})

t.test('a drain marks the lease releasing; only the holder\'s release of that grant moves it, and then once', async (t) => {
  const { leases, supervisor, holder, other } = twoJoined('cleanup')
  const first = grants(holder)[0]
  t.ok(first !== undefined)
  if (first === undefined) return
  const handovers: unknown[] = []
  leases.on('handover', (h) => handovers.push(h))

  supervisor.emit('worker-draining', holder.proc, 'rolling-restart')
  holder.proc.retiring = true
  t.match(leases.status()[0], { state: 'releasing', pid: holder.proc.pid, reason: 'rolling-restart' })
  supervisor.emit('worker-ready', other.proc)
  t.equal(grants(other).length, 0, 'no second holder while the first has not released')

  release(supervisor, other, 'cleanup', first.lease)
  release(supervisor, holder, 'cleanup', first.lease + 100)
  t.equal(grants(other).length, 0, 'a release from another worker, or of another grant, moves nothing')

  release(supervisor, holder, 'cleanup', first.lease)
  t.equal(grants(other).length, 1, 'released: the other worker gets it')
  t.ok((grants(other)[0]?.lease ?? 0) > first.lease, 'under a new grant number')
  t.same(handovers, [{ name: 'cleanup', reason: 'rolling-restart' }])
  t.match(leases.status()[0], { state: 'running', pid: other.proc.pid, handovers: 1 })

  release(supervisor, holder, 'cleanup', first.lease)
  t.equal(grants(other).length, 1, 'a repeated release changes nothing')
})

t.test('the holder exits: the lease moves at once; a stopping instance grants nothing', async (t) => {
  const { leases, supervisor, holder, other } = twoJoined('cleanup')
  const handovers: unknown[] = []
  leases.on('handover', (h) => handovers.push(h))
  holder.proc.state = 'exited'
  supervisor.emit('worker-exit', { pid: holder.proc.pid })
  t.equal(grants(other).length, 1)
  t.same(handovers, [{ name: 'cleanup', reason: 'exit' }])

  supervisor.stopping = true
  other.proc.state = 'exited'
  supervisor.emit('worker-exit', { pid: other.proc.pid })
  t.match(leases.status()[0], { state: 'waiting', pid: null })
})

t.test('only ready, non-retiring workers that registered the name can hold it; a join from a dead worker is ignored', async (t) => {
  const { leases, supervisor } = setup()
  leases.start()
  const starting = fakeProc(0, 100)
  starting.proc.state = 'starting'
  const dead = fakeProc(1, 101)
  dead.proc.state = 'exited'
  const other = fakeProc(2, 102)
  join(supervisor, starting, 'cleanup')
  join(supervisor, dead, 'cleanup')
  join(supervisor, other, 'mailer')
  t.equal(grants(starting).length + grants(dead).length, 0)
  t.same(grants(other).map((g) => g.name), ['mailer'], 'a worker runs only what it registered')
  t.match(leases.status().find((s) => s.name === 'cleanup'), { state: 'waiting' })
  starting.proc.state = 'ready'
  supervisor.emit('worker-ready', starting.proc)
  t.same(grants(starting).map((g) => g.name), ['cleanup'], 'granted once the worker is ready')
})

t.test('a grant given back unused (it crossed a drain) is granted again elsewhere', async (t) => {
  const { leases, supervisor } = setup()
  const a = fakeProc(0, 100)
  leases.start()
  join(supervisor, a, 'cleanup')
  const first = grants(a)[0]
  if (first === undefined) return t.fail('no grant')
  const b = fakeProc(1, 101)
  join(supervisor, b, 'cleanup')
  a.proc.retiring = true
  release(supervisor, a, 'cleanup', first.lease)
  t.equal(grants(b).length, 1)
  leases.dispose()
  t.equal(supervisor.listenerCount('singleton'), 0, 'dispose unsubscribes')
})
