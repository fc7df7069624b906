/**
 * Takes the stack of a worker's main thread from the primary, with nothing resident in the
 * worker. SIGUSR1 makes Node open the worker's inspector; the primary finds its port
 * (inspector-port.ts), attaches and evaluates `new Error().stack` in the worker. The inspector
 * runs that through a V8 interrupt of the main thread, on top of whatever JavaScript it is
 * running, so the stack shows the code that keeps the loop from turning, source-mapped the
 * way Node maps the app's own errors (tsx's inline maps, type stripping's kept positions).
 * Interrupts land inside `while (true) {}` and inside `Atomics.wait`, not inside a blocking
 * native call (a synchronous child process, a native addon): the capture says so. A second
 * question, answered only at the loop's next turn, tells a stuck loop from a turning one. The
 * primary judges what a capture means (watchdog-timing.ts).
 *
 * Why not a watchdog thread in each worker (the pattern of Sentry's ANR detection for Node):
 * a `worker_threads` thread costs 40-50 ms of CPU at each worker's start and 8-10 MB of
 * memory for its V8 isolate, for as long as the worker lives; a capture costs nothing until a
 * worker is stuck. Nor the Debugger domain: enabling it replays every loaded script (about
 * 250 ms for a Fastify app on Node 20), and a pause is not needed to read a stack. The price:
 * from the signal until the worker is killed, or until the capture closes it again, a
 * debugger port is open on 127.0.0.1 of the worker; `--no-worker-stacks` never opens one.
 */
import { fileURLToPath } from 'node:url'
import { LAST_TICK_KEY } from '../lib/worker-env.js'
import { debuggerUrl, openDebugger, type DebuggerSession } from './debugger-client.js'
import { listeningPorts, newListeningPort } from './inspector-port.js'

/** One frame of a stuck main thread, 1-based like an editor's line and column. */
export interface StackFrame {
  functionName: string
  /** A path for files, else the script's URL (`node:internal/...`), or `''` where V8 gives no position. */
  file: string
  line: number
  column: number
}

/**
 * What a capture got: `stack` (the frames of JavaScript that runs without letting the loop
 * turn), `turns` (the loop turned while the primary asked: it is not stuck), `no-debugger`
 * (the inspector opened but the main thread did not answer: it is inside a native call),
 * `no-inspector` (no inspector opened: the main thread is inside a native call, the worker is
 * gone, SIGUSR1 is taken by the app or disabled, or /proc is missing).
 */
export type CaptureOutcome = 'stack' | 'turns' | 'no-debugger' | 'no-inspector'

/**
 * `frames` is null when no JavaScript stack could be taken (`note` says why); `mainIdleMs` is
 * how long ago the worker's report timer last ran, when it has one.
 */
export interface StackCapture { outcome: CaptureOutcome, frames: StackFrame[] | null, mainIdleMs: number | null, note?: string }

export interface CaptureTimes {
  /** For the inspector to open after the signal. */
  inspectorWaitMs: number
  /** For the main thread to answer (the inspector's address, the connection, the stack). */
  answerWaitMs: number
  /** For a loop that turns to show it (it does within a few ms when it waits). */
  turnWaitMs: number
}

/** Enough frames to see the loop and what called it; a log line, not a core dump. */
const MAX_FRAMES = 10

/** How long after a capture a worker closes its inspector (see closeInspector). */
const INSPECTOR_CLOSE_DELAY_MS = 300

/** Names the capture's own frames in the stack, so they can be left out. */
const CAPTURE_SOURCE = 'fastify-cluster-launch:stack-capture'

/**
 * Evaluated in the worker: its stack, with room for our own frames on top, and when its
 * report timer last ran (worker-link.ts stamps it).
 */
const STACK_EXPRESSION = `(function takeStack () {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = ${MAX_FRAMES + 2}
  try {
    return { stack: String(new Error().stack), lastTick: globalThis[Symbol.for(${JSON.stringify(LAST_TICK_KEY)})] }
  } finally {
    Error.stackTraceLimit = limit
  }
})()
//# sourceURL=${CAPTURE_SOURCE}`

function displayPath (url: string): string {
  if (!url.startsWith('file:')) return url
  try {
    return fileURLToPath(url)
  } catch {
    return url
  }
}

/**
 * The function's own name, as the code spells it and an operator greps for: V8's stack lines
 * add the receiver's type and the property it was called as (`Timeout.spinForever [as
 * _onTimeout]`, `Object.handler`), which a file and line already pin down.
 */
function functionName (name: string): string {
  return name.replace(/^async /, '').replace(/ \[as [^\]]*\]$/, '').replace(/^[\w$]+\.(?=[^.])/, '')
}

