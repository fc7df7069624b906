/**
 * The primary's half of run-once work: a lease table. Each singleton name is granted to one
 * ready, non-draining worker that registered it, and moves only after its holder let go.
 *
 * At most one holder per name at every moment, because a grant is only ever made to a name
 * with no holder, and a holder stops being one only when
 * - it says it released that very grant (lib/singletons.ts sends that once its handler's
 *   signal aborted and the handler's promise settled), or
 * - its process exited (a SIGKILL, a crash, a kill at the grace timeout).
 * A draining holder stays the holder until then; the wait is bounded by the grace timeout,
 * at which the supervisor kills it. A stuck holder keeps the lease until the watchdog has
 * killed it. There is no revocation: a lease never moves while its holder runs, so a worker
 * that comes back after a crash does not take names back (a move would cost a hand-over).
 *
 * Names are spread: a free name goes to the ready worker holding the fewest, ties broken by
 * rendezvous hashing of the name. Grants wait for the boot (every first worker ready), so
 * names registered by all workers do not all land on the first one up.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { createMessage, sendToWorker, type DrainReason, type SingletonJoinMessage, type SingletonReleaseMessage } from '../lib/protocol.js'
import { pickByRendezvous } from './routing/rendezvous.js'
import type { Supervisor, WorkerProc } from './supervisor.js'

/** Why the previous holder let go: its drain's reason, its exit, or it gave a grant back unused. */
export type HandoverReason = DrainReason | 'exit' | 'released'

export interface SingletonStatus {
  name: string
  /** `running`: held; `releasing`: the holder drains and is stopping it; `waiting`: no worker can take it now. */
  state: 'running' | 'releasing' | 'waiting'
  workerId: number | null
  pid: number | null
  /** Since when (epoch ms) it has been in this state. */
  since: number
  /** While releasing: why the holder let go. */
  reason: HandoverReason | null
  /** How many times it moved from one worker to another. */
  handovers: number
}

interface Lease {
  readonly name: string
  holder: WorkerProc | null
  grant: number
  releasing: HandoverReason | null
  since: number
  previous: { who: string, reason: HandoverReason } | null
  handovers: number
}

interface LeaseEvents {
  /** A name moved to another worker; `reason` is why the previous holder let go. */
  handover: [{ name: string, reason: HandoverReason }]
}

function describe (proc: WorkerProc): string {
  return `worker ${proc.workerId} (pid ${proc.pid})`
}

export class SingletonLeases extends EventEmitter<LeaseEvents> {
  readonly #supervisor: Supervisor
  readonly #log: Logger
  readonly #leases = new Map<string, Lease>()
  /** The names each live worker can run. */
  readonly #joined = new Map<WorkerProc, Set<string>>()
  #nextGrant = 0
  #started = false

