import t from 'tap'
import { nextCrashStreak, restartDelayFor, shouldGiveUp, type BackoffPolicy } from '../../launcher/backoff.js'

const policy: BackoffPolicy = { restartDelay: 100, restartDelayMax: 1000, minUptime: 30000, maxRestarts: 3 }

t.test('a crash before minUptime extends the streak, one after it starts a new one', async (t) => {
  t.equal(nextCrashStreak(0, 50, policy), 1, 'first crash')
  t.equal(nextCrashStreak(1, 50, policy), 2)
  t.equal(nextCrashStreak(4, 29999, policy), 5)
  t.equal(nextCrashStreak(4, 30000, policy), 1, 'exactly minUptime resets')
  t.equal(nextCrashStreak(9, 60000, policy), 1)
})

t.test('the first restart of a streak is immediate; then the delay starts and doubles per crash', async (t) => {
  t.same([1, 2, 3, 4, 5].map((streak) => restartDelayFor(streak, policy)), [0, 100, 200, 400, 800])
  t.equal(restartDelayFor(0, policy), 0, 'a streak below 1 restarts at once too')
})

t.test('the restart delay is capped at restartDelayMax, even for huge streaks', async (t) => {
  t.equal(restartDelayFor(6, policy), 1000)
  t.equal(restartDelayFor(10_000, policy), 1000)
  t.equal(restartDelayFor(3, { ...policy, restartDelay: 0 }), 0, 'a zero delay stays zero')
})

t.test('gives up only once the streak exceeds maxRestarts', async (t) => {
  t.notOk(shouldGiveUp(1, policy))
  t.notOk(shouldGiveUp(3, policy))
  t.ok(shouldGiveUp(4, policy))
  t.ok(shouldGiveUp(1, { ...policy, maxRestarts: 0 }), 'maxRestarts 0: the first crash is fatal')
})
