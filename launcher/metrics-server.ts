/**
 * `--metrics-port`: the same cluster-wide metrics, served by the primary on a
 * listener of its own, for platforms that keep metrics off the app's port.
 */
import http from 'node:http'
import { ERROR_CODES, FclError } from '../lib/errors.js'
import type { MetricsText } from './cluster-metrics.js'

export async function startMetricsServer (port: number, host: string, path: string, collect: () => Promise<MetricsText>): Promise<http.Server> {
  const server = http.createServer(function serveMetrics (req, res) {
    const url = (req.url ?? '/').split('?')[0]
    if (url !== path || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: the metrics are at ${path}\n`)
      return
    }
    collect().then(
      ({ text, contentType }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' })
        res.end(req.method === 'HEAD' ? undefined : text)
      },
      (err: unknown) => {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(`cluster metrics unavailable: ${String(err)}\n`)
      }
    )
  })
  // Scrapers keep connections alive; they must not hold the primary open at exit.
  server.keepAliveTimeout = 5000
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port, host }, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new FclError(code === 'EADDRINUSE' ? ERROR_CODES.PORT_IN_USE : ERROR_CODES.WORKER_START,
      `metrics port ${port} on ${host} ${code === 'EADDRINUSE' ? 'is already in use' : `cannot be used: ${(err as Error).message}`}`,
      { hint: 'pick another --metrics-port' })
  }
  return server
}

export async function stopMetricsServer (server: http.Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
}
