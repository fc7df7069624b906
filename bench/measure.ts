/** Load, probes and process accounting for the benchmark; loopback only, every run bounded. */
import { readFileSync } from 'node:fs'
import http from 'node:http'
import autocannon from 'autocannon'

export interface LoadResult {
  rps: number
  p50: number
  p99: number
  total: number
  errors: number
  non2xx: number
}

export function runLoad (opts: { port: number, path: string, seconds: number, connections?: number, close?: boolean }): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    autocannon({
      url: `http://127.0.0.1:${opts.port}${opts.path}`,
      connections: opts.connections ?? 32,
      duration: opts.seconds,
      timeout: 10,
      ...(opts.close === true ? { headers: { connection: 'close' } } : {})
    }, (err, r) => {
      if (err !== null && err !== undefined) {
        reject(err)
        return
      }
      resolve({
        rps: r.requests.average,
        p50: r.latency.p50,
        p99: r.latency.p99,
        total: r.requests.total,
        errors: r.errors + r.timeouts,
        non2xx: r.non2xx
      })
    })
  })
}

/** One GET on a fresh connection; resolves the pid that answered, or null. */
export function pidAnswering (port: number, timeoutMs = 1000): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => {
        try {
          resolve((JSON.parse(body) as { pid: number }).pid)
        } catch {
          resolve(null)
        }
      })
    })
    req.on('timeout', () => { req.destroy() })
    req.on('error', () => { resolve(null) })
  })
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls until `n` distinct pids have answered (fresh connections), or throws at the deadline. */
export async function waitForPids (port: number, n: number, timeoutMs: number, exclude: ReadonlySet<number> = new Set(), probeTimeoutMs = 500): Promise<Set<number>> {
  const deadline = Date.now() + timeoutMs
  const seen = new Set<number>()
  while (Date.now() < deadline) {
    const pid = await pidAnswering(port, probeTimeoutMs)
    if (pid !== null && !exclude.has(pid)) seen.add(pid)
    if (seen.size >= n) return seen
    if (pid === null) await sleep(10)
  }
  throw new Error(`only ${seen.size}/${n} distinct pids answered on port ${port} within ${timeoutMs} ms`)
}

/** CPU time (ms, user + system) and RSS (MB) of a process, from /proc (Linux). */
export function processUsage (pid: number): { cpuMs: number, rssMb: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 and 15 (utime, stime) sit at 11 and 12 after the command name; in clock ticks (100/s).
    const ticks = Number(fields[11]) + Number(fields[12])
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
    return { cpuMs: ticks * 10, rssMb: Math.round(rssKb / 1024) }
  } catch {
    return null
  }
}

export interface Spread { median: number, min: number, max: number }

export function spread (values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  const median = sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  return { median, min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0 }
}

/** (max - min) / median, in percent: how noisy a figure was across rounds. */
export function noise (s: Spread): number {
  return s.median === 0 ? 0 : Math.round((s.max - s.min) / s.median * 1000) / 10
}
