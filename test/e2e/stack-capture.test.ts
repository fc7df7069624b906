import path from 'node:path'
import t from 'tap'
import { listeningPorts } from '../../launcher/inspector-port.js'
import { captureStack } from '../../launcher/stack-capture.js'
import { takeStack } from '../../launcher/stack-report.js'
import { judgeLoop } from '../../launcher/watchdog-timing.js'
import type { WorkerProc } from '../../launcher/worker-proc.js'
import { sleep } from '../helpers/load.js'
import { FIXTURES, isAlive, spawnNode, waitUntil } from '../helpers/process.js'

t.setTimeout(60000)

const LOOP_STATES = path.join(FIXTURES, 'loop-states.mjs')
const TIMES = { inspectorWaitMs: 500, answerWaitMs: 500, turnWaitMs: 100 }

/** Started as the launcher starts a worker when stacks are wanted. */
function start (mode: 'spin' | 'idle'): Promise<number> {
  const running = spawnNode(t, ['--inspect-publish-uid=http', '--inspect-port=0', LOOP_STATES, mode])
  return running.waitFor(/started/, 10000).then(() => running.pid)
}

const openPorts = (pid: number): number[] => [...listeningPorts(pid)?.values() ?? []]

t.test('a busy loop: the frames name the spinning function; the capture leaves the kill to the primary', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const pid = await start('spin')
  t.same(openPorts(pid), [], 'no port before the signal')
  const capture = await captureStack(pid, TIMES)
  t.equal(capture.outcome, 'stack')
  t.match(capture.frames?.[0], { functionName: 'spinForever', file: LOOP_STATES, line: 5 })
  t.equal(judgeLoop(capture, 1000), 'busy')
  t.ok(isAlive(pid), 'the capture does not kill: the primary decides (its inspector closes when it does)')
})

t.test('a loop that waits: judged idle and its inspector closed; a second look does not signal it again', { skip: process.platform !== 'linux' && 'reads /proc' }, async (t) => {
  const pid = await start('idle')
  const proc = { pid, workerId: 0, lastSeenAt: Date.now() } as unknown as WorkerProc
  const first = await takeStack(proc, 1000)
  t.equal(first.loop, 'idle', first.summary)
  await waitUntil(() => openPorts(pid).length === 0, 5000, 'the inspector port to close')
  const second = await takeStack(proc, 1000)
  t.equal(second.loop, null)
  t.match(second.summary, /no JavaScript stack: its inspector was opened once already/)
  await sleep(500)
  t.same(openPorts(pid), [], 'no port opened the second time')
  t.ok(isAlive(pid), 'a healthy worker lives on')
})

t.test('a process that is gone: no inspector, said at once', async (t) => {
  const started = Date.now()
  const capture = await captureStack(2 ** 22 + 12345, TIMES)
  t.equal(capture.outcome, 'no-inspector')
  t.ok(Date.now() - started < 1000)
})
