/**
 * `--watch`, for development: a change under the entry's directory rolls the
 * workers through `reload()` (the SIGUSR2 path), so the app keeps answering and a
 * save that breaks the entry leaves the old workers serving. A change to the
 * `--config` file reloads the config (the SIGHUP path) instead, because a roll
 * would start the new workers with the config the primary already holds.
 */
import type { Dirent, FSWatcher } from 'node:fs'
import path from 'node:path'
import type { Logger } from 'pino'
import { ERROR_CODES, FclError, FclOptionsError } from '../lib/errors.js'
import type { ConfigReloadResult } from './config-reload.js'
import type { RollResult } from './roll.js'

// See docs/architecture.md, "Built-in modules": not an ES import, whose namespace loads all of node:fs.
const fs = process.getBuiltinModule('node:fs')

/** Quiet time after the last change: an editor's save, `git checkout` or a build writes several files in a burst. */
export const WATCH_DEBOUNCE_MS = 300

/** Directories whose changes never roll: dependencies, version control, build and test output. */
const IGNORED_DIRS: ReadonlySet<string> = new Set(['node_modules', '.git', '.hg', '.svn', 'dist', 'build', 'coverage', '.nyc_output'])

const IGNORED_NAMES: readonly RegExp[] = [
  /\.sw[a-px]$/, // vim swap files (.swp, .swo, ...) and its .swx probe
  /~$/, // backups (vim, emacs, nano)
  /^\.#/, // emacs lock files
  /^#.*#$/, // emacs auto-save files
  /^4913$/, // vim creates and deletes this name to test that it may write the directory
  /___jb_(tmp|old)___$/, // JetBrains "safe write"
  /^\.DS_Store$/,
  // An app logging into its own directory would otherwise roll itself forever.
  /\.log$/
]

/** Whether a path relative to the watched directory is ignored. Pure; both separators, so Windows paths work too. */
export function isIgnoredPath (relative: string): boolean {
  const parts = relative.split(/[\\/]+/).filter((part) => part !== '' && part !== '.')
  const name = parts.at(-1)
  if (name === undefined) return false
  if (parts.some((part) => IGNORED_DIRS.has(part))) return true
  return IGNORED_NAMES.some((pattern) => pattern.test(name))
}

/** A coded error for a watcher that could not start. */
export function watchError (err: unknown, dir: string): FclError {
  const code = (err as NodeJS.ErrnoException).code
  const message = err instanceof Error ? err.message : String(err)
  if (code === 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM') {
    return new FclOptionsError(ERROR_CODES.WATCH_UNSUPPORTED, `--watch needs recursive file watching, which Node.js does not have on ${process.platform}`, {
      hint: 'run without --watch and send SIGUSR2 to the primary after a change (a rolling restart)'
    })
  }
  if (code === 'ENOSPC') {
    return new FclError(ERROR_CODES.WATCH_FAILED, `cannot watch ${dir}: the limit on watched directories is reached (ENOSPC)`, {
      hint: 'raise fs.inotify.max_user_watches (sysctl), or start from a directory with fewer subdirectories'
    })
  }
  if (code === 'EMFILE') {
    return new FclError(ERROR_CODES.WATCH_FAILED, `cannot watch ${dir}: too many open files (EMFILE)`, { hint: 'raise the open-file limit (ulimit -n)' })
  }
  return new FclError(ERROR_CODES.WATCH_FAILED, `cannot watch ${dir}: ${message}`, { hint: 'run without --watch' })
}

export interface WatchBatch {
  /** Changed paths other than the config file, relative to the watched directory, sorted. */
  code: string[]
  /** The config file, as a path relative to the watched directory, when it changed. */
  config: string[]
}

export interface FileWatcher {
  /** Directories watched one by one (Linux), or null where one recursive watcher covers the tree. */
  readonly directories: number | null
  close: () => void
}

interface TreeWatcher {
  size: () => number | null
  close: () => void
}

/**
 * Linux: one watcher per directory. Node's `recursive: true` on Linux watches
 * every file one by one, node_modules included (a synchronous walk of the whole
 * tree at start), and a file replaced by rename, as editors' atomic saves do, is
 * never reported again. A directory's own watch reports every child by name,
 * whatever the save method, and an ignored directory is never entered.
 */
