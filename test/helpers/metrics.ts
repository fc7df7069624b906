import { request } from './process.js'

/**
 * The sum of every sample of `name` in Prometheus text format whose labels include
 * `labels` (all label sets when none are given); NaN when there is no such sample.
 */
export function sampleSum (text: string, name: string, labels: Record<string, string> = {}): number {
  let total = Number.NaN
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)/.exec(line)
    if (match === null || match[1] !== name) continue
    const found = Object.fromEntries([...(match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))
    if (!Object.entries(labels).every(([k, v]) => found[k] === v)) continue
    total = (Number.isNaN(total) ? 0 : total) + Number(match[4])
  }
  return total
}

/** One scrape on a fresh connection. */
export async function scrape (port: number, path = '/metrics'): Promise<{ status: number, text: string, contentType: string }> {
  const res = await request(port, path)
  return { status: res.status, text: res.body, contentType: String(res.headers['content-type']) }
}
