import type { Stats } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ERROR_CODES, FclError } from '../lib/errors.js'

// See docs/architecture.md, "Built-in modules": not an ES import, whose namespace loads all of node:fs.
const { chmodSync, lstatSync, mkdirSync, readdirSync } = process.getBuiltinModule('node:fs')

/**
 * Where control sockets live and what they are called: one private directory per
 * user, one `<name>.sock` per running instance. Shared by the primary (which
 * listens) and the CLI's commands (which connect), so both agree on the path.
 */

/** Letters, digits, dot, dash, underscore: safe in a file name and in a shell. */
export const INSTANCE_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
const NAME_MAX = 64
export const SOCKET_SUFFIX = '.sock'
/** sun_path holds 108 bytes on Linux and 104 on macOS and the BSDs, the final NUL included. */
const SOCKET_PATH_MAX = process.platform === 'linux' ? 107 : 103

export function isInstanceName (value: unknown): value is string {
  return typeof value === 'string' && INSTANCE_NAME_PATTERN.test(value)
}

/**
 * `server-3000` for `/srv/api/server.ts` on port 3000. With port 0 every instance
 * gets a port of its own, so the pid keeps two of them apart (`server-0-4242`).
 */
export function defaultInstanceName (entry: string, port: number, pid: number = process.pid): string {
  const base = path.basename(entry, path.extname(entry)).replace(/[^A-Za-z0-9._-]/g, '_')
  const suffix = port === 0 ? `-0-${pid}` : `-${port}`
  return `${base === '' ? 'app' : base}`.slice(0, NAME_MAX - suffix.length) + suffix
}

function currentUid (): number | null {
  return typeof process.getuid === 'function' ? process.getuid() : null
}

/**
 * `$XDG_RUNTIME_DIR/fastify-cluster-launch` (per user, cleared at logout), else a
 * per-uid folder in the temp directory. A relative XDG_RUNTIME_DIR is invalid by
 * the spec and ignored.
 */
export function controlDir (env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR
  if (runtime !== undefined && runtime !== '' && path.isAbsolute(runtime)) return path.join(runtime, 'fastify-cluster-launch')
  return path.join(os.tmpdir(), `fastify-cluster-launch-${currentUid() ?? os.userInfo().username}`)
}

export function socketPath (dir: string, name: string): string {
  return path.join(dir, `${name}${SOCKET_SUFFIX}`)
}

/** Why `stats` (from lstat) is not a safe control directory for `uid`, or null. Pure, for the tests. */
export function controlDirProblem (stats: Pick<Stats, 'isDirectory' | 'uid' | 'mode'>, uid: number | null): string | null {
  if (!stats.isDirectory()) return 'is not a directory (a symbolic link is not accepted either)'
  if (uid !== null && stats.uid !== uid) return `is owned by uid ${stats.uid}, not by this user (uid ${uid})`
  if ((stats.mode & 0o077) !== 0) return `is open to other users (mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}; it must be 0700)`
  return null
}

/**
 * Throws unless `dir` is a private directory of this user. Node cannot read the
 * uid of a Unix socket's peer, so this directory (0700, ours) and the socket's
 * own 0600 are what keep other users out: the kernel refuses their connect()
 * (root excepted). A directory someone else made or opened up is refused, never
 * repaired, since its sockets could already be someone else's.
 */
export function checkControlDir (dir: string): void {
  let stats: Stats
  try {
    stats = lstatSync(dir)
  } catch (err) {
    throw new FclError(ERROR_CODES.CONTROL_DIR_UNSAFE, `cannot use control directory ${dir} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      hint: 'set XDG_RUNTIME_DIR to a private directory of this user, or turn the control socket off with FCL_CONTROL=0'
    })
  }
  const problem = controlDirProblem(stats, currentUid())
  if (problem !== null) {
    throw new FclError(ERROR_CODES.CONTROL_DIR_UNSAFE, `control directory ${dir} ${problem}`, {
      hint: 'remove it or run chmod 700 on it if it is yours; or set XDG_RUNTIME_DIR to a private directory; FCL_CONTROL=0 turns the control socket off'
    })
  }
}

/** Creates the directory 0700 if it is missing, then checks it (see `checkControlDir`). */
export function ensureControlDir (dir: string): void {
  let created: string | undefined
  try {
    created = mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new FclError(ERROR_CODES.CONTROL_DIR_UNSAFE, `cannot create control directory ${dir} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      hint: 'set XDG_RUNTIME_DIR to a writable private directory, or turn the control socket off with FCL_CONTROL=0'
    })
  }
  // The umask may have taken bits off, never put any on; chmod makes it exact.
  if (created !== undefined) chmodSync(dir, 0o700)
  checkControlDir(dir)
}

/** Throws when the socket path is longer than a Unix socket address can hold. */
export function checkSocketPathLength (file: string): void {
  const bytes = Buffer.byteLength(file)
  if (bytes > SOCKET_PATH_MAX) {
    throw new FclError(ERROR_CODES.CONTROL_SOCKET, `control socket path ${file} is ${bytes} bytes, longer than a Unix socket address can hold (${SOCKET_PATH_MAX})`, {
      hint: 'use a shorter --name, or set XDG_RUNTIME_DIR to a shorter directory; FCL_CONTROL=0 turns the control socket off'
    })
  }
}

/** Names with a socket in `dir`, sorted; a socket may be stale (its instance was killed). */
export function listSocketNames (dir: string): string[] {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch {
    return []
  }
  return entries
    .filter((file) => file.endsWith(SOCKET_SUFFIX))
    .map((file) => file.slice(0, -SOCKET_SUFFIX.length))
    .filter(isInstanceName)
    .sort()
}
