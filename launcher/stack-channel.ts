/**
 * The primary's end of a worker's watchdog pipe (fd 4 in the worker, see lib/protocol.ts):
 * ask the worker's watchdog thread for the main thread's stack, and wait a bounded time for
 * the answer. The pipe is the worker's own, so it never keeps the primary alive, and a worker
 * that dies mid-question simply yields no answer.
 */
import type { Readable, Writable } from 'node:stream'
import { createLineReader } from './control-protocol.js'
import { createMessage, isStackReportMessage, type StackFrame, type StackReportMessage } from '../lib/protocol.js'
import { judgeLoop, STACK_CAPTURE_GRACE_MS, type LoopState } from './watchdog-timing.js'
import type { StuckReport, WorkerProc } from './worker-proc.js'

/** A report line is a few frames; anything far longer is not from our thread. */
const MAX_REPORT_BYTES = 64 * 1024

export interface StackChannel {
  /** Resolves with the thread's report, or null if none came within `timeoutMs`. */
  capture: (timeoutMs: number) => Promise<StackReportMessage | null>
}

type Duplex = Readable & Writable & { unref?: () => void }

export function openStackChannel (pipe: Duplex): StackChannel {
  let nextId = 0
  const waiting = new Map<number, (report: StackReportMessage | null) => void>()
  pipe.setEncoding('utf8')
  pipe.on('error', () => {})
  pipe.unref?.()
  const read = createLineReader(MAX_REPORT_BYTES, (line) => {
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      return
    }
    if (!isStackReportMessage(value)) return
    const resolve = waiting.get(value.id)
    if (resolve === undefined) return
    waiting.delete(value.id)
    resolve(value)
  }, () => {})
  pipe.on('data', read)
  pipe.on('close', function noMoreAnswers () {
    for (const resolve of waiting.values()) resolve(null)
    waiting.clear()
  })
  return {
    capture (timeoutMs) {
      const id = ++nextId
      return new Promise((resolve) => {
        const timer = setTimeout(() => { settle(null) }, timeoutMs)
        timer.unref()
        function settle (report: StackReportMessage | null): void {
          clearTimeout(timer)
          waiting.delete(id)
          resolve(report)
        }
        waiting.set(id, settle)
        if (pipe.destroyed || !pipe.writable) {
          settle(null)
          return
        }
        pipe.write(`${JSON.stringify(createMessage({ type: 'fcl:capture-stack', id }))}\n`)
      })
    }
  }
}

/** `spin file:12:5`, or `<anonymous> file:3:1`: what an operator greps for. */
export function formatFrame (frame: StackFrame): string {
  const where = frame.file === '' ? '<eval>' : `${frame.file}:${frame.line}:${frame.column}`
  return `${frame.functionName === '' ? '<anonymous>' : frame.functionName} ${where}`
}

/**
 * The frame to name in a one-line message: the top one, unless it is Node's own code (a
 * timer or stream helper called from the app's loop), then the first of the app's.
 */
export function culpritFrame (frames: readonly StackFrame[]): StackFrame | undefined {
  return frames.find((f) => !f.file.startsWith('node:')) ?? frames[0]
}

/** What a log line says of a capture: where the loop is stuck, that it is not, or why nobody can say. */
export function describeCapture (report: StackReportMessage | null, loop: LoopState | null): string {
  if (report === null) return 'no stack: the watchdog thread did not answer'
  if (loop === 'idle') return 'its event loop turns (it waits on something; it is not stuck)'
  const culprit = report.frames === null ? undefined : culpritFrame(report.frames)
  if (culprit === undefined) return `no JavaScript stack: ${report.note ?? 'the main thread could not be paused'}`
  return `stuck in ${formatFrame(culprit)}`
}

/**
 * Asks a worker's watchdog thread where its main thread is, bounded by
 * {@link STACK_CAPTURE_GRACE_MS}; null when the worker runs no watchdog thread.
 */
export async function takeStack (proc: WorkerProc, heartbeatMs: number): Promise<StuckReport | null> {
  if (proc.stackChannel === null) return null
  const report = await proc.stackChannel.capture(STACK_CAPTURE_GRACE_MS)
  const loop = report === null ? null : judgeLoop(report, heartbeatMs)
  return {
    workerId: proc.workerId,
    pid: proc.pid,
    silentMs: Date.now() - proc.lastSeenAt,
    stack: report?.frames?.map(formatFrame) ?? [],
    summary: describeCapture(report, loop),
    loop,
    mainIdleMs: report?.mainIdleMs ?? null
  }
}
