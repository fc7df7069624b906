import { Duplex } from 'node:stream'
import t from 'tap'
import { createMessage, type StackFrame } from '../../lib/protocol.js'
import { culpritFrame, describeCapture, formatFrame, openStackChannel } from '../../launcher/stack-channel.js'
import { debuggerRequested, heartbeatIntervalFor, isLateLook, isUnresponsive, judgeLoop, nextWatchdogLook, STACK_CAPTURE_GRACE_MS, STACK_PAUSE_WAIT_MS, WATCHDOG_CHECK_MS } from '../../launcher/watchdog-timing.js'

t.test('heartbeats come six per timeout, between 100 ms and 5 s apart', async (t) => {
  t.equal(heartbeatIntervalFor(30000), 5000, 'the default timeout: the stats report every 5 s is the heartbeat')
  t.equal(heartbeatIntervalFor(3000), 500)
  t.equal(heartbeatIntervalFor(1000), 166)
  t.equal(heartbeatIntervalFor(600), 100)
  t.equal(heartbeatIntervalFor(600000), 5000)
})

t.test('unresponsive only past the timeout, never with the watchdog off', async (t) => {
  t.notOk(isUnresponsive(1000, 4000, 3000), 'exactly the timeout is still fine')
  t.ok(isUnresponsive(1000, 4001, 3000))
  t.notOk(isUnresponsive(0, 1e12, 0), 'timeout 0 is off')
})

t.test('a look that ran more than a second late is the primary\'s own stall and judges nobody', async (t) => {
  t.equal(WATCHDOG_CHECK_MS, 1000)
  t.notOk(isLateLook(10000, 10000))
  t.notOk(isLateLook(10000, 11000), 'a second late is still a normal look')
  t.ok(isLateLook(10000, 11001))
  t.ok(isLateLook(10000, 25000), 'a primary blocked for 15 s')
})

t.test('the next look comes just after the earliest deadline, or a timeout from now', async (t) => {
  t.equal(nextWatchdogLook([40000, 35000], 10000, 30000), 35001)
  t.equal(nextWatchdogLook([], 10000, 30000), 40001, 'no ready worker: a timeout from now')
  t.equal(nextWatchdogLook([9000], 10000, 30000), 10001, 'never in the past')
})

t.test('the verdict on a capture: blocked in native code, idle, or busy in JavaScript that keeps the loop from turning', async (t) => {
  t.equal(judgeLoop({ outcome: 'no-debugger', pauseMs: null, mainIdleMs: 9000 }, 3000), 'blocked', 'the debugger could not get in')
  t.equal(judgeLoop({ outcome: 'no-pause', pauseMs: null, mainIdleMs: 9000 }, 3000), 'idle', 'no JavaScript ran to be paused')
  t.equal(judgeLoop({ outcome: 'paused', pauseMs: 340, mainIdleMs: 9000 }, 3000), 'idle', 'the pause waited for the next callback of a turning loop')
  t.equal(judgeLoop({ outcome: 'paused', pauseMs: 2, mainIdleMs: 1400 }, 3000), 'idle', 'the clock ticked within the last half interval')
  t.equal(judgeLoop({ outcome: 'paused', pauseMs: 2, mainIdleMs: 2900 }, 3000), 'busy', 'a start stuck for most of a 3 s ready timeout')
  t.equal(judgeLoop({ outcome: 'paused', pauseMs: 1, mainIdleMs: 29000 }, 3000), 'busy')
  t.equal(judgeLoop({ outcome: 'paused', pauseMs: 1, mainIdleMs: null }, 3000), 'busy', 'no clock: the pause decides')
  t.ok(STACK_PAUSE_WAIT_MS < STACK_CAPTURE_GRACE_MS, 'the thread gives up before the primary stops waiting')
})

const SPIN: StackFrame = { functionName: 'spin', file: '/srv/app/routes.js', line: 12, column: 5 }
const TIMER: StackFrame = { functionName: 'listOnTimeout', file: 'node:internal/timers', line: 581, column: 17 }

