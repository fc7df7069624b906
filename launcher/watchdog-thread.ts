/**
 * Runs in a `worker_threads` thread of each worker (started by worker-watchdog.ts) and does
 * nothing until the primary asks, over the worker's watchdog pipe, where the main thread is.
 * Then it attaches the inspector to the main thread, pauses it and reads its call frames.
 * `Debugger.pause` arrives as a V8 interrupt, so it lands even inside `while (true) {}`; it
 * cannot land inside a blocking native call (`Atomics.wait`, a synchronous fs or
 * child_process call), and the report says so instead of naming nothing.
 *
 * The debugger is enabled only for a capture and disabled right after: an idle thread costs
 * its memory and no CPU. The same technique is used by Sentry's ANR detection for Node; this
 * is our own code.
 */
import inspector from 'node:inspector'
import { SourceMap } from 'node:module'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { workerData } from 'node:worker_threads'
import { createMessage, isCaptureStackMessage, type StackFrame, type StackReportMessage } from '../lib/protocol.js'
import { createLineReader } from './control-protocol.js'
import { judgeLoop } from './watchdog-timing.js'

interface ThreadData {
  fd: number
  /** Epoch ms of the main loop's last heartbeat (worker-watchdog.ts stores it). */
  lastTick: BigInt64Array
  pauseWaitMs: number
  /** How often the main loop ticks `lastTick` when it turns. */
  heartbeatMs: number
}

interface ScriptInfo { url: string, sourceMapURL: string }
interface PausedFrame { functionName: string, location: { scriptId: string, lineNumber: number, columnNumber?: number } }

/** Enough frames to see the loop and what called it; a log line, not a core dump. */
const MAX_FRAMES = 10

const data = workerData as ThreadData
const scripts = new Map<string, ScriptInfo>()
const sourceMaps = new Map<string, SourceMap | null>()
// One session per capture, closed right after: a session left attached would make Node print
// "Waiting for the debugger to disconnect..." when the worker exits, and keep the debugger on.
let session = new inspector.Session()

function post<T> (method: string, timeoutMs: number, params?: object): Promise<T | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { resolve(null) }, timeoutMs)
    session.post(method, params ?? {}, (err, result) => {
      clearTimeout(timer)
      resolve(err === null ? result as T : null)
    })
  })
}

function nextPause (timeoutMs: number): Promise<PausedFrame[] | null> {
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

/** Inline source maps (tsx adds one to every file it compiles); positions in the original file. */
function sourceMapFor (script: ScriptInfo): SourceMap | null {
  if (!script.sourceMapURL.startsWith('data:')) return null
  if (sourceMaps.has(script.url)) return sourceMaps.get(script.url) ?? null
  let map: SourceMap | null = null
  try {
    const comma = script.sourceMapURL.indexOf(',')
    const meta = script.sourceMapURL.slice(0, comma)
    const body = script.sourceMapURL.slice(comma + 1)
    const json = meta.endsWith(';base64') ? Buffer.from(body, 'base64').toString('utf8') : decodeURIComponent(body)
    map = new SourceMap(JSON.parse(json) as ConstructorParameters<typeof SourceMap>[0])
  } catch {
    map = null
  }
  sourceMaps.set(script.url, map)
  return map
}

function displayPath (url: string): string {
  if (!url.startsWith('file:')) return url
  try {
    return fileURLToPath(url)
  } catch {
    return url
  }
}

function toFrame (frame: PausedFrame): StackFrame {
  const script = scripts.get(frame.location.scriptId) ?? { url: '', sourceMapURL: '' }
  const line = frame.location.lineNumber
  const column = frame.location.columnNumber ?? 0
  const map = sourceMapFor(script)
  const entry = map?.findEntry(line, column) as { originalSource?: string, originalLine?: number, originalColumn?: number } | undefined
  if (entry?.originalSource !== undefined && entry.originalLine !== undefined && entry.originalColumn !== undefined) {
    const original = new URL(entry.originalSource, script.url === '' ? undefined : script.url).href
    return { functionName: frame.functionName, file: displayPath(original), line: entry.originalLine + 1, column: entry.originalColumn + 1 }
  }
  return { functionName: frame.functionName, file: displayPath(script.url), line: line + 1, column: column + 1 }
}

function mainIdleMs (): number | null {
  const last = Number(Atomics.load(data.lastTick, 0))
  return last > 0 ? Math.max(0, Date.now() - last) : null
}

async function capture (id: number): Promise<StackReportMessage> {
  session = new inspector.Session()
  session.connectToMainThread()
  session.on('Debugger.scriptParsed', function rememberScript ({ params }) {
    scripts.set(params.scriptId, { url: params.url, sourceMapURL: params.sourceMapURL ?? '' })
  })
  try {
    const idle = mainIdleMs()
    // Enabling is what makes the main thread answer at all: it replays every loaded script
    // (the scriptId -> file table) from inside the interrupt.
    if (await post('Debugger.enable', data.pauseWaitMs) === null) {
      return createMessage({
        type: 'fcl:stack',
        id,
        loop: judgeLoop({ enabled: false, paused: false, mainIdleMs: idle }, data.heartbeatMs),
        frames: null,
        mainIdleMs: idle,
        note: `the main thread did not answer the debugger within ${data.pauseWaitMs} ms: it is inside a blocking native call (Atomics.wait, a synchronous fs, crypto or child_process call, a native addon), where JavaScript cannot be interrupted`
      })
    }
    const paused = nextPause(data.pauseWaitMs)
    session.post('Debugger.pause', () => {})
    const frames = await paused
    if (frames === null) {
      return createMessage({
        type: 'fcl:stack',
        id,
        loop: judgeLoop({ enabled: true, paused: false, mainIdleMs: idle }, data.heartbeatMs),
        frames: null,
        mainIdleMs: idle,
        note: `no JavaScript ran within ${data.pauseWaitMs} ms: the event loop is waiting`
      })
    }
    const report = createMessage({
      type: 'fcl:stack',
      id,
      loop: judgeLoop({ enabled: true, paused: true, mainIdleMs: idle }, data.heartbeatMs),
      frames: frames.slice(0, MAX_FRAMES).map(toFrame),
      mainIdleMs: idle
    })
    await post('Debugger.resume', data.pauseWaitMs)
    return report
  } finally {
    // Disconnecting also resumes a main thread that paused after we stopped waiting (it left
    // a native call later): nobody would be left to resume it.
    session.disconnect()
    scripts.clear()
  }
}

const channel = new net.Socket({ fd: data.fd, readable: true, writable: true })
channel.setEncoding('utf8')
// The primary closed its end (it is exiting): this thread has nothing left to do.
channel.on('error', () => {})
let queue: Promise<void> = Promise.resolve()
channel.on('data', createLineReader(4096, (line) => {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return
  }
  if (!isCaptureStackMessage(value)) return
  queue = queue.then(async () => {
    const report = await capture(value.id)
    channel.write(`${JSON.stringify(report)}\n`)
  })
}, () => {}))
