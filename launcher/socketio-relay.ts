/**
 * Socket.IO's cluster adapter (`@socket.io/cluster-adapter`) broadcasts between the Socket.IO
 * servers of a cluster's workers by sending its messages to the primary, whose
 * `setupPrimary()` passes each to the other workers. Under the launcher the app does not own
 * the primary, so the launcher does that relay itself: a message tagged `_sio_adapter` from one
 * worker goes to every other worker, as it is. Responses go to every worker too; the adapter
 * drops those it did not ask for. Nothing else of the app's IPC traffic is touched, and an app
 * without the adapter sends no such message: the relay costs a property check per foreign
 * message. Do not call the adapter's own `setupPrimary()` as well (it cannot run in our
 * primary anyway): every message would arrive twice.
 */
import cluster, { type Worker } from 'node:cluster'
import type { Supervisor } from './supervisor.js'

const SOCKET_IO_SOURCE = '_sio_adapter'

function ignoreSendError (): void {
  // A worker that is exiting misses a broadcast it could not serve anyway.
}

export function relaySocketIoAdapter (supervisor: Supervisor): () => void {
  const relay = (from: Worker, message: unknown): void => {
    if (typeof message !== 'object' || message === null || (message as { source?: unknown }).source !== SOCKET_IO_SOURCE) return
    for (const proc of supervisor.liveProcs()) {
      if (proc.worker === from || !proc.worker.isConnected()) continue
      proc.worker.send(message, undefined, {}, ignoreSendError)
    }
  }
  cluster.on('message', relay)
  return () => { cluster.off('message', relay) }
}
