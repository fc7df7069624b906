/**
 * An open-loop load generator for latency under spikes: requests leave at a fixed rate whether
 * or not earlier ones have been answered, as real clients' requests do, and each one's latency
 * runs from its scheduled start to its last byte.
 *
 * Why not autocannon here: it is closed-loop (a connection sends its next request only after
 * the previous answer), so a stalled worker also slows the sender and hides its own delay
 * (coordinated omission). And with `Connection: close` its latency is not usable: measured
 * here against 2 idle workers at 200 req/s on 16 connections, it reported a p50 of 645-1,159 ms
 * and 105 req/s, where this generator measured a p50 of 1.4 ms at the full 200 req/s.
 * Throughput and CPU scenarios keep autocannon, where those effects do not matter.
 */
import http from 'node:http'
import { LOAD_SOURCES, type LoadResult } from './measure.js'

export interface OpenLoopOptions {
  port: number
  /** Paths taken in turn. */
  paths: readonly string[]
  /** Requests per second. */
  rate: number
  seconds: number
  /** A new connection per request (`Connection: close`), or a keep-alive pool. */
  close: boolean
  /** Keep-alive: the pool's size, as a proxy's upstream pool or a client's agent has one. */
  sockets: number
  timeoutMs?: number
}

/** Sends every request at its scheduled moment, from {@link LOAD_SOURCES} loopback source addresses. */
export function openLoop (opts: OpenLoopOptions): Promise<LoadResult> {
  const total = Math.round(opts.rate * opts.seconds)
  const agent = opts.close ? false : new http.Agent({ keepAlive: true, maxSockets: opts.sockets })
  const latencies: number[] = []
  let errors = 0
  let non2xx = 0
  let sent = 0
  let settled = 0
  const started = performance.now()

  return new Promise<LoadResult>((resolve) => {
    function settle (): void {
      if (++settled < total) return
      clearInterval(pacer)
      if (agent !== false) agent.destroy()
      const elapsed = (performance.now() - started) / 1000
      resolve({ ...percentiles(latencies), rps: Math.round(latencies.length / elapsed * 100) / 100, total: latencies.length, errors, non2xx })
    }

    function send (due: number): void {
      let done = false
      const finish = (ok: boolean): void => {
        if (done) return
        done = true
        if (ok) latencies.push(performance.now() - due)
        else errors++
        settle()
      }
      const req = http.get({
        host: '127.0.0.1',
        port: opts.port,
        path: opts.paths[sent % opts.paths.length],
        agent,
        // Each new connection from the next address: a sticky subject sees many clients.
        localAddress: `127.0.0.${2 + (sent % LOAD_SOURCES)}`,
        headers: opts.close ? { connection: 'close' } : {},
        timeout: opts.timeoutMs ?? 10000
      }, (res) => {
        if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) non2xx++
        res.resume()
        res.on('end', () => { finish(true) })
        res.on('error', () => { finish(false) })
      })
      req.on('timeout', () => { req.destroy() })
      req.on('error', () => { finish(false) })
    }

    // Each request's latency counts from the moment it was due, not from when the pacer got
    // round to it: a late send is the subject's delay too. The generator sends a few hundred
    // requests a second, far below what would make it the late one.
    const pacer = setInterval(function pace () {
      const now = performance.now()
      const due = Math.min(total, Math.floor((now - started) / 1000 * opts.rate) + 1)
      while (sent < due) {
        send(started + sent * 1000 / opts.rate)
        sent++
      }
    }, 1)
  })
}

function percentiles (latencies: number[]): { p50: number, p99: number, p999: number } {
  const sorted = latencies.slice().sort((a, b) => a - b)
  const at = (q: number): number => {
    const v = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
    return v === undefined ? 0 : Math.round(v * 100) / 100
  }
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999) }
}
