// Plugin-style entry for fastify-cluster-launch, serving the same routes.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

// Same as the other subjects: no request logging.
export const options = { logger: false }
export default require('./routes.cjs')
