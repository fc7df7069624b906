import { clusterPlugin } from './plugin.js'

export { clusterPlugin }
export type { ClusterDecorator, ConfigReloadHandler, DrainHandler, SingletonHandler } from './plugin.js'
export type { ClusterPluginOptions, ResolvedPluginOptions, MetricsOptions, ResolvedMetricsOptions } from './options.js'
export { PLUGIN_DEFAULTS, METRICS_DEFAULTS } from './options.js'
export { FclError, FclOptionsError, ERROR_CODES, isFclError } from './errors.js'
export type { ConfigObject, InstanceView, InstanceState } from './protocol.js'
export type { ReadinessState } from './readiness.js'
export default clusterPlugin
