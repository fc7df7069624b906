/**
 * The bin's body (cli.ts only turns the compile cache on first): argv in, exit code out.
 * The only module that calls `process.exit`;
 * everything below returns or throws coded errors.
 * Exit codes: 0 clean stop (or a command done), 1 runtime failure (or a command
 * failed), 2 usage error.
 */
import { FclOptionsError, isFclError } from '../lib/errors.js'
import { parseCliArgs, usage } from './args.js'
import { launch } from './launch.js'
import { installSignalHandlers } from './signals.js'

// See docs/architecture.md, "Built-in modules": not an ES import, whose namespace loads all of node:fs.
const { readFileSync } = process.getBuiltinModule('node:fs')

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/** User mistakes get one line and a hint; anything else is a bug and keeps its stack. */
function printError (err: unknown): void {
  if (isFclError(err)) {
    process.stderr.write(`Error: ${err.message}\n`)
    const hint = (err as { hint?: unknown }).hint
    if (typeof hint === 'string') process.stderr.write(`Hint: ${hint}\n`)
    return
  }
  process.stderr.write(`Error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
}

async function main (): Promise<number> {
  let command
  try {
    command = parseCliArgs(process.argv.slice(2), process.env)
  } catch (err) {
    printError(err)
    return 2
  }
  if (command.kind === 'help') {
    process.stdout.write(`${usage()}\n`)
    return 0
  }
  if (command.kind === 'version') {
    process.stdout.write(`${version()}\n`)
    return 0
  }
  if (command.kind === 'control') {
    try {
      // Loaded only for a command: the primary never needs the table code.
      const { runControlCommand } = await import('./control-command.js')
      const output = await runControlCommand(command, process.env)
      // A status of many workers may be more than a pipe takes at once; exit only once it is written.
      await new Promise<void>((resolve) => { process.stdout.write(output, () => { resolve() }) })
      return 0
    } catch (err) {
      printError(err)
      return 1
    }
  }
  let handle
  try {
    handle = launch(command.options)
  } catch (err) {
    printError(err)
    return err instanceof FclOptionsError ? 2 : 1
  }
  installSignalHandlers(handle, handle.log)
  // Resolves only after the control socket has sent `stop` clients their final line and closed.
  const result = await handle.stopped
  if (result.error !== undefined && result.reason !== 'shutdown') printError(result.error)
  return result.code
}

export function runCli (): void {
  main().then((code) => { process.exit(code) }, (err: unknown) => {
    printError(err)
    process.exit(1)
  })
}
