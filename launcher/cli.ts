#!/usr/bin/env node
/**
 * The bin. It turns on Node's compile cache before anything else is loaded, so the primary's
 * own modules (and pino) start from cached code on Node >= 22.1, as its workers do; then the
 * rest of the CLI is imported. A static import would be evaluated before the cache is on.
 */
import { enableOwnCompileCache } from './compile-cache.js'

enableOwnCompileCache()
const { runCli } = await import('./cli-main.js')
runCli()
