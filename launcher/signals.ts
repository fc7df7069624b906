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
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ['SIGTERM', () => { onStop('SIGTERM') }],
    ['SIGINT', () => { onStop('SIGINT') }],
    ['SIGUSR2', () => { handle.reload().catch(report('rolling restart')) }],
    ['SIGHUP', () => { handle.reloadConfig().catch(report('config reload')) }],
    ['SIGTTIN', () => { handle.scale(handle.instance().total + 1).catch(report('scaling up')) }],
    ['SIGTTOU', () => {
      const total = handle.instance().total
      if (total <= 1) {
        log.warn('SIGTTOU: already at 1 worker, the minimum; nothing removed')
        return
      }
      handle.scale(total - 1).catch(report('scaling down'))
    }]
  ]
  for (const [signal, fn] of handlers) process.on(signal, fn)
  return () => {
    for (const [signal, fn] of handlers) process.off(signal, fn)
  }
}
