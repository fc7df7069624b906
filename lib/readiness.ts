import { EventEmitter } from 'node:events'

/**
 * A worker's readiness only moves forward: `starting -> ready -> draining -> closed`.
 * Shutdown, rolling restart and recycling all call `advance`, so none of them can
 * bring a draining worker back into rotation by accident.
 */
export type ReadinessState = 'starting' | 'ready' | 'draining' | 'closed'

const ORDER: Readonly<Record<ReadinessState, number>> = { starting: 0, ready: 1, draining: 2, closed: 3 }

export class Readiness extends EventEmitter<{ change: [ReadinessState, ReadinessState] }> {
  #state: ReadinessState = 'starting'

  get state (): ReadinessState {
    return this.#state
  }

  /** Moves to `next` if it lies ahead; returns whether the state changed. */
  advance (next: ReadinessState): boolean {
    if (ORDER[next] <= ORDER[this.#state]) return false
    const previous = this.#state
    this.#state = next
    this.emit('change', next, previous)
    return true
  }

  get isDraining (): boolean {
    return ORDER[this.#state] >= ORDER.draining
  }
}