function watchEachDirectory (root: string, onPath: (file: string) => void, onError: (err: Error) => void): TreeWatcher {
  const watchers = new Map<string, FSWatcher>()
  const drop = (dir: string): void => {
    for (const [watched, watcher] of watchers) {
      if (watched === dir || watched.startsWith(dir + path.sep)) {
        watcher.close()
        watchers.delete(watched)
      }
    }
  }
  const add = (dir: string): void => {
    if (watchers.has(dir)) return
    let watcher: FSWatcher
    try {
      watcher = fs.watch(dir, { persistent: false }, function onDirectoryEvent (_event, name) { onEvent(dir, name) })
    } catch (err) {
      // Gone between listing and watching: its parent reports it.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return
      throw err
    }
    watcher.on('error', (err) => {
      drop(dir)
      onError(err)
    })
    watchers.set(dir, watcher)
    let entries: Dirent[] = []
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true })
    } catch {}
    for (const entry of entries) {
      // Symbolic links are not followed: a link to a parent would loop.
      if (!entry.isDirectory()) continue
      const sub = path.join(dir, entry.name)
      if (!isIgnoredPath(path.relative(root, sub))) add(sub)
    }
  }
  const onEvent = (dir: string, name: string | Buffer | null): void => {
    if (!watchers.has(dir)) return
    // A removed directory's own watch reports itself; its parent reports the same removal.
    if (!fs.existsSync(dir)) {
      drop(dir)
      return
    }
    const file = name === null ? dir : path.join(dir, name.toString())
    if (isIgnoredPath(path.relative(root, file))) return
    if (file !== dir) {
      let isDirectory = false
      try {
        isDirectory = fs.statSync(file).isDirectory()
      } catch {}
      if (!isDirectory) {
        if (watchers.has(file)) drop(file)
      } else if (!watchers.has(file)) {
        // A new directory (mkdir, git checkout, an unpacked archive): watch it and what it already holds.
        try {
          add(file)
        } catch (err) {
          onError(watchError(err, file))
        }
      }
    }
    onPath(file)
  }
  add(root)
  return {
    size: () => watchers.size,
    close: () => { drop(root) }
  }
}

/** macOS and Windows: Node's recursive watch is the system's own (FSEvents, ReadDirectoryChangesW). */
function watchRecursively (root: string, onPath: (file: string) => void, onError: (err: Error) => void): TreeWatcher {
  const watcher = fs.watch(root, { recursive: true, persistent: false }, function onTreeEvent (_event, name) {
    const file = name === null ? root : path.join(root, name.toString())
    if (!isIgnoredPath(path.relative(root, file))) onPath(file)
  })
  watcher.on('error', onError)
  return { size: () => null, close: () => { watcher.close() } }
}

/**
 * Watches `root` (and the config file, wherever it is) and reports debounced
 * batches. Throws a coded error when the watcher cannot start; later failures
 * (a new directory past the system's limit) go to `onError`. Nothing here keeps
 * the process alive.
 */
export function watchFiles (options: {
  root: string
  configFile: string | null
  onBatch: (batch: WatchBatch) => void
  onError: (err: Error) => void
  debounceMs?: number
  perDirectory?: boolean
}): FileWatcher {
  const { root, configFile, onBatch, onError } = options
  const debounceMs = options.debounceMs ?? WATCH_DEBOUNCE_MS
  const changed = new Set<string>()
  let timer: NodeJS.Timeout | null = null
  let closed = false
  const flush = (): void => {
    timer = null
    if (closed || changed.size === 0) return
    const files = [...changed].sort()
    changed.clear()
    onBatch({
      code: files.filter((file) => file !== configFile).map((file) => path.relative(root, file) || '.'),
      config: files.filter((file) => file === configFile).map((file) => path.relative(root, file))
    })
  }
  const onPath = (file: string): void => {
    if (closed) return
    changed.add(file)
    if (timer !== null) clearTimeout(timer)
    timer = setTimeout(flush, debounceMs)
    timer.unref()
  }

  let tree: TreeWatcher
  try {
    tree = (options.perDirectory ?? process.platform === 'linux')
      ? watchEachDirectory(root, onPath, onError)
      : watchRecursively(root, onPath, onError)
  } catch (err) {
    throw watchError(err, root)
  }
  // The config file gets a watch on its own directory: it may live outside the
  // entry's directory, or inside an ignored one.
  let configWatcher: FSWatcher | null = null
  if (configFile !== null) {
    try {
      configWatcher = fs.watch(path.dirname(configFile), { persistent: false }, function onConfigDirectoryEvent (_event, name) {
        if (name !== null && name.toString() === path.basename(configFile)) onPath(configFile)
      })
      configWatcher.on('error', onError)
    } catch (err) {
      // A missing directory fails the start anyway, with the config's own error.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        tree.close()
        throw watchError(err, path.dirname(configFile))
      }
    }
  }
  return {
    directories: tree.size(),
    close () {
      if (closed) return
      closed = true
      if (timer !== null) clearTimeout(timer)
      timer = null
      tree.close()
      configWatcher?.close()
    }
  }
}

