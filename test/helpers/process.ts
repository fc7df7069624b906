/**
 * One place for spawning real processes in tests: every child runs in its own
 * process group, is killed (group-wide, SIGKILL) on teardown even when the test
 * failed, and every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const CLI = path.join(ROOT, 'dist/launcher/cli.js')
export const FIXTURES = path.join(ROOT, 'test/fixtures')

export interface Teardown { teardown: (fn: () => unknown) => void }

export interface Running {
  child: ChildProcess
  pid: number
  /** stdout and stderr so far, as lines. */
  lines: () => string[]
  output: () => string
  /** Parsed JSON log lines so far. */
  logs: () => Array<Record<string, unknown>>
  waitFor: (pattern: RegExp | ((line: string) => boolean), timeoutMs?: number) => Promise<string>
  /** Resolves with the exit code (or the signal name) within `timeoutMs`, else rejects. */
  exited: (timeoutMs?: number) => Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  signal: (signal: NodeJS.Signals) => void
}

/**
 * Starts Node as a user would, without the test runner's process tracking. tap's
 * `@tapjs/processinfo` hooks every spawn of the test process and puts its loader into the
 * child's NODE_OPTIONS whatever env is passed, so a launcher and each worker it forks would
 * load it: about 0.25 s of CPU more per process on Node 20, hundreds of processes a run.
 * `env` runs after the hook and hands Node the NODE_OPTIONS without it (anything else the
 * developer set there stays); it execs Node, so the pid is Node's.
 */
export function spawnNode (t: Teardown, args: string[], opts: { env?: Record<string, string | undefined>, cwd?: string } = {}): Running {
  const nodeOptions = withoutRunnerHooks(opts.env !== undefined && 'NODE_OPTIONS' in opts.env ? opts.env.NODE_OPTIONS : process.env.NODE_OPTIONS)
  const setNodeOptions = nodeOptions === undefined ? ['-u', 'NODE_OPTIONS'] : [`NODE_OPTIONS=${nodeOptions}`]
  return spawnProcess(t, 'env', [...setNodeOptions, process.execPath, ...args], opts)
}

function withoutRunnerHooks (nodeOptions: string | undefined): string | undefined {
  const kept = (nodeOptions ?? '').match(/"(?:[^"\\]|\\.)*"|\S+/g)?.filter((option) => !option.includes('@tapjs/')) ?? []
  return kept.length === 0 ? undefined : kept.join(' ')
}

/**
 * A fresh, private XDG_RUNTIME_DIR, removed on teardown: a launcher's control
 * socket lands there, not in the machine's runtime directory, and two tests can
 * never see each other's instances. Pass the same one to processes that must meet.
 */
export function runtimeDir (t: Teardown): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-run-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/** Any program (redis-server, haproxy...), with the same teardown and waits. */
export function spawnProcess (t: Teardown, command: string, args: string[], opts: { env?: Record<string, string | undefined>, cwd?: string } = {}): Running {
  const child = spawn(command, args, {
    cwd: opts.cwd ?? ROOT,
    env: {
      ...process.env,
      FCL_LOG_LEVEL: undefined,
      WEB_CONCURRENCY: undefined,
      PORT: undefined,
      HOST: undefined,
      FCL_NAME: undefined,
      FCL_CONTROL: undefined,
      ...(opts.env !== undefined && 'XDG_RUNTIME_DIR' in opts.env ? {} : { XDG_RUNTIME_DIR: runtimeDir(t) }),
      ...opts.env
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true
  })
  const pid = child.pid ?? -1
  const lines: string[] = []
  const waiters = new Set<() => void>()
  let exitInfo: { code: number | null, signal: NodeJS.Signals | null } | null = null
  const exitPromise = once(child, 'exit').then(([code, signal]) => {
    exitInfo = { code: code as number | null, signal: signal as NodeJS.Signals | null }
    for (const w of waiters) w()
    return exitInfo
  })
  for (const stream of [child.stdout, child.stderr]) {
    let buffer = ''
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      buffer += chunk
      const parts = buffer.split('\n')
      buffer = parts.pop() ?? ''
      lines.push(...parts)
      for (const w of waiters) w()
    })
  }
  t.teardown(() => {
    if (exitInfo === null) {
      try { process.kill(-pid, 'SIGKILL') } catch {}
    }
  })
  const running: Running = {
    child,
    pid,
    lines: () => [...lines],
    output: () => lines.join('\n'),
    logs: () => lines.flatMap((l) => {
      try { return [JSON.parse(l) as Record<string, unknown>] } catch { return [] }
    }),
    waitFor (pattern, timeoutMs = 15000) {
      const test = typeof pattern === 'function' ? pattern : (l: string) => pattern.test(l)
      return new Promise((resolve, reject) => {
        let seen = 0
        const check = (): void => {
          for (; seen < lines.length; seen++) {
            const line = lines[seen] as string
            if (test(line)) { done(); resolve(line); return }
          }
          if (exitInfo !== null) { done(); reject(new Error(`process exited (${JSON.stringify(exitInfo)}) before printing ${String(pattern)}; output:\n${lines.join('\n')}`)) }
        }
        const timer = setTimeout(() => { done(); reject(new Error(`no line matching ${String(pattern)} within ${timeoutMs} ms; output:\n${lines.join('\n')}`)) }, timeoutMs)
        const done = (): void => { clearTimeout(timer); waiters.delete(check) }
        waiters.add(check)
        check()
      })
    },
    exited (timeoutMs = 15000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`process ${pid} still running after ${timeoutMs} ms; output:\n${lines.join('\n')}`)) }, timeoutMs)
        void exitPromise.then((info) => { clearTimeout(timer); resolve(info) })
      })
    },
    signal (signal) {
      try { process.kill(pid, signal) } catch {}
    }
  }
  return running
}

