/**
 * What the primary needs only once its workers are ready: the rolling restart, scaling, config
 * reload, memory recycling and the heartbeat watchdog.
 *
 * A bare node:cluster script forks a few milliseconds after Node starts and then does nothing.
 * Every ES module the primary loads before its first fork is start-up time its workers wait for
 * (resolving, reading, compiling and linking cost about 1 ms a module on the 2-CPU benchmark
 * machine), and every one it loads while they start takes CPU they share. So these are imported
 * once the workers are ready (or earlier, if a roll or a scale is asked for before).
 *
 * At the end of the start, never at first use: a primary outlives deploys. After a deploy
 * replaced the package's files on disk, an `import('./roll.js')` at the first SIGUSR2 would run
 * the new roll against the old supervisor.
 */
import type { reloadConfig } from './config-reload.js'
import type { watchMemory } from './memory.js'
import type { rollingRestart } from './roll.js'
import type { scaleTo } from './scale.js'
import type { watchHeartbeats } from './watchdog.js'

export interface AfterReady {
  rollingRestart: typeof rollingRestart
  scaleTo: typeof scaleTo
  reloadConfig: typeof reloadConfig
  watchMemory: typeof watchMemory
  watchHeartbeats: typeof watchHeartbeats
}

export async function loadAfterReady (): Promise<AfterReady> {
  const [roll, scale, configReload, memory, watchdog] = await Promise.all([
    import('./roll.js'),
    import('./scale.js'),
    import('./config-reload.js'),
    import('./memory.js'),
    import('./watchdog.js')
  ])
  return {
    rollingRestart: roll.rollingRestart,
    scaleTo: scale.scaleTo,
    reloadConfig: configReload.reloadConfig,
    watchMemory: memory.watchMemory,
    watchHeartbeats: watchdog.watchHeartbeats
  }
}
