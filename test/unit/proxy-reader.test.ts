import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { readProxyHeader } from '../../launcher/routing/proxy-reader.js'

const HEADER = 'PROXY TCP4 192.0.2.7 198.51.100.1 40000 443\r\n'

/** A loopback connection accepted paused, as the sticky listener accepts it. */
async function pair (t: Test): Promise<{ client: net.Socket, server: net.Socket }> {
  const listener = net.createServer({ pauseOnConnect: true })
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve))
  const { port } = listener.address() as net.AddressInfo
  const client = net.connect(port, '127.0.0.1')
  const server = await accepted
  t.teardown(() => {
    client.destroy()
    server.destroy()
    listener.close()
  })
  return { client, server }
}

t.test('the bytes after the header in the same read come back as head', async (t) => {
  const { client, server } = await pair(t)
  client.write(`${HEADER}GET / HTTP/1.1\r\n\r\n`)
  const read = await readProxyHeader(server, 2000)
  t.ok(read.ok)
  if (!read.ok) return
  t.equal(read.header.command, 'proxy')
  t.equal(read.head.toString(), 'GET / HTTP/1.1\r\n\r\n')
})

t.test('bytes sent after the header stay in the kernel for the worker, however late they come', async (t) => {
  const { client, server } = await pair(t)
  client.write(HEADER)
  const read = await readProxyHeader(server, 2000)
  t.ok(read.ok)
  if (!read.ok) return
  t.equal(read.head.length, 0)
  client.write('GET / HTTP/1.1\r\n\r\n')
  await sleep(100)
  t.equal(server.bytesRead, Buffer.byteLength(HEADER), 'nothing past the header was read from the handle')
  t.equal(server.readableLength, 0, 'nor buffered in the stream')
})

t.test('a bad header, a silent client and an early close are reported, not thrown', async (t) => {
  const bad = await pair(t)
  bad.client.write('GET / HTTP/1.1\r\n\r\n')
  const invalid = await readProxyHeader(bad.server, 2000)
  t.equal(invalid.ok, false)

  const silent = await pair(t)
  const timedOut = await readProxyHeader(silent.server, 50)
  t.match(timedOut, { ok: false, reason: /within 50 ms/ })

  const closing = await pair(t)
  closing.client.end('PROXY TCP4 ')
  t.match(await readProxyHeader(closing.server, 2000), { ok: false, reason: /ended before its header/ })
})
