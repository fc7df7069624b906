/**
 * The worker's half of run-once work (`fastify.cluster.singleton(name, handler)`).
 *
 * Under the launcher, each name is a lease the primary grants to one ready worker at a time
 * (launcher/singletons.ts). This side runs the handler when its grant arrives, aborts its
 * signal when the worker drains, and says "released" only once the handler has stopped: its
 * signal has aborted AND the promise it returned has settled. That pair is the contract, and
 * it covers both ways of writing a task:
 * - set-up style (`setInterval` plus an abort listener): the promise settles at once, and the
 *   release follows the abort right after the abort listeners have run;
 * - loop style (`while (!signal.aborted) await work()`): the release waits for the loop to end,
 *   so a tick in progress finishes before another worker may start one.
 * Standalone (no launcher) a singleton simply runs from `listen` until `close`.
 */
import type { FastifyBaseLogger } from 'fastify'
import { createMessage, isSingletonName, SINGLETON_NAME_MAX } from './protocol.js'
import type { WorkerLink } from './worker-link.js'

export type SingletonHandler = (signal: AbortSignal) => unknown

interface Run {
  readonly lease: number
  readonly controller: AbortController
  /** Settles when the handler's promise does (never rejects). */
  readonly settled: Promise<void>
  /** Settles when the run has released: aborted, then settled. */
  released: Promise<void> | null
}

interface Task {
  readonly name: string
  readonly handler: SingletonHandler
  run: Run | null
}

export class Singletons {
  readonly #link: WorkerLink
  readonly #log: () => FastifyBaseLogger
  readonly #tasks = new Map<string, Task>()
  /** Standalone: the app listens, so singletons run. */
  #standaloneStarted = false
  /** Draining or closing: nothing starts any more. */
  #stopped = false
  #standaloneLease = 0

  constructor (link: WorkerLink, log: () => FastifyBaseLogger) {
    this.#link = link
    this.#log = log
  }

  register (name: string, handler: SingletonHandler): void {
    if (!isSingletonName(name)) throw new TypeError(`fastify.cluster.singleton expects a name of 1-${SINGLETON_NAME_MAX} printable characters, got ${JSON.stringify(name)}`)
    if (typeof handler !== 'function') throw new TypeError('fastify.cluster.singleton expects a handler function')
    if (this.#tasks.has(name)) throw new Error(`singleton "${name}" is already registered in this process`)
    const task: Task = { name, handler, run: null }
    this.#tasks.set(name, task)
    if (this.#link.active) this.#link.send(createMessage({ type: 'fcl:singleton-join', name }))
    else if (this.#standaloneStarted && !this.#stopped) this.#start(task, ++this.#standaloneLease)
  }

  /** Under the launcher: this worker holds `name` now. */
  grant (name: string, lease: number): void {
    const task = this.#tasks.get(name)
    // Granted while the drain began (the messages crossed): give it straight back.
    if (task === undefined || this.#stopped) {
      this.#link.send(createMessage({ type: 'fcl:singleton-release', name, lease }))
      return
    }
    if (task.run !== null) return
    this.#start(task, lease)
  }

  /** Standalone: the server listens; every singleton runs. */
  startStandalone (): void {
    if (this.#link.active || this.#standaloneStarted || this.#stopped) return
    this.#standaloneStarted = true
    for (const task of this.#tasks.values()) this.#start(task, ++this.#standaloneLease)
  }

  /**
   * The worker drains (or the app closes): every running handler's signal aborts, and the
   * returned promise settles once each has released. Nothing starts afterwards.
   */
  stopAll (): Promise<void> {
    this.#stopped = true
    return Promise.all([...this.#tasks.values()].map((task) => this.#release(task))).then(() => {})
  }

  #start (task: Task, lease: number): void {
    const controller = new AbortController()
    const log = this.#log()
    log.info({ singleton: task.name }, `singleton "${task.name}" runs in this process`)
    const settled = (async () => { await task.handler(controller.signal) })().then(
      () => {},
      (err: unknown) => {
        // The lease stays here until the worker drains or exits: a failing task is not
        // restarted elsewhere behind the operator's back.
        if (!controller.signal.aborted) log.error({ err, singleton: task.name }, `singleton "${task.name}" failed; it runs again when its lease moves (this worker drains or exits)`)
        else log.error({ err, singleton: task.name }, `singleton "${task.name}" failed while stopping`)
      }
    )
    task.run = { lease, controller, settled, released: null }
  }

  #release (task: Task): Promise<void> {
    const run = task.run
    if (run === null) return Promise.resolve()
    if (run.released !== null) return run.released
    run.controller.abort()
    run.released = run.settled.then(() => {
      if (task.run === run) task.run = null
      this.#log().info({ singleton: task.name }, `singleton "${task.name}" stopped`)
      if (this.#link.active) this.#link.send(createMessage({ type: 'fcl:singleton-release', name: task.name, lease: run.lease }))
    })
    return run.released
  }
}
