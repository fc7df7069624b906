import t from 'tap'
import { parseListening } from '../../launcher/inspector-port.js'
import { parseStack, type StackCapture, type StackFrame } from '../../launcher/stack-capture.js'
import { culpritFrame, describeCapture, formatFrame } from '../../launcher/stack-report.js'
import { debuggerRequested, heartbeatIntervalFor, isLateLook, isUnresponsive, judgeLoop, nextWatchdogLook, STACK_CAPTURE_GRACE_MS, STACK_INSPECTOR_WAIT_MS, STACK_ANSWER_WAIT_MS, WATCHDOG_CHECK_MS } from '../../launcher/watchdog-timing.js'

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
  t.equal(judgeLoop({ outcome: 'no-inspector', mainIdleMs: null }, 3000), null, 'no inspector: nothing is known')
  t.equal(judgeLoop({ outcome: 'no-debugger', mainIdleMs: 9000 }, 3000), 'blocked', 'the debugger could not get in')
  t.equal(judgeLoop({ outcome: 'turns', mainIdleMs: null }, 3000), 'idle', 'the loop turned while the primary asked')
  t.equal(judgeLoop({ outcome: 'stack', mainIdleMs: 1400 }, 3000), 'idle', 'the report timer ran within the last half interval: caught inside a long task')
  t.equal(judgeLoop({ outcome: 'stack', mainIdleMs: 2900 }, 3000), 'busy', 'a start stuck for most of a 3 s ready timeout')
  t.equal(judgeLoop({ outcome: 'stack', mainIdleMs: 29000 }, 3000), 'busy')
  t.equal(judgeLoop({ outcome: 'stack', mainIdleMs: null }, 3000), 'busy', 'no timer yet (a start): the stack decides')
  t.ok(STACK_INSPECTOR_WAIT_MS + 2 * STACK_ANSWER_WAIT_MS < STACK_CAPTURE_GRACE_MS, 'a capture stalled at one step gives up on its own before the primary stops waiting')
})

const SPIN: StackFrame = { functionName: 'spin', file: '/srv/app/routes.js', line: 12, column: 5 }
const TIMER: StackFrame = { functionName: 'listOnTimeout', file: 'node:internal/timers', line: 581, column: 17 }

t.test('frames read like editor positions; the culprit is the first frame of the app', async (t) => {
  t.equal(formatFrame(SPIN), 'spin /srv/app/routes.js:12:5')
  t.equal(formatFrame({ functionName: '', file: '/a.js', line: 1, column: 2 }), '<anonymous> /a.js:1:2')
  t.equal(formatFrame({ functionName: 'f', file: '', line: 1, column: 1 }), 'f <eval>')
  t.same(culpritFrame([TIMER, SPIN]), SPIN, 'Node\'s own frames are skipped')
  t.same(culpritFrame([{ functionName: 'wait', file: '', line: 0, column: 0 }, SPIN]), SPIN, 'and built-ins without a position')
  t.same(culpritFrame([TIMER]), TIMER, 'unless there is nothing else')
  t.equal(culpritFrame([]), undefined)
  const capture = (c: StackCapture): StackCapture => c
  t.equal(describeCapture(capture({ outcome: 'stack', frames: [SPIN], mainIdleMs: 5000 }), 'busy'), 'stuck in spin /srv/app/routes.js:12:5')
  t.equal(describeCapture(capture({ outcome: 'no-debugger', frames: null, mainIdleMs: 5000, note: 'inside a native call' }), 'blocked'), 'no JavaScript stack: inside a native call')
  t.equal(describeCapture(capture({ outcome: 'turns', frames: null, mainIdleMs: null }), 'idle'), 'its event loop turns (it waits on something; it is not stuck)')
  t.equal(describeCapture(capture({ outcome: 'no-inspector', frames: null, mainIdleMs: null, note: 'the worker is gone' }), null), 'no JavaScript stack: the worker is gone')
})

t.test('a V8 stack string becomes frames, without the capture\'s own', async (t) => {
  const stack = [
    'Error',
    '    at takeStack (fastify-cluster-launch:stack-capture:5:28)',
    '    at fastify-cluster-launch:stack-capture:10:3',
    '    at spinForever (file:///srv/app/spin.mjs:5:3)',
    '    at Timeout.begin [as _onTimeout] (/srv/app/main.ts:11:35)',
    '    at Object.waitNative (/srv/app/routes.js:15:13)',
    '    at Array.map (<anonymous>)',
    '    at async Promise.all (index 0)',
    '    at file:///srv/app/top.mjs:2:1',
    '    at listOnTimeout (node:internal/timers:581:17)'
  ].join('\n')
  t.same(parseStack(stack), [
    { functionName: 'spinForever', file: '/srv/app/spin.mjs', line: 5, column: 3 },
    { functionName: 'begin', file: '/srv/app/main.ts', line: 11, column: 35 },
    { functionName: 'waitNative', file: '/srv/app/routes.js', line: 15, column: 13 },
    { functionName: 'map', file: '', line: 0, column: 0 },
    { functionName: 'all', file: '', line: 0, column: 0 },
    { functionName: '', file: '/srv/app/top.mjs', line: 2, column: 1 },
    { functionName: 'listOnTimeout', file: 'node:internal/timers', line: 581, column: 17 }
  ])
  t.same(parseStack('Error'), [], 'no frames')
})

t.test('/proc/net/tcp: the listening sockets among a process\'s own, with their port', async (t) => {
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:A4F1 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 555 1 0000000000000000 100 0 0 10 0',
    '   1: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0',
    '   2: 0100007F:A4F2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 556 1 0000000000000000 20 4 30 10 -1',
    '   3: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 999 1 0000000000000000 100 0 0 10 0',
    ''
  ].join('\n')
  t.same([...parseListening(table, new Set(['555', '556', '777']))], [['555', 0xA4F1], ['777', 3000]], 'connected sockets and other processes\' listeners are left out')
  t.same([...parseListening('header only\n', new Set(['1']))], [])
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
