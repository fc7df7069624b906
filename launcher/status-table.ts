import Table from 'cli-table3'
import type { BackoffStatus, ClusterStatus, LastConfigReload, LastRoll, WorkerStatus } from './control-protocol.js'

/**
 * Turns a `status` answer into what `fastify-cluster-launch status` prints: a few
 * header lines about the instance, then one row per worker process. Pure: `now`
 * is passed in, so the tests get the same text every time.
 */

const UNKNOWN = '-'

/** `850 ms`, `12 s`, `3m 05s`, `2h 03m`, `4d 01h`: as precise as a glance needs. */
export function formatDuration (ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s} s`
  const pad = (n: number): string => String(n).padStart(2, '0')
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`
  return `${Math.floor(s / 86400)}d ${pad(Math.floor(s / 3600) % 24)}h`
}

/** Bytes as MiB with one decimal (`52.3 MB`, as the `--max-memory` logs say MB for MiB). */
export function formatMegabytes (bytes: number | null): string {
  return bytes === null ? UNKNOWN : `${(bytes / 1024 / 1024).toFixed(1)} MB`
}

/** Event-loop utilisation over the last stats interval, as a percentage. */
export function formatElu (elu: number | null): string {
  return elu === null ? UNKNOWN : `${(elu * 100).toFixed(1)} %`
}

export function formatCount (count: number | null): string {
  return count === null ? UNKNOWN : String(count)
}

function ago (finishedAt: number, now: number): string {
  return `${formatDuration(now - finishedAt)} ago`
}

export function describeRoll (roll: LastRoll | null, now: number): string {
  if (roll === null) return 'none yet'
  const seconds = (roll.ms / 1000).toFixed(1)
  return roll.ok
    ? `done, ${roll.replaced}/${roll.total} workers replaced in ${seconds} s (${ago(roll.finishedAt, now)})`
    : `failed after ${roll.replaced}/${roll.total} workers in ${seconds} s: ${roll.error ?? 'unknown error'} (${ago(roll.finishedAt, now)})`
}

export function describeConfigReload (reload: LastConfigReload | null, now: number): string {
  if (reload === null) return 'none yet'
  if (reload.ok) return `applied on ${reload.applied}/${reload.total} workers, version ${reload.version} (${ago(reload.finishedAt, now)})`
  if (reload.total === 0) return `rejected: ${reload.error ?? 'unknown error'} (${ago(reload.finishedAt, now)})`
  return `failed on ${reload.total - reload.applied}/${reload.total} workers, version ${reload.version}: ${reload.failures.join('; ')} (${ago(reload.finishedAt, now)})`
}

function backoffRow (slot: BackoffStatus): string[] {
  return [String(slot.workerId), UNKNOWN, `backoff (restart in ${formatDuration(slot.restartIn)})`, UNKNOWN, String(slot.restarts), UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN]
}

function workerRow (worker: WorkerStatus): string[] {
  return [
    String(worker.workerId),
    String(worker.pid),
    worker.state,
    formatDuration(worker.uptime),
    String(worker.restarts),
    formatMegabytes(worker.rss),
    formatMegabytes(worker.heapUsed),
    formatElu(worker.elu),
    formatCount(worker.requests)
  ]
}

/** One line per singleton: who holds it, or what it waits for. */
export function describeSingleton (singleton: ClusterStatus['singletons'][number]): string {
  const moved = singleton.handovers === 0 ? '' : `, ${singleton.handovers} hand-over${singleton.handovers === 1 ? '' : 's'}`
  const who = `worker ${singleton.workerId ?? UNKNOWN} (pid ${singleton.pid ?? UNKNOWN})`
  switch (singleton.state) {
    case 'running':
      return `${singleton.name}: ${who}, running for ${formatDuration(singleton.for)}${moved}`
    case 'releasing':
      return `${singleton.name}: waiting ${formatDuration(singleton.for)} for ${who} to stop it (${singleton.reason ?? 'drain'})${moved}`
    case 'waiting':
      return `${singleton.name}: waiting ${formatDuration(singleton.for)} for a ready worker${moved}`
  }
}

export function formatStatus (status: ClusterStatus, now: number): string {
  const { instance } = status
  const header = [
    `instance "${status.name}": pid ${status.pid}, ${instance.state}, ${instance.ready}/${instance.total} workers ready, up ${formatDuration(status.uptime)}`,
    `entry ${status.entry} on ${status.host}:${status.port}, config version ${status.configVersion}`,
    `last rolling restart: ${describeRoll(status.lastRoll, now)}`,
    `last config reload: ${describeConfigReload(status.lastConfigReload, now)}`
  ]
  const table = new Table({
    head: ['worker', 'pid', 'state', 'uptime', 'restarts', 'RSS', 'heap used', 'ELU', 'requests'],
    colAligns: ['right', 'right', 'left', 'right', 'right', 'right', 'right', 'right', 'right'],
    // No colours: the output is read by people and by grep alike.
    style: { head: [], border: [], compact: true }
  })
  // One list in worker-id order: a slot in backoff sits where its process would.
  const rows = [
    ...status.workers.map((w) => ({ id: w.workerId, cells: workerRow(w) })),
    ...status.backoff.map((b) => ({ id: b.workerId, cells: backoffRow(b) }))
  ].sort((a, b) => a.id - b.id)
  for (const row of rows) table.push(row.cells)
  const singletons = status.singletons.length === 0 ? '' : `\nsingletons:\n${status.singletons.map((s) => `  ${describeSingleton(s)}`).join('\n')}`
  return `${header.join('\n')}\n${table.toString()}${singletons}`
}
