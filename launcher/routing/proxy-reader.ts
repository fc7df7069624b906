/**
 * Reads a PROXY protocol header off a connection the primary accepted paused, bounded in size
 * and time. Reading stops as soon as the header is complete; whatever came with it in the same
 * read belongs to the app and is returned as `head`, to be put back in front of the socket's
 * data in the worker (a TLS ClientHello, say, which the primary never looks at).
 *
 * `pause()` alone is not enough: it stops the 'data' events, but the handle goes on reading
 * into the stream's buffer up to its high-water mark, and a handle passed over IPC carries
 * only what is still in the kernel. A request that arrived just after its header would be
 * read here and lost (seen behind HAProxy, which writes the header and the client's bytes
 * separately). So reading stops at the handle, the way net.Socket's own pause-on-connect does.
 */
import type net from 'node:net'
import { parseProxyHeader, PROXY_HEADER_MAX_BYTES, type ProxyHeader } from './proxy-protocol.js'

export type ProxyRead = { ok: true, header: ProxyHeader, head: Buffer } | { ok: false, reason: string }

export function readProxyHeader (socket: net.Socket, timeoutMs: number): Promise<ProxyRead> {
  return new Promise((resolve) => {
    let received: Buffer = Buffer.alloc(0)
    const finish = (result: ProxyRead): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      const rest = stopReading(socket)
      resolve(result.ok && rest.length > 0 ? { ...result, head: Buffer.concat([result.head, ...rest]) } : result)
    }
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk])
      const parsed = parseProxyHeader(received)
      if (parsed.status === 'done') finish({ ok: true, header: parsed.header, head: received.subarray(parsed.length) })
      else if (parsed.status === 'invalid') finish({ ok: false, reason: parsed.reason })
      else if (received.length >= PROXY_HEADER_MAX_BYTES) finish({ ok: false, reason: `no complete header in ${PROXY_HEADER_MAX_BYTES} bytes` })
    }
    const onEnd = (): void => { finish({ ok: false, reason: 'the connection ended before its header' }) }
    const timer = setTimeout(() => { finish({ ok: false, reason: `no complete header within ${timeoutMs} ms` }) }, timeoutMs)
    timer.unref()
    socket.on('data', onData)
    socket.once('end', onEnd)
    socket.once('close', onEnd)
    socket.resume()
  })
}

interface ReadingHandle {
  reading?: boolean
  readStop?: () => number
}

/** Stops the handle reading; returns what the stream had buffered already. */
function stopReading (socket: net.Socket): Buffer[] {
  socket.pause()
  const handle = (socket as unknown as { _handle?: ReadingHandle | null })._handle
  const stop = (): void => {
    if (handle?.readStop === undefined) return
    handle.reading = false
    handle.readStop()
  }
  stop()
  const rest: Buffer[] = []
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) rest.push(chunk)
  // An empty read() asks the handle for more: stop it again.
  stop()
  return rest
}
