import type { Logger } from 'pino'
import { readConfigFile } from './config-file.js'
import type { Supervisor } from './supervisor.js'

export interface ConfigReloadResult {
  ok: boolean
  /** Workers that applied the config, out of `total`. */
  applied: number
  total: number
  version: number
  error?: string
  failures: string[]
}

/** How long a worker's `onConfigReload` handlers may take before it counts as failed. */
const ACK_TIMEOUT_MS = 10000

/**
 * SIGHUP: re-read the file; a bad file changes nothing anywhere. A good one goes
 * to every worker, and is what workers started from now on get. Without a file,
 * handlers still run with the same config so apps can re-read their own sources.
 */
export async function reloadConfig (supervisor: Supervisor, file: string | null, log: Logger): Promise<ConfigReloadResult> {
  let config = supervisor.config
  if (file !== null) {
    try {
      config = await readConfigFile(file)
    } catch (err) {
      const error = (err as Error).message
      log.error({ file }, `config reload rejected: ${error}; every worker keeps the current config`)
      return { ok: false, applied: 0, total: 0, version: supervisor.configVersion, error, failures: [] }
    }
  }
  const result = await supervisor.pushConfig(config, ACK_TIMEOUT_MS)
  const version = supervisor.configVersion
  const summary = `config reloaded on ${result.ok}/${result.total} workers (version ${version})`
  if (result.failures.length === 0) log.info({ version }, summary)
  else log.warn({ version, failures: result.failures }, `${summary}; failed: ${result.failures.join('; ')}`)
  return {
    ok: result.failures.length === 0,
    applied: result.ok,
    total: result.total,
    version,
    failures: result.failures,
    ...(result.failures.length === 0 ? {} : { error: result.failures.join('; ') })
  }
}
