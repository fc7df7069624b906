/**
 * `--balance sticky`: the worker is chosen by the client's address (rendezvous hashing over the
 * ready workers), so a client keeps its worker across connections, and a restart or a scale step
 * moves only the clients of the workers that changed.
 */
import type { WorkerChooser } from './primary-listener.js'
import { pickByRendezvous } from './rendezvous.js'

export const stickyChooser: WorkerChooser = {
  choose (client, candidates) {
    const workerId = pickByRendezvous(client, candidates.map((p) => p.workerId))
    return candidates.find((p) => p.workerId === workerId)
  }
}
