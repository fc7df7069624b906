// ours.mjs as a TypeScript entry: what a .ts entry costs (Node's own type stripping on
// Node >= 22.18, tsx before).
import { createRequire } from 'node:module'
import type { FastifyPluginAsync } from 'fastify'

const require = createRequire(import.meta.url)

// Same as the other subjects: no request logging.
export const options = { logger: false }
const routes = require('./routes.cjs') as FastifyPluginAsync
export default routes
