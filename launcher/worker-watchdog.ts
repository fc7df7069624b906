/**
 * Worker side of `--worker-timeout`: starts the watchdog thread (watchdog-thread.ts) that
 * answers the primary's "where is your main thread?" on the watchdog pipe, and keeps it told
 * when the main loop last turned. Started before the entry is imported, so a start that hangs
 * can be named too. Not started at all with `--worker-timeout 0`.
 */
import { Worker } from 'node:worker_threads'
import { WATCHDOG_FD } from '../lib/protocol.js'
import type { WorkerLink } from '../lib/worker-link.js'
import { STACK_PAUSE_WAIT_MS } from './watchdog-timing.js'

function withoutNodeOptions (env: NodeJS.ProcessEnv): Record<string, string> {
  const copy: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) if (key !== 'NODE_OPTIONS' && value !== undefined) copy[key] = value
  return copy
}

export function startWatchdogThread (link: WorkerLink, onError: (err: Error) => void): void {
  const lastTick = new BigInt64Array(new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT))
  const tick = (): void => { Atomics.store(lastTick, 0, BigInt(Date.now())) }
  tick()
  link.onHeartbeat(tick)
  const thread = new Worker(new URL('./watchdog-thread.cjs', import.meta.url), {
    workerData: { fd: WATCHDOG_FD, lastTick, pauseWaitMs: STACK_PAUSE_WAIT_MS },
    // Not the worker's own flags, nor NODE_OPTIONS: an `--import tsx` (or an APM agent's) would
    // load into the thread too, for several MB more.
    execArgv: [],
    env: withoutNodeOptions(process.env),
    // Its heap holds a few frames and, during a capture, the table of loaded scripts.
    resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4, stackSizeMb: 1 }
  })
  // Never what keeps a worker alive: a drained worker exits with it running.
  thread.unref()
  thread.on('error', onError)
}
