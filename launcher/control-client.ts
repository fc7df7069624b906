import { existsSync } from 'node:fs'
import net from 'node:net'
import { ERROR_CODES, FclError } from '../lib/errors.js'
import { checkControlDir, controlDir, listSocketNames, socketPath } from './control-path.js'
import {
  createLineReader,
  encodeControlMessage,
  isControlResponse,
  type ClusterStatus,
  type ControlRequest,
  type ControlResponse
} from './control-protocol.js'
import { formatStatus } from './status-table.js'

/**
 * The CLI's side of the control socket: find the instance, send one request,
 * turn the answer into the line the operator reads. Every wait is bounded; a
 * command that failed throws a coded error (the CLI prints it and exits 1).
 */

/** What the CLI parsed for a control command. */
export interface ControlInvocation {
  request: ControlRequest
  /** `--name` / FCL_NAME; null: the one instance of this user that runs. */
  name: string | null
  json: boolean
}

/** A live primary accepts a Unix-socket connection at once, even when busy. */
const CONNECT_TIMEOUT_MS = 5000
const STATUS_TIMEOUT_MS = 10000
/** On top of the instance's own timeouts: queueing behind another action, a slow machine. */
const MARGIN_MS = 30000
/** Workers' config handlers have 10 s to acknowledge; a reload may also wait behind another. */
const RELOAD_CONFIG_TIMEOUT_MS = 60000
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

/**
 * How long a command may take, from the instance's own settings: each worker
 * replaced may take `readyTimeout`, and the old ones may drain for `graceTimeout`.
 */
export function commandTimeout (request: ControlRequest, status: ClusterStatus): number {
  const { readyTimeout, graceTimeout } = status.limits
  const workers = status.instance.total
  switch (request.command) {
    case 'status':
      return STATUS_TIMEOUT_MS
    case 'reload':
      return (workers + 1) * readyTimeout + graceTimeout + MARGIN_MS
    case 'reload-config':
      return RELOAD_CONFIG_TIMEOUT_MS
    case 'scale':
      return (Math.abs(request.workers - workers) + 1) * readyTimeout + graceTimeout + MARGIN_MS
    case 'stop':
      return graceTimeout + MARGIN_MS
  }
}

function failed (message: string, hint?: string): FclError {
  return new FclError(ERROR_CODES.CONTROL_FAILED, message, hint === undefined ? undefined : { hint })
}

/** The line printed for a command's final answer; a failure is thrown instead. Pure. */
export function describeOutcome (response: ControlResponse | undefined): string {
  if (response === undefined) {
    throw new FclError(ERROR_CODES.CONTROL_PROTOCOL, 'the instance closed the connection without an answer (did it stop?)', {
      hint: 'see the instance\'s log'
    })
  }
  if ('refused' in response) throw failed(`${response.command ?? 'request'} refused: ${response.error}`)
  if (response.command === 'reload' && 'roll' in response) {
    const { roll } = response
    if (roll.ok) return `rolling restart done: ${roll.replaced}/${roll.total} workers replaced in ${(roll.ms / 1000).toFixed(1)} s`
    throw failed(`rolling restart failed after ${roll.replaced}/${roll.total} workers in ${(roll.ms / 1000).toFixed(1)} s: ${roll.error ?? 'unknown error'}`,
      'workers not yet replaced keep serving; the instance\'s log has the details')
  }
  if (response.command === 'reload-config' && 'configReload' in response) {
    const reload = response.configReload
    if (reload.ok) return `config reloaded on ${reload.applied}/${reload.total} workers (version ${reload.version})`
    if (reload.total === 0) throw failed(`config reload rejected: ${reload.error ?? 'unknown error'}`, 'every worker keeps the current config')
    throw failed(`config reload failed on ${reload.total - reload.applied}/${reload.total} workers (version ${reload.version}): ${reload.failures.join('; ')}`,
      'the workers that failed keep their previous config')
  }
  if (response.command === 'scale' && 'target' in response) {
    if (response.ok) return `scaled to ${response.workers} worker${response.workers === 1 ? '' : 's'}`
    throw failed(`scaling to ${response.target} failed: ${response.error ?? 'unknown error'}`)
  }
  if (response.command === 'stop' && 'stopped' in response) {
    const { stopped } = response
    if (stopped.code === 0) return `stopped (exit code ${stopped.code})`
    throw failed(`stopped (exit code ${stopped.code}, ${stopped.reason})${stopped.error === undefined ? '' : `: ${stopped.error}`}`)
  }
  throw new FclError(ERROR_CODES.CONTROL_PROTOCOL, `unexpected answer to the command (${response.command})`)
}

/** A fresh connection to an instance found a moment ago; it may have stopped since. */
async function reconnect (dir: string, target: { name: string, file: string }): Promise<net.Socket> {
  try {
    return await connectSocket(target.file, CONNECT_TIMEOUT_MS)
  } catch (err) {
    if (isGone(err)) throw notRunning(dir, target.name, [])
    throw new FclError(ERROR_CODES.CONTROL_SOCKET, `cannot connect to instance "${target.name}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
}

/** Runs one control command; resolves with what to print on stdout. */
export async function runControlCommand (invocation: ControlInvocation, env: NodeJS.ProcessEnv): Promise<string> {
  const dir = controlDir(env)
  const target = await findInstance(dir, invocation.name)
  const status = await askStatus(await reconnect(dir, target), STATUS_TIMEOUT_MS)
  const { request } = invocation
  if (request.command === 'status') {
    return invocation.json ? `${JSON.stringify(status, null, 2)}\n` : `${formatStatus(status, Date.now())}\n`
  }
  // One request per connection: the status above told us how long this one may take.
  const socket = await reconnect(dir, target)
  let responses: ControlResponse[]
  try {
    responses = await exchange(socket, request, commandTimeout(request, status))
  } catch (err) {
    if (err instanceof FclError && err.code === ERROR_CODES.CONTROL_TIMEOUT) {
      throw new FclError(err.code, `instance "${target.name}" (pid ${status.pid}): ${err.message}`, err.hint === undefined ? undefined : { hint: err.hint })
    }
    throw err
  }
  return `${describeOutcome(responses.at(-1))}\n`
}
