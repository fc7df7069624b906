import type { Logger } from 'pino'
import type { ClusterHandle } from './launch.js'

/**
 * The prefork-server signal conventions (gunicorn, nginx, puma). Ctrl+C reaches
 * every process of the terminal's group; workers ignore it and wait for the
 * primary, so it counts as exactly one SIGINT here.
 */
export function installSignalHandlers (handle: ClusterHandle, log: Logger): () => void {
  let stopSignals = 0
  const onStop = (signal: NodeJS.Signals): void => {
    stopSignals++
    if (stopSignals === 1) {
      log.info({ signal }, `${signal}: stopping gracefully (send it again to stop at once)`)
      void handle.shutdown()
    } else {
      log.warn({ signal }, `second ${signal}: stopping at once`)
      void handle.kill()
    }
  }
  const report = (what: string) => (err: unknown): void => {
    log.error({ err }, `${what} failed: ${(err as Error).message}`)
  }
  // Scale requests queue behind each other; count from the last target asked for,
  // so two quick SIGTTOUs remove two workers, not one.
  let desired: number | null = null
  let pendingScales = 0
  const scaleBy = (delta: number): void => {
    const base = desired ?? handle.instance().total
    const target = Math.max(1, base + delta)
    if (target === base) {
      log.warn('SIGTTOU: already at 1 worker, the minimum; nothing removed')
      return
    }
    desired = target
    pendingScales++
    handle.scale(target).catch(report(delta > 0 ? 'scaling up' : 'scaling down')).finally(() => {
      if (--pendingScales === 0) desired = null
    })
  }
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ['SIGTERM', () => { onStop('SIGTERM') }],
    ['SIGINT', () => { onStop('SIGINT') }],
    ['SIGUSR2', () => { handle.reload().catch(report('rolling restart')) }],
    ['SIGHUP', () => { handle.reloadConfig().catch(report('config reload')) }],
    ['SIGTTIN', () => { scaleBy(1) }],
    ['SIGTTOU', () => { scaleBy(-1) }]
  ]
  for (const [signal, fn] of handlers) process.on(signal, fn)
  return () => {
    for (const [signal, fn] of handlers) process.off(signal, fn)
  }
}
