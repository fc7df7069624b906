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
