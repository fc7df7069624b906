import t from 'tap'
import { noise, spread } from '../../bench/measure.js'

t.test('spread gives the median with min and max', async (t) => {
  t.same(spread([3, 1, 2]), { median: 2, min: 1, max: 3 })
  t.same(spread([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 })
  t.same(spread([7]), { median: 7, min: 7, max: 7 })
})

t.test('noise is the spread relative to the median, in percent', async (t) => {
  t.equal(noise({ median: 100, min: 95, max: 105 }), 10)
  t.equal(noise({ median: 0, min: 0, max: 0 }), 0)
})

t.test('a process tree\'s CPU and memory come from /proc', { skip: process.platform !== 'linux' ? 'Linux /proc only' : false }, async (t) => {
  const { cpuNs, descendants, memoryOf, treeCpuNs } = await import('../../bench/measure.js')
  const before = cpuNs(process.pid)
  let x = 0
  for (let i = 0; i < 2e6; i++) x += Math.sqrt(i)
  t.ok(x > 0)
  t.ok(cpuNs(process.pid) > before, 'CPU time grows with work')
  const root = cpuNs(process.pid)
  t.ok(treeCpuNs(process.pid) >= root, 'a tree counts at least its root (read first: the clock runs on)')
  t.same(descendants(process.pid).filter((pid) => pid === process.pid), [], 'a process is not its own descendant')
  const memory = memoryOf(process.pid)
  t.ok(memory !== null && memory.rssMb > memory.anonMb && memory.anonMb > 0, `RSS ${memory?.rssMb.toFixed(1)} MB, ${memory?.anonMb.toFixed(1)} MB of it anonymous`)
  t.equal(memoryOf(2 ** 22 + 1), null, 'no such process')
  t.equal(cpuNs(2 ** 22 + 1), 0)
})