/** Starts the built CLI. */
export function spawnCli (t: Teardown, args: string[], opts: { env?: Record<string, string | undefined>, cwd?: string } = {}): Running {
  return spawnNode(t, [CLI, ...args], opts)
}

export async function freePort (): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface HttpResult {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  json: () => any
}

/** One request on a fresh connection (`Connection: close`), so the primary's balancing applies per request. */
export function request (port: number, urlPath: string, opts: { method?: string, timeoutMs?: number, host?: string } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: opts.host ?? '127.0.0.1',
      port,
      path: urlPath,
      method: opts.method ?? 'GET',
      agent: false,
      headers: { connection: 'close' },
      timeout: opts.timeoutMs ?? 10000
    }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) })
      })
    })
    req.on('timeout', () => { req.destroy(new Error(`request ${urlPath} timed out`)) })
    req.on('error', reject)
    req.end()
  })
}

/**
 * A worker orphaned by its primary is re-parented to PID 1 (or a subreaper), which may reap it
 * late; until then `kill(pid, 0)` still succeeds on the zombie. A zombie runs no code and holds
 * no socket, so it counts as gone.
 */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The state letter follows the command name, which is in parentheses and may hold spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch (err) {
    // No /proc entry: either it vanished just now, or this is not Linux and kill(0) must do.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || !existsSync('/proc/self/stat')
  }
}

export async function waitUntil (check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** Worker pids the primary reported as forked (from its JSON log lines). */
export function forkedPids (running: Running): number[] {
  return running.logs().filter((l) => typeof l.msg === 'string' && /forked/.test(l.msg)).map((l) => l.workerPid as number)
}

/** The distinct pids that answer `tries` requests, each on a fresh connection. */
export async function pidsServing (port: number, tries = 20): Promise<Set<number>> {
  const pids = new Set<number>()
  for (let i = 0; i < tries; i++) pids.add((await request(port, '/')).json().pid)
  return pids
}

/** Whether a program is on PATH (tests that need haproxy or redis-server skip without it). */
export function hasProgram (name: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, name), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/**
 * The pids holding a listening TCP socket on `port` (Linux /proc): who owns the
 * accept path. With round-robin that is the primary; with reuseport, the workers.
 */
export function listenerPids (port: number): Set<number> {
  const inodes = new Set<string>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try { text = readFileSync(table, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      const local = cols[1]
      // State 0A is LISTEN; column 9 is the socket's inode.
      if (local === undefined || cols[3] !== '0A' || cols[9] === undefined) continue
      if (Number.parseInt(local.split(':')[1] ?? '', 16) === port) inodes.add(cols[9])
    }
  }
  const pids = new Set<number>()
  if (inodes.size === 0) return pids
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let fds: string[] = []
    try { fds = readdirSync(`/proc/${entry}/fd`) } catch { continue }
    for (const fd of fds) {
      let link = ''
      try { link = readlinkSync(`/proc/${entry}/fd/${fd}`) } catch { continue }
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
      if (inode !== undefined && inodes.has(inode)) pids.add(Number(entry))
    }
  }
  return pids
}
