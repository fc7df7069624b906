import net from 'node:net'
import { ERROR_CODES, FclError } from '../lib/errors.js'
import { checkControlDir, listSocketNames, socketPath } from './control-path.js'
import {
  createLineReader,
  encodeControlMessage,
  isControlResponse,
  type ClusterStatus,
  type ControlRequest,
  type ControlResponse
} from './control-protocol.js'

// See docs/architecture.md, "Built-in modules": not an ES import, whose namespace loads all of node:fs.
const { existsSync } = process.getBuiltinModule('node:fs')

/**
 * Connecting to control sockets: find the instance to talk to, send one request,
 * collect its answers. Every wait is bounded. Used by the CLI's commands, and by
 * a starting primary to ask who holds its name.
 */

/** A live primary accepts a Unix-socket connection at once, even when busy. */
const CONNECT_TIMEOUT_MS = 5000
/** A status of 1024 workers is a few hundred KB. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024

export function connectSocket (file: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(file)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(Object.assign(new Error(`connecting to ${file} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }))
    }, timeoutMs)
    timer.unref()
    const onError = (err: Error): void => {
      clearTimeout(timer)
      reject(err)
    }
    socket.once('error', onError)
    socket.once('connect', () => {
      clearTimeout(timer)
      socket.off('error', onError)
      resolve(socket)
    })
  })
}

/**
 * Sends `request` on a connected socket and collects every response until the
 * server hangs up (one line, or two for `stop`). Rejects after `timeoutMs`.
 */
export function exchange (socket: net.Socket, request: ControlRequest, timeoutMs: number): Promise<ControlResponse[]> {
  return new Promise((resolve, reject) => {
    const responses: ControlResponse[] = []
    let settled = false
    const finish = (err: Error | null): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (err === null) resolve(responses)
      else reject(err)
    }
    const timer = setTimeout(() => {
      finish(new FclError(ERROR_CODES.CONTROL_TIMEOUT, `no answer to ${request.command} within ${Math.round(timeoutMs / 1000)} s`, {
        hint: 'the action may still be running: see the instance\'s log'
      }))
    }, timeoutMs)
    timer.unref()
    const protocolError = (what: string): FclError => new FclError(ERROR_CODES.CONTROL_PROTOCOL, `the instance sent ${what}`, {
      hint: 'the instance and this command may come from different versions of fastify-cluster-launch'
    })
    socket.setEncoding('utf8')
    socket.on('data', createLineReader(MAX_RESPONSE_BYTES, (line) => {
      let value: unknown
      try {
        value = JSON.parse(line)
      } catch {
        finish(protocolError('a line that is not JSON'))
        return
      }
      if (!isControlResponse(value)) {
        finish(protocolError('an answer this version does not understand'))
        return
      }
      responses.push(value)
    }, () => { finish(protocolError(`an answer longer than ${MAX_RESPONSE_BYTES} bytes`)) }))
    socket.on('end', () => { finish(null) })
    socket.on('close', () => { finish(null) })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      finish(new FclError(ERROR_CODES.CONTROL_SOCKET, `lost the connection to the instance (${err.code ?? err.message})`))
    })
    socket.write(encodeControlMessage(request))
  })
}

/** Asks a connected instance for its status (also how a starting instance learns who holds its name). */
export async function askStatus (socket: net.Socket, timeoutMs: number): Promise<ClusterStatus> {
  const responses = await exchange(socket, { v: 1, command: 'status' }, timeoutMs)
  const response = responses[0]
  if (response?.command !== 'status' || !('status' in response)) {
    throw new FclError(ERROR_CODES.CONTROL_PROTOCOL, `the instance did not answer status${response?.error === undefined ? '' : `: ${response.error}`}`)
  }
  return response.status
}

function isGone (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ECONNREFUSED'
}

/** The names whose socket accepts a connection, i.e. whose instance runs (a stale file refuses). */
async function liveNames (dir: string, names: string[]): Promise<string[]> {
  const live = await Promise.all(names.map(async (name) => {
    try {
      const socket = await connectSocket(socketPath(dir, name), CONNECT_TIMEOUT_MS)
      socket.destroy()
      return name
    } catch {
      return null
    }
  }))
  return live.filter((name): name is string => name !== null)
}

function notRunning (dir: string, name: string | null, running: string[]): FclError {
  if (name === null) {
    return new FclError(ERROR_CODES.CONTROL_NOT_RUNNING, `no fastify-cluster-launch instance is running (looked in ${dir})`, {
      hint: 'instances of another user, with another XDG_RUNTIME_DIR, or started with FCL_CONTROL=0 are not visible here'
    })
  }
  return new FclError(ERROR_CODES.CONTROL_NOT_RUNNING,
    `no instance named "${name}" is running (${running.length === 0 ? 'none is' : `running: ${running.join(', ')}`}; looked in ${dir})`, {
      hint: running.length === 0 ? 'start one, or check the name' : 'pick one of the running instances with --name'
    })
}

/** The socket of the instance to talk to: the named one, or the only one running. */
export async function findInstance (dir: string, name: string | null): Promise<{ name: string, file: string }> {
  // Nothing there yet means nothing runs; a directory that is there must be ours
  // and private, or its sockets could be anyone's.
  if (!existsSync(dir)) throw notRunning(dir, name, [])
  checkControlDir(dir)
  const names = listSocketNames(dir)
  if (name !== null) {
    const file = socketPath(dir, name)
    try {
      const socket = await connectSocket(file, CONNECT_TIMEOUT_MS)
      socket.destroy()
      return { name, file }
    } catch (err) {
      if (!isGone(err)) {
        throw new FclError(ERROR_CODES.CONTROL_SOCKET, `cannot connect to instance "${name}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
      }
    }
    throw notRunning(dir, name, await liveNames(dir, names.filter((other) => other !== name)))
  }
  const live = await liveNames(dir, names)
  const only = live[0]
  if (only === undefined) throw notRunning(dir, null, [])
  if (live.length > 1) {
    throw new FclError(ERROR_CODES.CONTROL_AMBIGUOUS, `${live.length} instances are running: ${live.join(', ')}`, {
      hint: `pick one with --name, e.g. --name ${only}`
    })
  }
  return { name: only, file: socketPath(dir, only) }
}

/** A fresh connection to an instance found a moment ago; it may have stopped since. */
export async function reconnect (dir: string, target: { name: string, file: string }): Promise<net.Socket> {
  try {
    return await connectSocket(target.file, CONNECT_TIMEOUT_MS)
  } catch (err) {
    if (isGone(err)) throw notRunning(dir, target.name, [])
    throw new FclError(ERROR_CODES.CONTROL_SOCKET, `cannot connect to instance "${target.name}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}
