import { ERROR_CODES, FclOptionsError } from '../lib/errors.js'
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

/** Where tsx is, as this package sees it: the app's own install when it is hoisted next to ours. */
function resolveTsx (): string {
  return import.meta.resolve('tsx')
}

/**
 * `.js`/`.mjs` entries get nothing extra. TypeScript entries run on Node's own type
 * stripping where Node has it, else on tsx, an optional peer dependency: on Node >= 22.18
 * nobody needs it, so an install pulls no esbuild. Without tsx where it is needed, this is a
 * usage error that says what to install, before anything starts.
 */
export function chooseTsLoader (entry: string, loader: TsLoader, stripsTypes = nodeStripsTypes(), findTsx: () => string = resolveTsx): LoaderChoice {
  if (!isTypeScriptEntry(entry)) return { execArgv: [], description: 'JavaScript entry, no loader' }
  if (loader === 'native' || (loader === 'auto' && stripsTypes)) {
    return { execArgv: [], description: 'TypeScript entry, Node\'s own type stripping' }
  }
  let tsx: string
  try {
    tsx = findTsx()
  } catch {
    const why = loader === 'tsx'
      ? '--ts-loader tsx needs the tsx package, which is not installed'
      : `a TypeScript entry on Node.js ${process.version} needs the tsx package (this Node cannot strip types itself), which is not installed`
    throw new FclOptionsError(ERROR_CODES.LAUNCH_OPTIONS, why, {
      hint: loader === 'tsx'
        ? 'npm install --save-dev tsx'
        : 'npm install --save-dev tsx, or run on Node.js >= 22.18, which strips types itself, or start the compiled .js'
    })
  }
  return { execArgv: [`--import=${tsx}`], description: 'TypeScript entry, tsx loader' }
}
