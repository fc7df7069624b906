/**
 * How connections reach workers. `rr`: node:cluster's round-robin, the primary
 * accepts every connection and passes it to a worker over IPC. `reuseport`: each
 * worker binds its own listening socket with SO_REUSEPORT and the kernel spreads
 * new connections over them; the primary is out of the accept path. `sticky`: the
 * primary accepts every connection and picks the worker by the client's address
 * (routing/), so one client always reaches the same worker.
 */
import net from 'node:net'
import { ERROR_CODES, FclError } from '../lib/errors.js'

// See docs/architecture.md, "Built-in modules": not an ES import, whose namespace loads all of node:fs.
const { readFileSync } = process.getBuiltinModule('node:fs')

export type Balance = 'rr' | 'reuseport' | 'sticky'
export const BALANCE_MODES: readonly Balance[] = ['rr', 'reuseport', 'sticky']

/**
 * Why this process cannot use `reuseport`, or null when it can. `listen({ reusePort })`
 * arrived in Node 22.12 and 23.1 (older versions ignore the option silently, which would
 * leave every worker but the first failing with EADDRINUSE), and only Linux spreads
 * connections over SO_REUSEPORT sockets (the BSDs and macOS hand them all to one socket).
 */
export function reusePortUnsupported (platform: string = process.platform, nodeVersion: string = process.versions.node): string | null {
  if (platform !== 'linux') return `--balance reuseport needs Linux (the kernel spreads connections over SO_REUSEPORT sockets only there); this is ${platform}`
  const [major = 0, minor = 0] = nodeVersion.split('.').map(Number)
  const ok = major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)
  if (!ok) return `--balance reuseport needs Node.js >= 22.12 or >= 23.1 (listen's reusePort option); this is v${nodeVersion}`
  return null
}

/**
 * With reuseport nothing in the primary holds the port, and the kernel would happily
 * add our workers to a group some other process (a previous instance still running,
 * say) already listens in: two instances would then share the port without a word.
 * A plain bind, without SO_REUSEPORT, fails on any port that has a listener.
 */
export async function checkPortFree (port: number, host: string): Promise<void> {
  const probe = net.createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject)
      probe.listen({ port, host, exclusive: true }, resolve)
    })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') {
      throw new FclError(ERROR_CODES.PORT_IN_USE, `port ${port} on ${host} is already in use (another process listens on it)`, {
        hint: 'stop the other process or pick another --port; with --balance reuseport the workers would otherwise share the port with it'
      })
    }
    throw new FclError(ERROR_CODES.WORKER_START, `cannot listen on ${host}:${port}: ${(err as Error).message}`)
  } finally {
    if (probe.listening) await new Promise<void>((resolve) => { probe.close(() => { resolve() }) })
  }
}

/**
 * Linux resets the connections still waiting in a closing listener's accept queue,
 * unless `net.ipv4.tcp_migrate_req` (Linux >= 5.14) is 1: then the kernel moves them
 * to another listener of the same SO_REUSEPORT group. Round-robin never meets this
 * (the primary's one listener stays open through restarts). Null: no such setting here.
 */
export function readTcpMigrateReq (file = '/proc/sys/net/ipv4/tcp_migrate_req'): boolean | null {
  try {
    return readFileSync(file, 'utf8').trim() === '1'
  } catch {
    return null
  }
}
