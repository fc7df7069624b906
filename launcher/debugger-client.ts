/**
 * A Chrome DevTools Protocol client for one worker's inspector, just what a stack capture
 * needs: find the target's WebSocket address, and send commands with a bounded wait for
 * each answer.
 *
 * The WebSocket comes from `ws`: Node 20 has no WebSocket client without a flag, and one
 * library on every Node keeps a single path to test. It is imported only when a capture runs,
 * so a primary that never meets a stuck worker never loads it.
 */
import http from 'node:http'
import type { WebSocket } from 'ws'

/** The answers are a stack string and a few numbers. */
const MAX_MESSAGE_BYTES = 1024 * 1024

export interface DebuggerSession {
  /** The command's result, or null on an error answer, a closed socket or no answer within `timeoutMs`. */
  post: <T>(method: string, params: Record<string, unknown>, timeoutMs: number) => Promise<T | null>
  close: () => void
}

/** The `webSocketDebuggerUrl` from the inspector's `/json/list`, or null. */
export function debuggerUrl (port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/json/list', timeout: timeoutMs }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => {
        try {
          const targets = JSON.parse(body) as Array<{ webSocketDebuggerUrl?: unknown }>
          const url = targets[0]?.webSocketDebuggerUrl
          resolve(typeof url === 'string' && url.startsWith('ws://127.0.0.1:') ? url : null)
        } catch {
          resolve(null)
        }
      })
      response.on('error', () => { resolve(null) })
    })
    request.on('timeout', () => { request.destroy() })
    request.on('error', () => { resolve(null) })
  })
}

/** Connects to the inspector at `url`; null if it does not accept within `timeoutMs`. */
export async function openDebugger (url: string, timeoutMs: number): Promise<DebuggerSession | null> {
  const { default: WebSocketClient } = await import('ws')
  const socket: WebSocket = new WebSocketClient(url, { handshakeTimeout: timeoutMs, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES })
  const opened = await new Promise<boolean>((resolve) => {
    socket.once('open', () => { resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
  // Errors after the open end in `close`, which settles every waiting command.
  socket.on('error', () => {})
  if (!opened) {
    socket.terminate()
    return null
  }
  let nextId = 0
  const waiting = new Map<number, (result: unknown) => void>()
  // Events (`Debugger.*`, `Runtime.*`) come only for enabled domains, and none is enabled.
  socket.on('message', function onAnswer (data) {
    let message: { id?: unknown, result?: unknown, error?: unknown }
    try {
      message = JSON.parse(String(data)) as typeof message
    } catch {
      return
    }
    if (typeof message.id === 'number') waiting.get(message.id)?.(message.error === undefined ? message.result ?? {} : null)
  })
  socket.on('close', function noMoreAnswers () {
    for (const settle of waiting.values()) settle(null)
  })
  return {
    post<T> (method: string, params: Record<string, unknown>, timeoutMs: number): Promise<T | null> {
      return new Promise((resolve) => {
        const id = ++nextId
        if (socket.readyState === socket.OPEN) socket.send(JSON.stringify({ id, method, params }))
        const timer = setTimeout(() => { settle(null) }, timeoutMs)
        timer.unref()
        function settle (result: unknown): void {
          clearTimeout(timer)
          waiting.delete(id)
          resolve(result as T | null)
        }
        waiting.set(id, settle)
        if (socket.readyState !== socket.OPEN) settle(null)
      })
    },
    close () { socket.close() }
  }
}
