/**
 * The four subjects, started the same way on the same port range: each `start`
 * returns once N distinct pids answer, which is also the start-up figure.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { sleep, waitForPids } from './measure.js'

const run = promisify(execFile)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const APP = path.join(ROOT, 'bench/app')
const PM2 = path.join(ROOT, 'node_modules/pm2/bin/pm2')
const START_TIMEOUT_MS = 30000

/**
 * `ours-reuseport` is ours with `--balance reuseport`; it runs only where Node and the OS can.
 * `ours-sticky` is ours with `--balance sticky`: the primary picks the worker by client address
 * (the load then comes from many addresses, see `LOAD_SOURCES`).
 * `ours-offload` is ours running examples/cpu-offload, whose slow route runs in a worker-thread pool.
 * `ours-lean` is ours with `--no-worker-stacks`: what taking stuck workers' stacks costs a
 * healthy instance (the inspector flags only, since the capture moved to the primary).
 * `raw-pino` is raw-cluster whose primary logs with pino: what pino alone costs a primary.
 * `ours-ts` is ours with the same app as a TypeScript entry (bench/app/ours.ts).
 */
export type SubjectName = 'single' | 'raw-cluster' | 'raw-pino' | 'pm2' | 'ours' | 'ours-lean' | 'ours-ts' | 'ours-reuseport' | 'ours-sticky' | 'ours-offload'
export const CLUSTERS: readonly SubjectName[] = ['raw-cluster', 'pm2', 'ours']
export const ALL: readonly SubjectName[] = ['single', 'raw-cluster', 'pm2', 'ours']

export interface Running {
  name: SubjectName
  port: number
  startMs: number
  pids: Set<number>
  /** The process that accepts connections for the workers (primary or PM2 daemon); null for single. */
  managerPid: number | null
  /** The process whose tree holds every process of the subject (the single process itself, a primary, PM2's daemon). */
  rootPid: number
  /** Zero-downtime reload as the subject offers it; resolves with its own duration. */
  reload: () => Promise<number>
  stop: () => Promise<void>
}

function launchChild (args: string[], env: Record<string, string>): { child: ChildProcess, output: () => string } {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { out += c.toString() })
  return { child, output: () => out }
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 10000)
  await exited
  clearTimeout(timer)
}

async function waitForOutput (output: () => string, pattern: RegExp, from: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (pattern.test(output().slice(from))) return
    await sleep(20)
  }
  throw new Error(`no ${String(pattern)} within ${timeoutMs} ms`)
}

/** PM2 keeps its own home (daemon, logs) under a temp folder, never the user's ~/.pm2. */
export class Pm2Home {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-bench-pm2-'))

  async pm2 (args: string[], env: Record<string, string> = {}): Promise<string> {
    const { stdout } = await run(process.execPath, [PM2, ...args], { env: { ...process.env, ...env, PM2_HOME: this.dir }, maxBuffer: 16 * 1024 * 1024 })
    return stdout
  }

  daemonPid (): number | null {
    try {
      return Number(readFileSync(path.join(this.dir, 'pm2.pid'), 'utf8').trim()) || null
    } catch {
      return null
    }
  }

  async dispose (): Promise<void> {
    await this.pm2(['kill']).catch(() => {})
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export async function startSubject (name: SubjectName, n: number, port: number, pm2: Pm2Home): Promise<Running> {
  const started = Date.now()
  const base = { name, port }
  if (name === 'pm2') {
    await pm2.pm2(['start', path.join(APP, 'server.cjs'), '-i', String(n), '--name', 'bench-app'], { PORT: String(port) })
    const pids = await waitForPids(port, n, START_TIMEOUT_MS)
    return {
      ...base,
      startMs: Date.now() - started,
      pids,
      managerPid: pm2.daemonPid(),
      rootPid: pm2.daemonPid() ?? -1,
      reload: async () => {
        const t0 = Date.now()
        await pm2.pm2(['reload', 'bench-app'])
        return Date.now() - t0
      },
      stop: async () => { await pm2.pm2(['delete', 'all']) }
    }
  }
  const args = name === 'single'
    ? [path.join(APP, 'server.cjs')]
    : name === 'raw-cluster' || name === 'raw-pino'
      ? [path.join(APP, name === 'raw-pino' ? 'raw-cluster-pino.cjs' : 'raw-cluster.cjs')]
      : [path.join(ROOT, 'dist/launcher/cli.js'), '-w', String(n), '-p', String(port), '--host', '127.0.0.1',
          ...(name === 'ours-reuseport' ? ['--balance', 'reuseport'] : []),
          ...(name === 'ours-sticky' ? ['--balance', 'sticky'] : []),
          ...(name === 'ours-lean' ? ['--no-worker-stacks'] : []),
          name === 'ours-offload' ? path.join(ROOT, 'examples/cpu-offload/server.ts') : path.join(APP, name === 'ours-ts' ? 'ours.ts' : 'ours.mjs')]
  const { child, output } = launchChild(args, { PORT: String(port), WORKERS: String(n) })
  let pids: Set<number>
  try {
    pids = await waitForPids(port, name === 'single' ? 1 : n, START_TIMEOUT_MS)
  } catch (err) {
    await stopChild(child)
    throw new Error(`${name} did not start: ${(err as Error).message}\n${output()}`)
  }
  return {
    ...base,
    startMs: Date.now() - started,
    pids,
    managerPid: name === 'single' ? null : child.pid ?? null,
    rootPid: child.pid ?? -1,
    reload: async () => {
      if (!name.startsWith('ours')) throw new Error(`${name} has no zero-downtime reload`)
      const from = output().length
      const t0 = Date.now()
      child.kill('SIGUSR2')
      await waitForOutput(output, /rolling restart (done|.*failed)/, from, 60000)
      return Date.now() - t0
    },
    stop: async () => { await stopChild(child) }
  }
}
