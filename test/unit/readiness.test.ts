import t from 'tap'
import { Readiness, type ReadinessState } from '../../lib/readiness.js'

function watch (readiness: Readiness): Array<[ReadinessState, ReadinessState]> {
  const changes: Array<[ReadinessState, ReadinessState]> = []
  readiness.on('change', (next, previous) => { changes.push([next, previous]) })
  return changes
}

t.test('starts in starting, not draining', async (t) => {
  const readiness = new Readiness()
  t.equal(readiness.state, 'starting')
  t.equal(readiness.isDraining, false)
})

t.test('moves forward through every state, emitting (next, previous)', async (t) => {
  const readiness = new Readiness()
  const changes = watch(readiness)
  t.equal(readiness.advance('ready'), true)
  t.equal(readiness.isDraining, false)
  t.equal(readiness.advance('draining'), true)
  t.equal(readiness.isDraining, true)
  t.equal(readiness.advance('closed'), true)
  t.equal(readiness.isDraining, true, 'closed counts as draining')
  t.same(changes, [['ready', 'starting'], ['draining', 'ready'], ['closed', 'draining']])
})

t.test('never moves back or repeats, and then emits nothing', async (t) => {
  const readiness = new Readiness()
  readiness.advance('draining')
  const changes = watch(readiness)
  t.equal(readiness.advance('ready'), false, 'a draining worker cannot become ready again')
  t.equal(readiness.advance('starting'), false)
  t.equal(readiness.advance('draining'), false, 'the same state is no change')
  t.equal(readiness.state, 'draining')
  t.same(changes, [])
})

t.test('may skip states', async (t) => {
  const readiness = new Readiness()
  const changes = watch(readiness)
  t.equal(readiness.advance('closed'), true)
  t.same(changes, [['closed', 'starting']])
  t.equal(readiness.advance('draining'), false)
})