const FRAME_LINE = /^\s*at (?:(.*?) \()?(.*?):(\d+):(\d+)\)?$/

/**
 * The frames of a V8 stack string (`at fn (file:line:column)`, or `at file:line:column`),
 * without the capture's own and without the error's message line. A frame without a position
 * (`at Array.map (<anonymous>)`) keeps its name.
 */
export function parseStack (stack: string): StackFrame[] {
  const frames: StackFrame[] = []
  for (const line of stack.split('\n')) {
    if (!/^\s*at /.test(line) || line.includes(CAPTURE_SOURCE)) continue
    const match = FRAME_LINE.exec(line)
    if (match === null) {
      frames.push({ functionName: functionName(line.trim().slice(3).replace(/ \(.*\)$/, '')), file: '', line: 0, column: 0 })
      continue
    }
    const [, name = '', file = '', row = '0', column = '0'] = match
    frames.push({ functionName: functionName(name), file: displayPath(file), line: Number(row), column: Number(column) })
  }
  return frames.slice(0, MAX_FRAMES)
}

async function readStack (session: DebuggerSession, times: CaptureTimes): Promise<StackCapture> {
  const answer = await session.post<{ result?: { value?: { stack?: unknown, lastTick?: unknown } } }>('Runtime.evaluate', { expression: STACK_EXPRESSION, returnByValue: true, silent: true }, times.answerWaitMs)
  const value = answer?.result?.value
  if (value === undefined) {
    return { outcome: 'no-debugger', frames: null, mainIdleMs: null, note: `the main thread did not answer the debugger within ${times.answerWaitMs} ms: it is inside a blocking native call (a synchronous child process, a long synchronous crypto or fs call, a native addon), where JavaScript cannot be interrupted` }
  }
  // A loop that turns runs this promise's callback at its next turn; a stuck one never does.
  const turned = await session.post('Runtime.evaluate', { expression: 'new Promise((resolve) => { setImmediate(resolve) })', awaitPromise: true, silent: true }, times.turnWaitMs)
  if (turned !== null) return { outcome: 'turns', frames: null, mainIdleMs: null, note: 'its event loop turned while the primary asked' }
  const mainIdleMs = typeof value.lastTick === 'number' ? Math.max(0, Date.now() - value.lastTick) : null
  return { outcome: 'stack', frames: parseStack(String(value.stack)), mainIdleMs }
}

function noInspector (note: string): StackCapture {
  return { outcome: 'no-inspector', frames: null, mainIdleMs: null, note }
}

/** Opens the inspector of worker `pid`, takes its main thread's stack and has the inspector closed again. */
export async function captureStack (pid: number, times: CaptureTimes): Promise<StackCapture> {
  const before = listeningPorts(pid)
  if (before === null) return noInspector(process.platform === 'linux' ? 'the worker is gone' : 'finding the inspector\'s port needs Linux\'s /proc')
  try {
    process.kill(pid, 'SIGUSR1')
  } catch {
    return noInspector('the worker is gone')
  }
  const port = await newListeningPort(pid, before, times.inspectorWaitMs)
  // Node opens the inspector from the main thread (through an interrupt, or the loop's wake-up).
  if (port === null) return noInspector(`its inspector did not open within ${times.inspectorWaitMs} ms of SIGUSR1: the main thread is inside a blocking native call (a synchronous child process, a long synchronous crypto or fs call, a native addon), where JavaScript cannot be interrupted (or the app took SIGUSR1 for itself)`)
  const url = await debuggerUrl(port, times.answerWaitMs)
  const session = url === null ? null : await openDebugger(url, times.answerWaitMs)
  if (session === null) return noInspector(`its inspector on port ${port} did not accept the primary`)
  try {
    const capture = await readStack(session, times)
    // A main thread that did not answer the stack question will not answer this either.
    if (capture.outcome !== 'no-debugger') await closeInspector(session, times.answerWaitMs)
    return capture
  } finally {
    session.close()
  }
}

/**
 * Closes the worker's debugger port soon after the stack is read: a worker judged healthy
 * lives on, and should not keep it (a stuck one is killed first). The close runs on the
 * worker's loop a little after the primary has left: `inspector.close()` waits for every
 * session to end, and closing while the primary's was still ending crashed Node (SIGSEGV) in
 * several looks out of a hundred on Node 20.20 and 24; with the delay, none in 160.
 */
async function closeInspector (session: DebuggerSession, waitMs: number): Promise<void> {
  await session.post('Runtime.evaluate', { expression: `void setTimeout(() => { process.getBuiltinModule('node:inspector').close() }, ${INSPECTOR_CLOSE_DELAY_MS}).unref()` }, waitMs)
}
