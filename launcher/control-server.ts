import net from 'node:net'
import type { Logger } from 'pino'
import { ERROR_CODES, FclError, isFclError } from '../lib/errors.js'
import type { InstanceView } from '../lib/protocol.js'
import type { ConfigReloadResult } from './config-reload.js'
import { checkSocketPathLength, ensureControlDir, socketPath } from './control-path.js'
import {
  CONTROL_PROTOCOL_VERSION,
  MAX_REQUEST_BYTES,
  createLineReader,
  encodeControlMessage,
  isControlRequest,
  type ClusterStatus,
  type ControlCommand,
  type ControlRequest,
  type ControlResponse,
  type StopOutcome
} from './control-protocol.js'
import type { RollResult } from './roll.js'

// See docs/architecture.md, "Built-in modules": not an ES import, whose namespace loads all of node:fs.
const { chmodSync, lstatSync, unlinkSync } = process.getBuiltinModule('node:fs')

/** What the control socket drives: the launch handle's own methods, so a command does exactly what its signal does. */
export interface ControlTarget {
  status: () => ClusterStatus
  instance: () => InstanceView
  reload: () => Promise<RollResult>
  reloadConfig: () => Promise<ConfigReloadResult>
  scale: (n: number) => Promise<void>
  shutdown: () => Promise<unknown>
}

/** The stop result as `launch.ts` reports it; only what crosses the socket. */
export interface StopReport {
  code: number
  reason: string
  killed: string[]
  error?: { message: string }
}

/** A client has this long to send its request line after connecting. */
const REQUEST_TIMEOUT_MS = 10000
/** Probing an existing socket at start: a live primary accepts at once. */
const PROBE_TIMEOUT_MS = 3000
/** Closing waits this long for clients to read their last line and hang up. */
const CLOSE_TIMEOUT_MS = 2000

function refusal (command: ControlCommand | null, error: string, code?: string): ControlResponse {
  return { v: CONTROL_PROTOCOL_VERSION, ok: false, command, refused: true, error, ...(code === undefined ? {} : { code }) }
}

function toStopOutcome (result: StopReport): StopOutcome {
  return {
    code: result.code,
    reason: result.reason,
    killed: result.killed,
    ...(result.error === undefined ? {} : { error: result.error.message })
  }
}

/**
 * The primary's end of the control socket. Opened before any worker is forked,
 * so a second instance with the same name stops before it has touched anything;
 * closed (and the socket file removed) as the instance stops, after every `stop`
 * client got its final line.
 */
export class ControlServer {
  readonly path: string
  readonly #server: net.Server
  readonly #log: Logger
  readonly #target: ControlTarget
  readonly #sockets = new Set<net.Socket>()
  readonly #stopWaiters = new Set<net.Socket>()
  /** The socket file's inode: only that file is ours to remove. */
  #inode = -1
  #closing: Promise<void> | null = null

  private constructor (file: string, log: Logger, target: ControlTarget) {
    this.path = file
    this.#log = log
    this.#target = target
    this.#server = net.createServer(this.#onConnection)
  }

  /**
   * Checks the directory, deals with an existing `<name>.sock` (a live instance
   * is an error; a dead one's file is removed), listens and locks the socket down.
   */
  static async open (options: { dir: string, name: string, log: Logger, target: ControlTarget }): Promise<ControlServer> {
    const { dir, name, log } = options
    ensureControlDir(dir)
    const file = socketPath(dir, name)
    checkSocketPathLength(file)
    await clearStaleSocket(file, name, log)
    const control = new ControlServer(file, log, options.target)
    await control.#listen(name)
    return control
  }

