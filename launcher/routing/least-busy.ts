/**
 * `--balance least-busy` (an experiment, see docs/benchmarks.md): each new connection goes to
 * the less busy of two workers drawn at random (power of two choices), by the load the workers
 * report (launcher/worker-load.ts) plus the connections handed to them since their last report.
 *
 * A worker whose report is overdue counts as busy: it was handed a connection (or had requests
 * in flight) and has said nothing for {@link STALE_AFTER_MS}, which is what a worker stuck in
 * synchronous work looks like from outside. An idle worker sends no reports and is not stale.
 */
import type { LoadMessage } from '../../lib/protocol.js'
import type { Supervisor, WorkerProc } from '../supervisor.js'
import { LOAD_REPORT_MS } from '../worker-load.js'
import type { WorkerChooser } from './primary-listener.js'

/** Three report intervals without a word, while it has work: busy. */
export const STALE_AFTER_MS = 3 * LOAD_REPORT_MS
/** A stale worker scores above any worker that reports, however loaded. */
const STALE_SCORE = 1_000_000

interface Load {
  inflight: number
  elu: number
  reportedAt: number
  /** Connections handed since the report, and when the first of them was. */
  handed: number
  firstHandedAt: number
}

/** The chooser's arithmetic, pure, for the tests: lower is less busy. */
export function loadScore (load: Load | undefined, now: number): number {
  if (load === undefined) return 0
  const overdue = (load.handed > 0 && now - load.firstHandedAt > STALE_AFTER_MS) ||
    (load.inflight > 0 && now - load.reportedAt > STALE_AFTER_MS)
  return (overdue ? STALE_SCORE : 0) + load.inflight + load.handed + load.elu
}

export class LeastBusyChooser implements WorkerChooser {
  readonly #supervisor: Supervisor
  readonly #loads = new Map<number, Load>()
  readonly #random: () => number

  constructor (supervisor: Supervisor, random: () => number = Math.random) {
    this.#supervisor = supervisor
    this.#random = random
    supervisor.on('load', this.#onLoad)
    supervisor.on('worker-exit', this.#onExit)
  }

  choose (_client: string, candidates: readonly WorkerProc[]): WorkerProc | undefined {
    const first = candidates[Math.floor(this.#random() * candidates.length)]
    if (candidates.length < 2 || first === undefined) return first
    // The second draw skips the first, so the two are distinct.
    const offset = 1 + Math.floor(this.#random() * (candidates.length - 1))
    const second = candidates[(candidates.indexOf(first) + offset) % candidates.length] ?? first
    const now = Date.now()
    return loadScore(this.#loads.get(second.pid), now) < loadScore(this.#loads.get(first.pid), now) ? second : first
  }

  handed (proc: WorkerProc): void {
    const load = this.#loads.get(proc.pid) ?? { inflight: 0, elu: 0, reportedAt: Date.now(), handed: 0, firstHandedAt: 0 }
    if (load.handed === 0) load.firstHandedAt = Date.now()
    load.handed++
    this.#loads.set(proc.pid, load)
  }

  dispose (): void {
    this.#supervisor.off('load', this.#onLoad)
    this.#supervisor.off('worker-exit', this.#onExit)
  }

  readonly #onLoad = (proc: WorkerProc, message: LoadMessage): void => {
    this.#loads.set(proc.pid, { inflight: message.inflight, elu: message.elu, reportedAt: Date.now(), handed: 0, firstHandedAt: 0 })
  }

  readonly #onExit = (info: { pid: number }): void => {
    this.#loads.delete(info.pid)
  }
}
