/**
 * Runs in a `worker_threads` thread of each worker (started by worker-watchdog.ts) and does
 * nothing until the primary asks, over the worker's watchdog pipe, where the main thread is.
 * Then it attaches the inspector to the main thread, pauses it and reads its call frames.
 * `Debugger.pause` arrives as a V8 interrupt, so it lands even inside `while (true) {}`; it
 * cannot land inside a blocking native call (a synchronous child process, a native addon),
 * and the report says so. The primary judges what the report means (watchdog-timing.ts).
 *
 * Cheap on purpose, since every worker starts one: CommonJS, so the thread starts no ES
 * module loader; nothing of this package at run time (the message shapes are typed in
 * lib/protocol.ts and checked by the primary); the inspector and source maps are loaded only
 * for a capture; between captures the thread waits on its pipe, with no timer. (Not in a
 * blocking read: Node joins a worker's threads when it exits, and a thread stuck in a read
 * would keep the worker from ever exiting.) The same technique is used by Sentry's ANR detection for Node; this is our own code.
 */
import net = require('node:net')
import workerThreads = require('node:worker_threads')
import type { Session } from 'node:inspector'
import type { SourceMap } from 'node:module'
import type { CaptureOutcome, StackFrame, StackReportMessage } from '../lib/protocol.js' with { 'resolution-mode': 'import' }

interface ThreadData {
  fd: number
  /** Epoch ms of the main loop's last heartbeat (worker-watchdog.ts stores it). */
  lastTick: BigInt64Array
  pauseWaitMs: number
}

interface ScriptInfo { url: string, sourceMapURL: string }
interface PausedFrame { functionName: string, location: { scriptId: string, lineNumber: number, columnNumber?: number } }

/** Enough frames to see the loop and what called it; a log line, not a core dump. */
const MAX_FRAMES = 10
/** A request line is a few dozen bytes. */
const MAX_LINE = 4096

const data = workerThreads.workerData as ThreadData

function mainIdleMs (): number | null {
  const last = Number(Atomics.load(data.lastTick, 0))
  return last > 0 ? Math.max(0, Date.now() - last) : null
}

function displayPath (url: string): string {
  if (!url.startsWith('file:')) return url
  try {
    return require('node:url').fileURLToPath(url) as string
  } catch {
    return url
  }
}

/** Inline source maps (tsx adds one to every file it compiles) give positions in the original file. */
function sourceMapFor (script: ScriptInfo, cache: Map<string, SourceMap | null>): SourceMap | null {
  if (!script.sourceMapURL.startsWith('data:')) return null
  if (cache.has(script.url)) return cache.get(script.url) ?? null
  let map: SourceMap | null = null
  try {
    const comma = script.sourceMapURL.indexOf(',')
    const meta = script.sourceMapURL.slice(0, comma)
    const body = script.sourceMapURL.slice(comma + 1)
    const json = meta.endsWith(';base64') ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body)
    const { SourceMap: Map } = require('node:module') as typeof import('node:module')
    map = new Map(JSON.parse(json) as ConstructorParameters<typeof Map>[0])
  } catch {
    map = null
  }
  cache.set(script.url, map)
  return map
}

function toFrame (frame: PausedFrame, scripts: Map<string, ScriptInfo>, maps: Map<string, SourceMap | null>): StackFrame {
  const script = scripts.get(frame.location.scriptId) ?? { url: '', sourceMapURL: '' }
  const line = frame.location.lineNumber
  const column = frame.location.columnNumber ?? 0
  const entry = sourceMapFor(script, maps)?.findEntry(line, column) as { originalSource?: string, originalLine?: number, originalColumn?: number } | undefined
  if (entry?.originalSource !== undefined && entry.originalLine !== undefined && entry.originalColumn !== undefined) {
    const original = new URL(entry.originalSource, script.url === '' ? undefined : script.url).href
    return { functionName: frame.functionName, file: displayPath(original), line: entry.originalLine + 1, column: entry.originalColumn + 1 }
  }
  return { functionName: frame.functionName, file: displayPath(script.url), line: line + 1, column: column + 1 }
}

