/**
 * What the primary says of a stuck worker: its stack as log lines, the frame to name, and the
 * one-line summary, from a capture (stack-capture.ts) and the verdict on its loop.
 */
import type { StackCapture, StackFrame } from './stack-capture.js'
import { judgeLoop, STACK_ANSWER_WAIT_MS, STACK_CAPTURE_GRACE_MS, STACK_INSPECTOR_WAIT_MS, STACK_TURN_WAIT_MS, type LoopState } from './watchdog-timing.js'
import type { StuckReport, WorkerProc } from './worker-proc.js'

/** `spin file:12:5`, or `<anonymous> file:3:1`: what an operator greps for. */
export function formatFrame (frame: StackFrame): string {
  const where = frame.file === '' ? '<eval>' : `${frame.file}:${frame.line}:${frame.column}`
  return `${frame.functionName === '' ? '<anonymous>' : frame.functionName} ${where}`
}

/**
 * The frame to name in a one-line message: the top one, unless it is Node's own code (a
 * timer or stream helper called from the app's loop) or a built-in without a position
 * (`Atomics.wait`), then the first of the app's.
 */
export function culpritFrame (frames: readonly StackFrame[]): StackFrame | undefined {
  return frames.find((f) => f.file !== '' && !f.file.startsWith('node:')) ?? frames[0]
}

/** What a log line says of a capture: where the loop is stuck, that it is not, or why nobody can say. */
export function describeCapture (report: StackCapture, loop: LoopState | null): string {
  if (loop === 'idle') return 'its event loop turns (it waits on something; it is not stuck)'
  const culprit = report.frames === null ? undefined : culpritFrame(report.frames)
  if (culprit === undefined) return `no JavaScript stack: ${report.note ?? 'none was taken'}`
  return `stuck in ${formatFrame(culprit)}`
}

function overdue (): Promise<StackCapture> {
  return new Promise((resolve) => {
    setTimeout(resolve, STACK_CAPTURE_GRACE_MS, { outcome: 'no-inspector', frames: null, mainIdleMs: null, note: `the capture took longer than ${STACK_CAPTURE_GRACE_MS} ms` }).unref()
  })
}

/**
 * Workers whose inspector a capture opened. It is opened once per worker at most: Node can
 * crash (SIGSEGV) when SIGUSR1 opens an inspector again after `inspector.close()` (seen on
 * Node 20.20 and 24), and a worker judged healthy must not be crashed by a second look.
 */
const inspected = new WeakSet<WorkerProc>()

function alreadyInspected (): Promise<StackCapture> {
  return Promise.resolve({ outcome: 'no-inspector', frames: null, mainIdleMs: null, note: 'its inspector was opened once already (by an earlier look that found its loop turning), and Node cannot open it a second time safely' })
}

/** Takes a worker's stack (stack-capture.ts), bounded by {@link STACK_CAPTURE_GRACE_MS}, and says what it shows. */
export async function takeStack (proc: WorkerProc, heartbeatMs: number): Promise<StuckReport> {
  const first = !inspected.has(proc)
  inspected.add(proc)
  // Loaded at the first stuck worker: it brings node:http and ws, several MB a primary that
  // never meets one should not carry.
  const capturing = first
    ? import('./stack-capture.js').then(({ captureStack }) => captureStack(proc.pid, { inspectorWaitMs: STACK_INSPECTOR_WAIT_MS, answerWaitMs: STACK_ANSWER_WAIT_MS, turnWaitMs: STACK_TURN_WAIT_MS }))
    : alreadyInspected()
  const report = await Promise.race([capturing, overdue()])
  const loop = judgeLoop(report, heartbeatMs)
  return {
    workerId: proc.workerId,
    pid: proc.pid,
    silentMs: Date.now() - proc.lastSeenAt,
    stack: report.frames?.map(formatFrame) ?? [],
    summary: describeCapture(report, loop),
    loop,
    mainIdleMs: report.mainIdleMs
  }
}
