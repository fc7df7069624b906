import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import t from 'tap'
import { createLogger, holdLogger } from '../../launcher/logger.js'

function collecting (): { make: (timestamp: () => string) => Logger, lines: () => Array<Record<string, unknown>>, made: () => number } {
  const chunks: string[] = []
  let made = 0
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString())
      done()
    }
  })
  return {
    make: function make (timestamp) {
      made++
      return pino({ base: { role: 'primary' }, timestamp }, stream)
    },
    lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
    made: () => made
  }
}

t.test('log calls before release are queued, in order, without making the logger', async (t) => {
  const sink = collecting()
  const held = holdLogger(sink.make, 60000)
  held.log.info({ workers: 2 }, 'starting')
  held.log.warn('a warning')
  t.equal(sink.made(), 0, 'pino is not made while held')
  held.release()
  held.log.error('after release')
  t.equal(sink.made(), 1, 'made once')
  t.same(sink.lines().map((l) => [l.level, l.msg, l.role]), [[30, 'starting', 'primary'], [40, 'a warning', 'primary'], [50, 'after release', 'primary']])
  t.equal(sink.lines()[0]?.workers, 2, 'the fields are kept')
})

t.test('anything but a log call makes the logger at once, and behaves as pino', async (t) => {
  const sink = collecting()
  const held = holdLogger(sink.make, 60000)
  t.equal(held.log.level, 'info')
  t.equal(sink.made(), 1)
  held.log.level = 'warn'
  held.log.info('dropped by level')
  held.log.child({ workerId: 3 }).warn('from a child')
  t.same(sink.lines().map((l) => [l.msg, l.workerId]), [['from a child', 3]])
})

t.test('release is idempotent and makes nothing when nothing was logged', async (t) => {
  const sink = collecting()
  const held = holdLogger(sink.make, 60000)
  held.release()
  held.release()
  t.equal(sink.made(), 0)
  held.log.info('first line')
  t.equal(sink.made(), 1)
  t.equal(sink.lines().length, 1)
})

t.test('a held line carries the time it was logged, not the time it was written', async (t) => {
  const sink = collecting()
  const held = holdLogger(sink.make, 60000)
  const before = Date.now()
  held.log.info('held')
  await new Promise((resolve) => setTimeout(resolve, 120))
  held.release()
  held.log.info('live')
  const [first, second] = sink.lines()
  t.ok(typeof first?.time === 'number' && first.time >= before && first.time < before + 100, 'stamped when logged')
  t.ok(typeof second?.time === 'number' && second.time >= before + 120, 'a line after the release is stamped as usual')
})

t.test('lines are held at most maxHoldMs', async (t) => {
  const sink = collecting()
  const held = holdLogger(sink.make, 50)
  held.log.info('waiting')
  t.equal(sink.made(), 0)
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(sink.made(), 1, 'made by the timer')
  t.same(sink.lines().map((l) => l.msg), ['waiting'])
  held.release()
  t.equal(sink.lines().length, 1, 'a later release writes nothing twice')
})

t.test('making the logger for anything but a log call writes what was held first', async (t) => {
  const sink = collecting()
  const held = holdLogger(sink.make, 60000)
  held.log.info('held first')
  held.log.child({ workerId: 1 }).info('then a child')
  t.same(sink.lines().map((l) => l.msg), ['held first', 'then a child'])
})

t.test('the primary\'s JSON logger writes to stdout synchronously; a worker\'s keeps pino\'s default', async (t) => {
  const streamOf = (log: Logger): { sync?: boolean, fd?: number } | undefined => (log as unknown as Record<symbol, { sync?: boolean, fd?: number }>)[pino.symbols.streamSym]
  const primary = streamOf(createLogger({ role: 'primary' }, { pretty: false, level: 'info', sync: true }))
  t.equal(primary?.sync, true, 'a synchronous sonic-boom stream')
  t.equal(primary?.fd, 1, 'on fd 1')
  t.equal(streamOf(createLogger({ workerId: 0 }, { pretty: false, level: 'info' }))?.sync, false, 'a worker\'s writes through the thread pool')
})