function post<T> (session: Session, method: string, timeoutMs: number): Promise<T | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { resolve(null) }, timeoutMs)
    session.post(method, (err, result) => {
      clearTimeout(timer)
      resolve(err === null ? result as T : null)
    })
  })
}

function nextPause (session: Session, timeoutMs: number): Promise<PausedFrame[] | null> {
  return new Promise((resolve) => {
    const onPaused = ({ params }: { params: { callFrames: PausedFrame[] } }): void => {
      clearTimeout(timer)
      resolve(params.callFrames)
    }
    const timer = setTimeout(() => {
      session.off('Debugger.paused', onPaused)
      resolve(null)
    }, timeoutMs)
    session.once('Debugger.paused', onPaused)
  })
}

function report (id: number, outcome: CaptureOutcome, idle: number | null, frames: StackFrame[] | null, pauseMs: number | null, note?: string): StackReportMessage {
  return { v: 1, type: 'fcl:stack', id, outcome, frames, pauseMs, mainIdleMs: idle, ...(note === undefined ? {} : { note }) }
}

async function capture (id: number): Promise<StackReportMessage> {
  const { Session } = require('node:inspector') as typeof import('node:inspector')
  const idle = mainIdleMs()
  const scripts = new Map<string, ScriptInfo>()
  // One session per capture, closed right after: an attached session would make Node print
  // "Waiting for the debugger to disconnect..." when the worker exits, and keep the debugger on.
  const session = new Session()
  session.connectToMainThread()
  session.on('Debugger.scriptParsed', function rememberScript ({ params }) {
    scripts.set(params.scriptId, { url: params.url, sourceMapURL: params.sourceMapURL ?? '' })
  })
  try {
    // Enabling is what makes the main thread answer at all: it replays every loaded script
    // (the scriptId -> file table) from inside the interrupt.
    if (await post(session, 'Debugger.enable', data.pauseWaitMs) === null) {
      return report(id, 'no-debugger', idle, null, null, `the main thread did not answer the debugger within ${data.pauseWaitMs} ms: it is inside a blocking native call (a synchronous child process, a long synchronous crypto or fs call, a native addon), where JavaScript cannot be interrupted`)
    }
    const paused = nextPause(session, data.pauseWaitMs)
    const pausedAt = performance.now()
    session.post('Debugger.pause', () => {})
    const frames = await paused
    if (frames === null) return report(id, 'no-pause', idle, null, null, `no JavaScript ran within ${data.pauseWaitMs} ms: the event loop is waiting`)
    const pauseMs = Math.round(performance.now() - pausedAt)
    const maps = new Map<string, SourceMap | null>()
    const result = report(id, 'paused', idle, frames.slice(0, MAX_FRAMES).map((f) => toFrame(f, scripts, maps)), pauseMs)
    await post(session, 'Debugger.resume', data.pauseWaitMs)
    return result
  } finally {
    // Disconnecting also resumes a main thread that paused after we stopped waiting (it left a
    // native call later) and cancels a pause still pending: nobody else would resume it.
    session.disconnect()
  }
}

/** The ids of the `fcl:capture-stack` requests in `line`, if it is one. */
function requestId (line: string): number | null {
  try {
    const message = JSON.parse(line) as { v?: unknown, type?: unknown, id?: unknown }
    return message.v === 1 && message.type === 'fcl:capture-stack' && typeof message.id === 'number' ? message.id : null
  } catch {
    return null
  }
}

/** Answers each request on the pipe, one capture at a time, until the primary closes its end. */
function serve (): void {
  const channel = new net.Socket({ fd: data.fd, readable: true, writable: true })
  channel.setEncoding('utf8')
  // The primary closed its end (it is exiting): the thread has nothing left to do.
  channel.on('error', () => {})
  let pending = ''
  let queue = Promise.resolve()
  channel.on('data', function onRequests (chunk: string) {
    pending += chunk
    if (pending.length > MAX_LINE) pending = pending.slice(-MAX_LINE)
    let newline = pending.indexOf('\n')
    while (newline !== -1) {
      const id = requestId(pending.slice(0, newline))
      pending = pending.slice(newline + 1)
      newline = pending.indexOf('\n')
      if (id === null) continue
      queue = queue.then(async () => { channel.write(`${JSON.stringify(await capture(id))}\n`) })
    }
  })
}

serve()
