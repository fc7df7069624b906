import t from 'tap'
import { pickByRendezvous } from '../../launcher/routing/rendezvous.js'

const clients = Array.from({ length: 2000 }, (_v, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)

function assign (ids: number[]): Map<string, number | undefined> {
  return new Map(clients.map((c) => [c, pickByRendezvous(c, ids)]))
}

t.test('the same address always lands on the same worker, whatever the order of the candidates', async (t) => {
  const unstable = clients.filter((c) => pickByRendezvous(c, [0, 1, 2, 3]) !== pickByRendezvous(c, [3, 1, 0, 2]))
  t.same(unstable, [], 'the order of the candidates changes nothing')
  t.equal(pickByRendezvous('127.0.0.1', []), undefined, 'no candidate, no choice')
  t.equal(pickByRendezvous('127.0.0.1', [5]), 5)
})

t.test('addresses spread evenly over the workers', async (t) => {
  for (const n of [2, 3, 4, 8]) {
    const ids = Array.from({ length: n }, (_v, i) => i)
    const counts = new Map<number, number>()
    for (const id of assign(ids).values()) counts.set(id as number, (counts.get(id as number) ?? 0) + 1)
    const expected = clients.length / n
    for (const id of ids) {
      const share = counts.get(id) ?? 0
      t.ok(Math.abs(share - expected) < expected * 0.2, `${n} workers: worker ${id} gets ${share} of ${clients.length} (expected about ${expected})`)
    }
  }
})

t.test('when a worker leaves, only its clients move; when it comes back, they return', async (t) => {
  const before = assign([0, 1, 2])
  const without1 = assign([0, 2])
  const moved = [...before].filter(([c, id]) => without1.get(c) !== id)
  t.ok(moved.length > 0)
  t.ok(moved.every(([, id]) => id === 1), `the ${moved.length} clients that moved were all worker 1's`)
  t.same(assign([0, 1, 2]), before, 'the same clients come back to worker 1')
})

t.test('scaling from 3 to 2 keeps the clients of the workers that stay', async (t) => {
  const three = assign([0, 1, 2])
  const two = assign([0, 1])
  const moved = [...three].filter(([c, id]) => two.get(c) !== id)
  t.ok(moved.every(([, id]) => id === 2), `only worker 2's clients moved (${moved.length})`)
})
