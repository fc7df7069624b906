/**
 * Finds the port a worker's inspector listens on once SIGUSR1 has opened it. The worker is
 * started with `--inspect-port=0` (any free port: a fixed one would collide between workers,
 * instances and a developer's own debugger) and `--inspect-publish-uid=http` (no "Debugger
 * listening" line in its log), so the port is known only to the kernel: Linux's /proc names
 * the worker's sockets and the listening ones among them. A port that appears after the
 * signal is the inspector's; the worker's own listeners (under `--balance reuseport`) were
 * there before.
 */

// See docs/architecture.md, "Built-in modules": not an ES import, whose namespace loads all of node:fs.
const { readdirSync, readFileSync, readlinkSync } = process.getBuiltinModule('node:fs')

const LISTEN = '0A'

/** `socket:[12345]` -> `12345` for each of the process's open fds that is a socket. */
function socketInodes (pid: number): Set<string> {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (match?.[1] !== undefined) inodes.add(match[1])
    } catch {
      // The fd closed while we looked.
    }
  }
  return inodes
}

/**
 * The listening sockets among `inodes` in a /proc/net/tcp table, by inode, with their port.
 * Columns: sl, local_address (hex ip:port), rem_address, st, tx:rx, tr:when, retrnsmt, uid,
 * timeout, inode.
 */
export function parseListening (table: string, inodes: ReadonlySet<string>): Map<string, number> {
  const found = new Map<string, number>()
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/)
    const local = cols[1]
    const inode = cols[9]
    if (cols[3] !== LISTEN || local === undefined || inode === undefined || !inodes.has(inode)) continue
    const port = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16)
    if (Number.isInteger(port) && port > 0) found.set(inode, port)
  }
  return found
}

/** The process's listening TCP sockets (inode -> port), or null where /proc cannot tell (not Linux, process gone). */
export function listeningPorts (pid: number): Map<string, number> | null {
  try {
    const inodes = socketInodes(pid)
    const found = new Map<string, number>()
    for (const table of ['tcp', 'tcp6']) {
      for (const [inode, port] of parseListening(readFileSync(`/proc/${pid}/net/${table}`, 'utf8'), inodes)) found.set(inode, port)
    }
    return found
  } catch {
    return null
  }
}

/** The port of a listening socket that is not in `before`; null if none appeared within `waitMs`. */
export async function newListeningPort (pid: number, before: ReadonlyMap<string, number>, waitMs: number): Promise<number | null> {
  const deadline = Date.now() + waitMs
  for (;;) {
    for (const [inode, port] of listeningPorts(pid) ?? []) if (!before.has(inode)) return port
    if (Date.now() >= deadline) return null
    await new Promise((resolve) => { setTimeout(resolve, 20).unref() })
  }
}
