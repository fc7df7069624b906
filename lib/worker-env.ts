/**
 * What the primary puts in each worker's environment (besides PORT, HOST and NODE_APP_INSTANCE).
 * A module of its own so the primary, which only writes these names, does not load the worker's
 * IPC link to know them.
 */
export const ENV = Object.freeze({
  WORKER_ID: 'FCL_WORKER_ID',
  CONFIG: 'FCL_WORKER_CONFIG',
  CONFIG_VERSION: 'FCL_WORKER_CONFIG_VERSION',
  PRETTY_LOGS: 'FCL_WORKER_PRETTY_LOGS',
  ENTRY: 'FCL_WORKER_ENTRY',
  LOG_LEVEL: 'FCL_WORKER_LOG_LEVEL',
  BALANCE: 'FCL_WORKER_BALANCE',
  METRICS: 'FCL_WORKER_METRICS',
  /** Heartbeat interval in ms; unset when the watchdog is off (`--worker-timeout 0`). */
  HEARTBEAT_MS: 'FCL_WORKER_HEARTBEAT_MS'
} as const)

/**
 * `globalThis[Symbol.for(LAST_TICK_KEY)]`: when the worker's report timer last ran (epoch ms).
 * The primary reads it from a paused worker (stack-capture.ts) to tell a stuck loop from one
 * that turns but whose heartbeats are late.
 */
export const LAST_TICK_KEY = 'fastify-cluster-launch.lastTick'