  async #listen (name: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        // Another instance took the name between our check and this listen.
        if (err.code === 'EADDRINUSE') reject(nameInUse(name, this.path, null))
        else reject(new FclError(ERROR_CODES.CONTROL_SOCKET, `cannot listen on control socket ${this.path} (${err.code ?? err.message})`, { hint: 'FCL_CONTROL=0 turns the control socket off' }))
      }
      this.#server.once('error', onError)
      this.#server.listen(this.path, () => {
        this.#server.off('error', onError)
        resolve()
      })
    })
    this.#server.on('error', (err) => { this.#log.error({ err }, `control socket error: ${err.message}`) })
    try {
      // The directory (0700) already keeps other users out; 0600 keeps it so if
      // the socket is ever moved or the directory opened up.
      chmodSync(this.path, 0o600)
      this.#inode = lstatSync(this.path).ino
    } catch (err) {
      await new Promise((resolve) => { this.#server.close(resolve) })
      throw new FclError(ERROR_CODES.CONTROL_SOCKET, `cannot secure control socket ${this.path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
    }
    // The workers keep the primary alive; an idle control socket must not.
    this.#server.unref()
  }

  readonly #onConnection = (socket: net.Socket): void => {
    this.#sockets.add(socket)
    socket.on('close', () => {
      this.#sockets.delete(socket)
      this.#stopWaiters.delete(socket)
    })
    // A client that hung up early: nothing to report to anyone.
    socket.on('error', () => {})
    if (this.#closing !== null) {
      socket.end(encodeControlMessage(refusal(null, 'the instance is stopping')))
      return
    }
    socket.setEncoding('utf8')
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => { socket.destroy() })
    let answered = false
    const read = createLineReader(MAX_REQUEST_BYTES, (line) => {
      if (answered) return
      answered = true
      socket.setTimeout(0)
      void this.#answer(line, socket)
    }, () => {
      answered = true
      socket.end(encodeControlMessage(refusal(null, `request longer than ${MAX_REQUEST_BYTES} bytes`)))
    })
    socket.on('data', read)
  }

  async #answer (line: string, socket: net.Socket): Promise<void> {
    let request: unknown
    try {
      request = JSON.parse(line)
    } catch {
      request = undefined
    }
    if (!isControlRequest(request)) {
      this.#reply(socket, refusal(null, 'not a control request this version understands'), true)
      return
    }
    this.#log[request.command === 'status' ? 'debug' : 'info']({ command: request.command }, `control socket: ${request.command} requested`)
    if (request.command === 'stop') {
      // The final line is written by close(), when the stop result exists.
      this.#stopWaiters.add(socket)
      this.#reply(socket, { v: CONTROL_PROTOCOL_VERSION, ok: true, command: 'stop', stopping: true }, false)
      this.#target.shutdown().catch((err: unknown) => {
        this.#log.error({ err }, `stop requested on the control socket failed: ${(err as Error).message}`)
      })
      return
    }
    let response: ControlResponse
    try {
      response = await this.#run(request)
    } catch (err) {
      response = refusal(request.command, (err as Error).message, isFclError(err) ? err.code : undefined)
    }
    this.#reply(socket, response, true)
  }

  async #run (request: Exclude<ControlRequest, { command: 'stop' }>): Promise<ControlResponse> {
    const v = CONTROL_PROTOCOL_VERSION
    switch (request.command) {
      case 'status':
        return { v, ok: true, command: 'status', status: this.#target.status() }
      case 'reload': {
        const roll = await this.#target.reload()
        return { v, ok: roll.ok, command: 'reload', roll }
      }
      case 'reload-config': {
        const configReload = await this.#target.reloadConfig()
        return { v, ok: configReload.ok, command: 'reload-config', configReload }
      }
      case 'scale': {
        await this.#target.scale(request.workers)
        const workers = this.#target.instance().total
        // A stop during scaling ends it early without an error.
        return workers === request.workers
          ? { v, ok: true, command: 'scale', target: request.workers, workers }
          : { v, ok: false, command: 'scale', target: request.workers, workers, error: `stopped at ${workers} workers: the instance began stopping` }
      }
    }
  }

  #reply (socket: net.Socket, response: ControlResponse, last: boolean): void {
    // Hung up on by close() while the action ran: the client learns from the closed connection.
    if (socket.destroyed || socket.writableEnded) return
    if (last) socket.end(encodeControlMessage(response))
    else socket.write(encodeControlMessage(response))
  }

  /**
   * Sends every `stop` client its final line, hangs up on the rest, and removes
   * the socket file. Resolves once the clients have read their lines (bounded),
   * so the primary may exit right after; never rejects.
   */
  close (result: StopReport | null): Promise<void> {
    this.#closing ??= this.#close(result)
    return this.#closing
  }

  async #close (result: StopReport | null): Promise<void> {
    const final = result === null
      ? null
      : encodeControlMessage({ v: CONTROL_PROTOCOL_VERSION, ok: result.code === 0, command: 'stop', stopped: toStopOutcome(result) })
    const closed = new Promise<void>((resolve) => { this.#server.close(() => { resolve() }) })
    for (const socket of this.#sockets) {
      if (final !== null && this.#stopWaiters.has(socket)) socket.end(final)
      else socket.end()
    }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)
      timer.unref()
    })
    await Promise.race([closed, timeout])
    clearTimeout(timer)
    for (const socket of this.#sockets) socket.destroy()
    this.#removeFile()
  }

  /** libuv removes the file on close; this covers the cases where it did not, and never touches another instance's file. */
  #removeFile (): void {
    try {
      if (lstatSync(this.path).ino === this.#inode) unlinkSync(this.path)
    } catch {
      // Already gone.
    }
  }
}

function nameInUse (name: string, file: string, pid: number | null): FclError {
  return new FclError(ERROR_CODES.CONTROL_NAME_IN_USE,
    `another instance named "${name}" is running (${pid === null ? 'pid unknown' : `pid ${pid}`}; control socket ${file})`, {
      hint: `stop it first (fastify-cluster-launch stop --name ${name}), or give this one another name with --name`
    })
}

/**
 * An existing socket file is either a live instance (connect succeeds: refuse to
 * start, never share) or what a killed one left behind (ECONNREFUSED: remove it).
 * Anything else is not ours to guess about.
 */
async function clearStaleSocket (file: string, name: string, log: Logger): Promise<void> {
  let isSocket: boolean
  try {
    isSocket = lstatSync(file).isSocket()
  } catch {
    return
  }
  if (!isSocket) {
    throw new FclError(ERROR_CODES.CONTROL_SOCKET, `${file} exists and is not a socket`, { hint: 'remove it, or pick another name with --name' })
  }
  // Only here, where a file exists: a primary that starts under a fresh name never loads the client.
  const { askStatus, connectSocket } = await import('./control-client.js')
  let socket: net.Socket
  try {
    socket = await connectSocket(file, PROBE_TIMEOUT_MS)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return
    if (code !== 'ECONNREFUSED') {
      throw new FclError(ERROR_CODES.CONTROL_SOCKET, `cannot tell whether control socket ${file} is in use (${code ?? (err as Error).message})`, {
        hint: 'if no instance of that name runs, remove the file; or pick another name with --name'
      })
    }
    try {
      unlinkSync(file)
    } catch (unlinkErr) {
      if ((unlinkErr as NodeJS.ErrnoException).code !== 'ENOENT') throw unlinkErr
    }
    log.warn({ control: file }, `removed a stale control socket ${file}: no instance answered on it (the last one named "${name}" did not exit cleanly)`)
    return
  }
  const status = await askStatus(socket, PROBE_TIMEOUT_MS).catch(() => null)
  throw nameInUse(name, file, status?.pid ?? null)
}