t.test('frames read like editor positions; the culprit is the first frame of the app', async (t) => {
  t.equal(formatFrame(SPIN), 'spin /srv/app/routes.js:12:5')
  t.equal(formatFrame({ functionName: '', file: '/a.js', line: 1, column: 2 }), '<anonymous> /a.js:1:2')
  t.equal(formatFrame({ functionName: 'f', file: '', line: 1, column: 1 }), 'f <eval>')
  t.same(culpritFrame([TIMER, SPIN]), SPIN, 'Node\'s own frames are skipped')
  t.same(culpritFrame([TIMER]), TIMER, 'unless there is nothing else')
  t.equal(culpritFrame([]), undefined)
  t.equal(describeCapture(createMessage({ type: 'fcl:stack', id: 1, outcome: 'paused', frames: [SPIN], pauseMs: 1, mainIdleMs: 5000 }), 'busy'), 'stuck in spin /srv/app/routes.js:12:5')
  t.equal(describeCapture(createMessage({ type: 'fcl:stack', id: 1, outcome: 'no-debugger', frames: null, pauseMs: null, mainIdleMs: 5000, note: 'inside a native call' }), 'blocked'), 'no JavaScript stack: inside a native call')
  t.equal(describeCapture(createMessage({ type: 'fcl:stack', id: 1, outcome: 'no-pause', frames: [SPIN], pauseMs: 1, mainIdleMs: 300 }), 'idle'), 'its event loop turns (it waits on something; it is not stuck)')
  t.equal(describeCapture(null, null), 'no stack: the watchdog thread did not answer')
})

/** A stand-in for the worker's fd 4: what the primary writes, and a way to answer. */
function fakePipe (): { pipe: Duplex, written: string[], answer: (line: string) => void } {
  const written: string[] = []
  const pipe = new Duplex({
    read () {},
    write (chunk: Buffer, _encoding, callback) {
      written.push(chunk.toString())
      callback()
    }
  })
  return { pipe, written, answer: (line) => { pipe.push(line) } }
}

t.test('the stack channel asks with an id and takes only the matching answer', async (t) => {
  const { pipe, written, answer } = fakePipe()
  const channel = openStackChannel(pipe)
  const pending = channel.capture(2000)
  t.same(written.map((w) => JSON.parse(w)), [{ v: 1, type: 'fcl:capture-stack', id: 1 }])
  answer('not json\n')
  answer(`${JSON.stringify(createMessage({ type: 'fcl:stack', id: 7, outcome: 'no-pause', frames: null, pauseMs: null, mainIdleMs: 1 }))}\n`)
  const report = createMessage({ type: 'fcl:stack', id: 1, outcome: 'paused', frames: [SPIN], pauseMs: 1, mainIdleMs: 4000 })
  // Split across chunks, as a pipe may deliver it.
  const line = `${JSON.stringify(report)}\n`
  answer(line.slice(0, 20))
  answer(line.slice(20))
  t.same(await pending, report)
})

t.test('no answer in time, or a closed pipe, is null and never hangs', async (t) => {
  // The channel's timers are unref'd (they must not keep a primary alive); this test's process needs a ref.
  const keepAlive = setInterval(() => {}, 1000)
  t.teardown(() => { clearInterval(keepAlive) })
  const { pipe } = fakePipe()
  const channel = openStackChannel(pipe)
  const started = Date.now()
  t.equal(await channel.capture(50), null)
  t.ok(Date.now() - started < 1000)
  const waiting = channel.capture(5000)
  pipe.destroy()
  t.equal(await waiting, null, 'the worker died mid-question')
  t.equal(await channel.capture(5000), null, 'a dead pipe answers at once')
})

t.test('a debugger on the command line or in NODE_OPTIONS is seen; --inspect-port alone starts none', async (t) => {
  t.ok(debuggerRequested(['--inspect']))
  t.ok(debuggerRequested(['--inspect=0.0.0.0:9230']))
  t.ok(debuggerRequested(['--inspect-brk']))
  t.ok(debuggerRequested([], '--max-old-space-size=512 --inspect-wait=9229'))
  t.notOk(debuggerRequested(['--inspect-port=9229', '--enable-source-maps']))
  t.notOk(debuggerRequested([], ''))
  t.notOk(debuggerRequested(['--inspector-thing']))
})
