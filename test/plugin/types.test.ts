import type { FastifyInstance } from 'fastify'
import t from 'tap'
import clusterPlugin, { type ClusterDecorator, type ReadinessState } from '../../lib/index.js'

/**
 * Compile-only: never called. `npx tsc -p tsconfig.json --noEmit` checks it,
 * and every `@ts-expect-error` fails the type check if the line stops being an error.
 */
export function typeChecks (app: FastifyInstance): void {
  const cluster: ClusterDecorator = app.cluster
  const workerId: number | null = cluster.workerId
  const config: Record<string, unknown> = app.cluster.config
  const state: ReadinessState = app.cluster.state
  const isWorker: boolean = app.cluster.isWorker
  const pid: number = app.cluster.pid
  const ready: number | undefined = app.cluster.instance?.ready
  void [workerId, config, state, isWorker, pid, ready]

  app.cluster.onConfigReload(async (next, prev) => {
    const a: Record<string, unknown> = next
    const b: Record<string, unknown> = prev
    void [a, b]
  })
  app.cluster.onConfigReload((next) => { void next })

  void app.register(clusterPlugin, { healthPath: '/livez', probeLogLevel: 'silent', handleSignals: false })

  // @ts-expect-error workerId is number | null, not a string
  const wrongId: string = app.cluster.workerId
  // @ts-expect-error the decorator is read-only
  app.cluster.workerId = 1
  // @ts-expect-error onConfigReload takes a function
  app.cluster.onConfigReload('reload')
  // @ts-expect-error state is a union of known states
  const wrongState: 'running' = app.cluster.state
  // @ts-expect-error plugin options are typed
  void app.register(clusterPlugin, { drainDelay: '100' })
  void [wrongId, wrongState]
}

t.test('the type checks compile (checked by tsc, nothing to run)', async (t) => {
  t.type(typeChecks, 'function')
  t.pass('see npx tsc -p tsconfig.json --noEmit')
})