/** `a, b, c and 4 more`: a burst (a branch switch) must not flood one log line. */
function listFiles (files: readonly string[]): string {
  const shown = files.slice(0, 5).join(', ')
  return files.length > 5 ? `${shown} and ${files.length - 5} more` : shown
}

export interface ChangeRunner {
  push: (batch: WatchBatch) => void
  /** Resolves when every batch pushed so far has been acted on. */
  idle: () => Promise<void>
  close: () => void
}

/**
 * Acts on batches one at a time. Batches that arrive while one runs are merged
 * and run once after it, so a change saved during a roll is never lost and a
 * burst of saves makes at most two rolls.
 */
export function createChangeRunner (log: Logger, actions: { roll: () => Promise<RollResult>, reloadConfig: () => Promise<ConfigReloadResult> }): ChangeRunner {
  let pending: WatchBatch | null = null
  let running: Promise<void> | null = null
  let closed = false

  const apply = async (batch: WatchBatch): Promise<void> => {
    if (batch.config.length > 0) {
      try {
        await actions.reloadConfig()
      } catch (err) {
        if (!closed) log.error({ err }, `config reload after a file change failed: ${(err as Error).message}`)
      }
    }
    if (batch.code.length === 0 || closed) return
    try {
      const result = await actions.roll()
      if (!result.ok && !closed) log.warn({ files: batch.code }, 'rolling restart after a file change failed; the old workers keep serving until the next change')
    } catch (err) {
      if (!closed) log.error({ err }, `rolling restart after a file change failed: ${(err as Error).message}`)
    }
  }
  const drain = async (): Promise<void> => {
    // eslint-disable-next-line no-unmodified-loop-condition -- close() sets `closed` while apply() awaits
    while (pending !== null && !closed) {
      const batch = pending
      pending = null
      await apply(batch)
    }
    running = null
  }

  return {
    push (batch) {
      if (closed) return
      const what = [batch.config.length > 0 ? 'config reload' : '', batch.code.length > 0 ? 'rolling restart' : ''].filter((s) => s !== '').join(', then ')
      if (what === '') return
      const files = [...batch.config, ...batch.code]
      log.info({ files }, `file change: ${listFiles(files)}; ${what}${running === null ? '' : ' after the current one'}`)
      pending = pending === null
        ? batch
        : { code: [...new Set([...pending.code, ...batch.code])].sort(), config: [...new Set([...pending.config, ...batch.config])] }
      running ??= drain()
    },
    idle: () => running ?? Promise.resolve(),
    close () { closed = true }
  }
}

/**
 * Starts watch mode for a cluster: watches the entry's directory and drives the
 * given actions. Returns the function that stops it (safe to call twice).
 */
export function startWatch (entry: string, configFile: string | null, log: Logger, actions: { roll: () => Promise<RollResult>, reloadConfig: () => Promise<ConfigReloadResult> }): () => void {
  const root = path.dirname(entry)
  const runner = createChangeRunner(log, actions)
  const watcher = watchFiles({
    root,
    configFile,
    onBatch: (batch) => { runner.push(batch) },
    onError: (err) => { log.warn({ err }, `watch: ${err.message}; changes there are not seen`) }
  })
  const count = watcher.directories === null ? '' : ` (${watcher.directories} director${watcher.directories === 1 ? 'y' : 'ies'})`
  log.info({ root, directories: watcher.directories },
    `watching ${root}${count} for changes; node_modules, .git, build output and editor temp files are ignored`)
  return function stopWatching () {
    runner.close()
    watcher.close()
  }
}
