import os from 'node:os'
import path from 'node:path'

// See docs/architecture.md, "Built-in modules": not an ES import, whose namespace loads all of node:fs.
const { readFileSync } = process.getBuiltinModule('node:fs')

/**
 * How many CPUs this process may really use. `os.availableParallelism()` follows
 * the CPU affinity mask, but on the Node versions we support it does not (or not
 * reliably) follow a cgroup CPU quota, which is what a container's `cpus:` or a
 * Kubernetes CPU limit sets; `os.cpus()` follows neither. So the quota is read
 * here: cgroup v2 `cpu.max`, cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`.
 */

/** Reads a file as text, or returns null; injected so the parsers are tested on sample files. */
export type ReadText = (file: string) => string | null

function readTextOrNull (file: string): string | null {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return null
  }
}

/** `cpu.max` holds "<quota> <period>" or "max <period>"; returns CPUs or null for no limit. */
export function parseCpuMax (text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/)
  if (quota === undefined || quota === 'max') return null
  return cpusFromQuota(Number(quota), Number(period ?? 100000))
}

/** cgroup v1: a quota of -1 means no limit. */
export function parseCfsQuota (quotaText: string, periodText: string): number | null {
  return cpusFromQuota(Number(quotaText.trim()), Number(periodText.trim()))
}

function cpusFromQuota (quota: number, period: number): number | null {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return null
  return quota / period
}

export interface ProcCgroup {
  /** cgroup v2 path of this process ("0::/path"), if any. */
  unified: string | null
  /** cgroup v1 path of the cpu controller, if any. */
  cpu: string | null
}

/** Parses `/proc/self/cgroup` lines "id:controllers:path". */
export function parseProcCgroup (text: string): ProcCgroup {
  const result: ProcCgroup = { unified: null, cpu: null }
  for (const line of text.split('\n')) {
    const first = line.indexOf(':')
    const second = line.indexOf(':', first + 1)
    if (first < 0 || second < 0) continue
    const controllers = line.slice(first + 1, second)
    const cgroupPath = line.slice(second + 1).trim()
    if (line.slice(0, first) === '0' && controllers === '') result.unified = cgroupPath
    else if (controllers.split(',').includes('cpu')) result.cpu = cgroupPath
  }
  return result
}

/** The directories from the process's own cgroup up to the mount root: a limit on any ancestor applies too. */
function ancestors (root: string, cgroupPath: string): string[] {
  const dirs: string[] = []
  let current = path.posix.join('/', cgroupPath)
  for (;;) {
    dirs.push(path.posix.join(root, current))
    if (current === '/') break
    current = path.posix.dirname(current)
  }
  return dirs
}

export interface CgroupLimit {
  cpus: number
  source: 'cgroup v2' | 'cgroup v1'
}

/** The tightest CPU quota on this process's cgroup and its ancestors, or null when none is set. */
export function readCgroupCpuLimit (read: ReadText = readTextOrNull, root = '/sys/fs/cgroup'): CgroupLimit | null {
  const procText = read('/proc/self/cgroup')
  const proc = procText === null ? { unified: '/', cpu: '/' } : parseProcCgroup(procText)
  let best: number | null = null
  let source: CgroupLimit['source'] = 'cgroup v2'
  const consider = (cpus: number | null, from: CgroupLimit['source']): void => {
    if (cpus !== null && (best === null || cpus < best)) {
      best = cpus
      source = from
    }
  }
  if (proc.unified !== null) {
    // Inside a container the namespace root is the container's own cgroup, so the
    // path reads "/" and the root file is the one that matters.
    for (const dir of ancestors(root, proc.unified)) {
      const text = read(path.posix.join(dir, 'cpu.max'))
      if (text !== null) consider(parseCpuMax(text), 'cgroup v2')
    }
  }
  for (const mount of ['cpu', 'cpu,cpuacct']) {
    for (const dir of ancestors(path.posix.join(root, mount), proc.cpu ?? '/')) {
      const quota = read(path.posix.join(dir, 'cpu.cfs_quota_us'))
      const period = read(path.posix.join(dir, 'cpu.cfs_period_us'))
      if (quota !== null && period !== null) consider(parseCfsQuota(quota, period), 'cgroup v1')
    }
  }
  return best === null ? null : { cpus: best, source }
}

export interface CpuFacts {
  availableParallelism: number
  hostCpus: number
  cgroup: CgroupLimit | null
}

export function readCpuFacts (): CpuFacts {
  return {
    availableParallelism: os.availableParallelism(),
    hostCpus: os.cpus().length,
    cgroup: readCgroupCpuLimit()
  }
}

export interface WorkerCountDecision {
  count: number
  reason: string
}

function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/**
 * `auto`: available parallelism capped by the quota, rounded up (1.5 CPUs -> 2
 * workers), at least 1. Where Node's `os.availableParallelism()` already follows
 * the quota (libuv >= 1.49, Node >= 22.12) it decides and the cgroup reading only
 * confirms it; elsewhere the cgroup reading decides. The reason names the source.
 */
export function decideAutoWorkers (facts: CpuFacts): WorkerCountDecision {
  const host = `host has ${facts.hostCpus}`
  const ap = facts.availableParallelism
  if (facts.cgroup !== null && facts.cgroup.cpus < ap) {
    const count = Math.max(1, Math.ceil(facts.cgroup.cpus))
    return { count, reason: `${facts.cgroup.source} quota ${facts.cgroup.cpus} CPUs (read from the cgroup; os.availableParallelism() says ${ap}), ${host}` }
  }
  const count = Math.max(1, ap)
  const limit = facts.cgroup === null ? 'no cgroup CPU quota' : `${facts.cgroup.source} quota ${facts.cgroup.cpus} CPUs`
  return { count, reason: `${plural(ap, 'CPU')} available from os.availableParallelism() (${limit}), ${host}` }
}
