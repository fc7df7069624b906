/** Load, probes and process accounting for the benchmark; loopback only, every run bounded. */
import { readdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import autocannon from 'autocannon'

export interface LoadResult {
  rps: number
  p50: number
  p99: number
  p999: number
  total: number
  errors: number
  non2xx: number
}

/**
 * How many loopback source addresses (127.0.0.2, 127.0.0.3, ...) the load's connections come
 * from with `sources: true`. Under `--balance sticky` the worker is picked by the client's
 * address, and a load generator on one address would put every connection on one worker:
 * real traffic comes from many clients. Linux routes all of 127.0.0.0/8 to loopback.
 */
export const LOAD_SOURCES = 32

/**
 * autocannon has no option for the local address, and it runs in this process: while any run
 * asks for it, `net.connect` gives each new connection the next source address. Counted, so
 * runs that overlap share one patch, and the last one out restores Node's own function.
 */
let sourceUsers = 0
let nextSource = 0
const originalConnect = net.connect

function connectFromNextSource (this: unknown, ...args: unknown[]): net.Socket {
  const [port, host] = args
  if (typeof port !== 'number' || typeof host !== 'string') return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args)
  const localAddress = `127.0.0.${2 + (nextSource++ % LOAD_SOURCES)}`
  return originalConnect({ port, host, localAddress })
}

function spreadSources (): () => void {
  if (sourceUsers++ === 0) net.connect = connectFromNextSource as typeof net.connect
  let restored = false
  return () => {
    if (restored) return
    restored = true
    if (--sourceUsers === 0) net.connect = originalConnect
  }
}

/**
 * `rate`: requests per second, all connections together (autocannon's `overallRate`); flat out
 * without it. `sources`: connections from {@link LOAD_SOURCES} addresses instead of one.
 */
export function runLoad (opts: { port: number, path: string, seconds: number, connections?: number, close?: boolean, rate?: number, sources?: boolean }): Promise<LoadResult> {
  const restore = opts.sources === true ? spreadSources() : () => {}
  return new Promise<LoadResult>((resolve, reject) => {
    autocannon({
      url: `http://127.0.0.1:${opts.port}${opts.path}`,
      connections: opts.connections ?? 32,
      duration: opts.seconds,
      timeout: 10,
      ...(opts.rate === undefined ? {} : { overallRate: opts.rate }),
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
        p999: r.latency.p99_9,
        total: r.requests.total,
        errors: r.errors + r.timeouts,
        non2xx: r.non2xx
      })
    })
  }).finally(restore)
}

/** One GET on a fresh connection; resolves the pid that answered, or null. */
export function pidAnswering (port: number, timeoutMs = 1000, localAddress?: string): Promise<number | null> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, timeout: timeoutMs, ...(localAddress === undefined ? {} : { localAddress }) }, (res) => {
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

/**
 * Polls until `n` distinct pids have answered (fresh connections), or throws at the deadline.
 * The probes come from changing source addresses, so a sticky subject shows every worker too.
 */
export async function waitForPids (port: number, n: number, timeoutMs: number, exclude: ReadonlySet<number> = new Set(), probeTimeoutMs = 500): Promise<Set<number>> {
  const deadline = Date.now() + timeoutMs
  const seen = new Set<number>()
  let probe = 0
  while (Date.now() < deadline) {
    const pid = await pidAnswering(port, probeTimeoutMs, `127.0.0.${2 + (probe++ % LOAD_SOURCES)}`)
    if (pid !== null && !exclude.has(pid)) seen.add(pid)
    if (seen.size >= n) return seen
    if (pid === null) await sleep(10)
  }
  throw new Error(`only ${seen.size}/${n} distinct pids answered on port ${port} within ${timeoutMs} ms`)
}

/** A process's children, grandchildren and so on (Linux /proc), e.g. a primary's workers or PM2's daemon's. */
export function descendants (pid: number): number[] {
  let children: number[] = []
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter((c) => c !== '').map(Number)
  } catch {
    return []
  }
  return children.flatMap((child) => [child, ...descendants(child)])
}

/**
 * CPU time of a whole process, every thread, in ns, from `schedstat`: finer than the 10 ms
 * ticks of `/proc/<pid>/stat`, which an idle process's few ms a second fall between.
 * Threads that ended are not counted (only their process's own total could say).
 */
export function cpuNs (pid: number): number {
  let total = 0
  let tasks: string[] = []
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return 0
  }
  for (const task of tasks) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return total
}

/** CPU ns of a process and everything under it (a primary and its workers, PM2's daemon and its). */
export function treeCpuNs (pid: number): number {
  return [pid, ...descendants(pid)].reduce((sum, p) => sum + cpuNs(p), 0)
}

/**
 * RSS and its anonymous part, in MB (Linux smaps_rollup). RSS also counts the pages of the
 * node binary and shared libraries a process has touched, which every Node process on the
 * machine shares; the anonymous part is what the process holds for itself.
 */
export function memoryOf (pid: number): { rssMb: number, anonMb: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0)
    return { rssMb: kb('Rss') / 1024, anonMb: kb('Anonymous') / 1024 }
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
