/** What every scenario of the benchmark shares: the settings, the results, and how to run a subject. */
import type { Results } from './report.js'
import { sleep } from './measure.js'
import { startSubject, type Pm2Home, type Running, type SubjectName } from './subjects.js'

export interface BenchContext {
  readonly quick: boolean
  /** Length of a load run, s. */
  readonly seconds: number
  readonly rounds: number
  /** Workers per cluster subject: the machine's CPUs. */
  readonly workers: number
  readonly pm2: Pm2Home
  readonly results: Results
  /** Subjects that run with SO_REUSEPORT where the platform can (empty elsewhere). */
  readonly reusePort: readonly SubjectName[]
  log: (line: string) => void
  /** Starts a subject on a fresh port, runs `fn`, stops it whatever happens. */
  withSubject: <T>(name: SubjectName, n: number, fn: (s: Running) => Promise<T>) => Promise<T>
}

// Below Linux's ephemeral range (32768-60999 by default): load runs with `Connection: close`
// use thousands of client ports, and one of them must not hold the port the next subject binds.
const BASE_PORT = 21700

export function createContext (settings: Omit<BenchContext, 'withSubject' | 'log'>): BenchContext {
  let portOffset = 0
  const nextPort = (): number => BASE_PORT + (portOffset++ % 200)
  return {
    ...settings,
    log (line) { process.stdout.write(`${line}\n`) },
    async withSubject (name, n, fn) {
      const subject = await startSubject(name, n, nextPort(), settings.pm2)
      try {
        return await fn(subject)
      } finally {
        await subject.stop()
        await sleep(300)
      }
    }
  }
}

/**
 * Rounds are interleaved (each round starts every subject afresh, in a rotated order), so a
 * slow stretch of a shared machine hits every subject alike instead of whichever ran then.
 */
export function rotated<T> (items: readonly T[], round: number): T[] {
  return items.map((_item, i) => items[(i + round) % items.length] as T)
}
