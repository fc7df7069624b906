/**
 * Worker side of `--balance least-busy`: how busy this worker is, for the primary's choice
 * (launcher/routing/least-busy.ts). Requests in flight on the app's servers, and the event
 * loop's utilisation, sent every {@link LOAD_REPORT_MS} while there is anything to say: from
 * the first request after a quiet spell until a report has said "0 in flight". An idle worker
 * sends nothing and keeps no timer.
 *
 * A worker stuck in synchronous work cannot report: its timer does not fire. The primary
 * counts that silence against it, which is the point.
 */
import type { Server } from 'node:http'
import type net from 'node:net'
import { performance } from 'node:perf_hooks'
import { createMessage } from '../lib/protocol.js'
import type { WorkerLink } from '../lib/worker-link.js'

export const LOAD_REPORT_MS = 10

export interface LoadReporter {
  /** Counts the requests of a server the app listens with. */
  watch: (server: net.Server) => void
}

export function reportLoad (link: WorkerLink): LoadReporter {
  let inflight = 0
  let timer: NodeJS.Timeout | null = null
  let lastElu = performance.eventLoopUtilization()

  const tick = (): void => {
    const elu = performance.eventLoopUtilization(lastElu)
    lastElu = performance.eventLoopUtilization()
    link.send(createMessage({ type: 'fcl:load', inflight, elu: elu.utilization }))
    if (inflight === 0 && timer !== null) {
      clearInterval(timer)
      timer = null
    }
  }
  const arm = (): void => {
    if (timer !== null) return
    lastElu = performance.eventLoopUtilization()
    timer = setInterval(tick, LOAD_REPORT_MS)
    timer.unref()
    tick()
  }

  return {
    watch (server) {
      if (typeof (server as Partial<Server>).setTimeout !== 'function' || !('maxHeadersCount' in server)) return
      server.prependListener('request', function countInFlight (_request, response: { once: (event: 'close', fn: () => void) => void }) {
        inflight++
        if (timer === null) arm()
        response.once('close', () => { inflight-- })
      })
    }
  }
}