  constructor (supervisor: Supervisor, log: Logger) {
    super()
    this.#supervisor = supervisor
    this.#log = log
    supervisor.on('singleton', this.#onMessage)
    supervisor.on('worker-ready', this.#settle)
    supervisor.on('worker-draining', this.#onDraining)
    supervisor.on('worker-exit', this.#onExit)
  }

  /** The boot is over: grant what waits. */
  start (): void {
    this.#started = true
    this.#settle()
  }

  status (): SingletonStatus[] {
    return [...this.#leases.values()].sort((a, b) => a.name.localeCompare(b.name)).map((lease) => ({
      name: lease.name,
      state: lease.holder === null ? 'waiting' : lease.releasing === null ? 'running' : 'releasing',
      workerId: lease.holder?.workerId ?? null,
      pid: lease.holder?.pid ?? null,
      since: lease.since,
      reason: lease.releasing,
      handovers: lease.handovers
    }))
  }

  dispose (): void {
    this.#supervisor.off('singleton', this.#onMessage)
    this.#supervisor.off('worker-ready', this.#settle)
    this.#supervisor.off('worker-draining', this.#onDraining)
    this.#supervisor.off('worker-exit', this.#onExit)
  }

  readonly #onMessage = (proc: WorkerProc, message: SingletonJoinMessage | SingletonReleaseMessage): void => {
    if (message.type === 'fcl:singleton-join') {
      // A join still in the pipe of a worker that is gone would pin a dead process here.
      if (proc.state === 'exited') return
      const names = this.#joined.get(proc) ?? new Set<string>()
      names.add(message.name)
      this.#joined.set(proc, names)
      if (!this.#leases.has(message.name)) {
        this.#leases.set(message.name, { name: message.name, holder: null, grant: 0, releasing: null, since: Date.now(), previous: null, handovers: 0 })
      }
      this.#settle()
      return
    }
    const lease = this.#leases.get(message.name)
    // Only the current holder's current grant frees a name; anything older is history.
    if (lease === undefined || lease.holder !== proc || lease.grant !== message.lease) return
    this.#free(lease, lease.releasing ?? 'released')
    this.#settle()
  }

  readonly #onDraining = (proc: WorkerProc, reason: DrainReason): void => {
    for (const lease of this.#leases.values()) {
      if (lease.holder !== proc || lease.releasing !== null) continue
      lease.releasing = reason
      lease.since = Date.now()
      this.#log.info({ singleton: lease.name, workerId: proc.workerId, workerPid: proc.pid, reason },
        `singleton "${lease.name}": ${describe(proc)} drains (${reason}); the lease moves once its handler has stopped`)
    }
  }

  readonly #onExit = (info: { pid: number }): void => {
    const proc = [...this.#joined.keys()].find((p) => p.pid === info.pid) ??
      [...this.#leases.values()].find((l) => l.holder?.pid === info.pid)?.holder ?? null
    if (proc === null) return
    this.#joined.delete(proc)
    for (const lease of this.#leases.values()) {
      if (lease.holder === proc) this.#free(lease, lease.releasing ?? 'exit')
    }
    this.#settle()
  }

  #free (lease: Lease, reason: HandoverReason): void {
    const holder = lease.holder
    if (holder === null) return
    lease.previous = { who: describe(holder), reason }
    lease.holder = null
    lease.releasing = null
    lease.since = Date.now()
  }

  /** Grants every free name that some ready worker can run. */
  readonly #settle = (): void => {
    if (!this.#started || this.#supervisor.stopping) return
    for (const lease of this.#leases.values()) {
      if (lease.holder !== null) continue
      const candidates = [...this.#joined].filter(([proc, names]) => names.has(lease.name) && this.#canHold(proc)).map(([proc]) => proc)
      if (candidates.length === 0) continue
      const held = (proc: WorkerProc): number => [...this.#leases.values()].filter((l) => l.holder === proc).length
      const fewest = Math.min(...candidates.map(held))
      const least = candidates.filter((proc) => held(proc) === fewest)
      const workerId = pickByRendezvous(lease.name, least.map((proc) => proc.workerId))
      const chosen = least.find((proc) => proc.workerId === workerId)
      if (chosen !== undefined) this.#grant(lease, chosen)
    }
  }

  #canHold (proc: WorkerProc): boolean {
    return proc.state === 'ready' && !proc.retiring && proc.linked
  }

  #grant (lease: Lease, proc: WorkerProc): void {
    lease.grant = ++this.#nextGrant
    if (!sendToWorker(proc.worker, createMessage({ type: 'fcl:singleton-grant', name: lease.name, lease: lease.grant }))) return
    lease.holder = proc
    lease.since = Date.now()
    const previous = lease.previous
    lease.previous = null
    if (previous === null) {
      this.#log.info({ singleton: lease.name, workerId: proc.workerId, workerPid: proc.pid },
        `singleton "${lease.name}": runs in ${describe(proc)}`)
      return
    }
    lease.handovers++
    this.emit('handover', { name: lease.name, reason: previous.reason })
    this.#log.info({ singleton: lease.name, workerId: proc.workerId, workerPid: proc.pid, reason: previous.reason },
      `singleton "${lease.name}": handed over to ${describe(proc)} (${previous.who} ${previous.reason === 'exit' ? 'exited' : previous.reason === 'released' ? 'gave it back' : `stopped it for ${previous.reason}`})`)
  }
}
