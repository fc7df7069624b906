import { isTypeScriptEntry, type TsLoader } from './options.js'

export interface LoaderChoice {
  /** Extra `execArgv` for workers. */
  execArgv: string[]
  /** Why, for the start-up log line. */
  description: string
}

/** Node >= 22.18 / 23.6 strips types by itself; `process.features.typescript` says so. */
export function nodeStripsTypes (): boolean {
  const features = process.features as { typescript?: unknown }
  return typeof features.typescript === 'string' && features.typescript !== ''
}

/**
 * `.js`/`.mjs` entries get nothing extra. TypeScript entries get tsx (resolved
 * from this package, so the app need not install it) unless Node strips types
 * itself; `native` insists on Node's own.
 */
export function chooseTsLoader (entry: string, loader: TsLoader, stripsTypes = nodeStripsTypes()): LoaderChoice {
  if (!isTypeScriptEntry(entry)) return { execArgv: [], description: 'JavaScript entry, no loader' }
  if (loader === 'native' || (loader === 'auto' && stripsTypes)) {
    return { execArgv: [], description: 'TypeScript entry, Node\'s own type stripping' }
  }
  return { execArgv: [`--import=${import.meta.resolve('tsx')}`], description: 'TypeScript entry, tsx loader' }
}
