/** Turns the results into a terminal table, JSON, a markdown report and an SVG chart. */
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { noise, type Spread } from './measure.js'
import { FIXED_RATE } from './scenarios/cpu-per-request.js'
import { FAST_RATE, SLOW_RATE, type SpikyFigures, type SpikyMode } from './scenarios/spiky.js'
import type { SubjectName } from './subjects.js'

export interface Results {
  machine: { cpus: number, model: string, node: string, platform: string, date: string, tcpMigrateReq?: boolean | null }
  settings: { quick: boolean, seconds: number, rounds: number, workers: number, only?: string[], elapsedSeconds?: number }
  /** µs of CPU of the whole process tree per request, at the same fixed rate for every subject. */
  cpuPerRequest: Partial<Record<SubjectName, { us: Spread, rps: Spread }>>
  /** Idle CPU (ms per s) and memory (MB) of the primary and the workers, once start-up has settled. */
  idle: Partial<Record<SubjectName, Record<string, Spread>>>
  throughput: Partial<Record<'hello' | 'cpu', Partial<Record<SubjectName, { rps: Spread, p50: Spread, p99: Spread }>>>>
  /** `managerUsPerConnection`: µs of CPU of the process that accepts (primary, PM2's daemon) per connection. */
  connections: Partial<Record<SubjectName, { rps: Spread, errors: number, managerUsPerConnection?: Spread }>>
  /** Keyed by subject, plus `<subject> close` for the same reload under `Connection: close` load. */
  reload: Record<string, { total: number, errors: number, non2xx: number, reloadMs: Spread }>
  crash: Partial<Record<SubjectName, Spread>>
  startup: Partial<Record<SubjectName, Record<string, Spread>>>
  /** The fast route's latency under CPU spikes, by connection mode. */
  spiky: Partial<Record<SpikyMode, Partial<Record<SubjectName, SpikyFigures>>>>
}

const OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results')

function fmt (s: Spread | undefined, digits = 0): string {
  if (s === undefined) return 'n/a'
  const r = (v: number): string => v.toFixed(digits)
  return s.min === s.max ? r(s.median) : `${r(s.median)} (${r(s.min)}-${r(s.max)})`
}

function ratio (a: Spread | undefined, b: Spread | undefined): string {
  if (a === undefined || b === undefined || b.median === 0) return 'n/a'
  return (a.median / b.median).toFixed(2)
}

function table (rows: string[][]): string {
  const widths = rows[0]?.map((_c, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`
  const [head, ...body] = rows
  if (head === undefined) return ''
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n')
}

function sections (r: Results): Array<{ title: string, rows: string[][] }> {
  const out: Array<{ title: string, rows: string[][] }> = []
  if (Object.keys(r.cpuPerRequest).length > 0) {
    const c = r.cpuPerRequest
    const rows = [['subject', 'µs of CPU per request (whole process tree)', 'noise %', 'req/s served']]
    for (const [name, v] of Object.entries(c)) rows.push([name, fmt(v?.us, 1), String(noise(v?.us ?? { median: 0, min: 0, max: 0 })), fmt(v?.rps)])
    rows.push(['ours / raw-cluster', ratio(c.ours?.us, c['raw-cluster']?.us), '', ''])
    rows.push(['ours / pm2', ratio(c.ours?.us, c.pm2?.us), '', ''])
    out.push({ title: `CPU per request at a fixed ${FIXED_RATE} req/s on the hello route (${r.settings.workers} workers, 32 keep-alive connections)`, rows })
  }
  if (Object.keys(r.idle).length > 0) {
    const rows = [['subject', 'primary CPU ms/s idle', 'worker CPU ms/s idle (busiest)', 'primary CPU ms/s under load', 'primary RSS MB', 'primary anon MB', 'worker RSS MB', 'worker anon MB']]
    for (const [name, v] of Object.entries(r.idle)) {
      rows.push([name, fmt(v?.primaryCpu, 2), fmt(v?.workerCpu, 2), fmt(v?.primaryCpuLoaded, 2), fmt(v?.primaryRss, 1), fmt(v?.primaryAnon, 1), fmt(v?.workerRss, 1), fmt(v?.workerAnon, 1)])
    }
    const i = r.idle
    const diff = (a: Spread | undefined, b: Spread | undefined): string => a === undefined || b === undefined ? 'n/a' : `${a.median - b.median >= 0 ? '+' : ''}${(a.median - b.median).toFixed(1)}`
    // raw-pino has the bare script's workers: against it only the primary's figures say something.
    const against = (a: SubjectName, b: SubjectName, workers = true): string[] => [`${a} - ${b}`, '', '',
      diff(i[a]?.primaryCpuLoaded, i[b]?.primaryCpuLoaded), diff(i[a]?.primaryRss, i[b]?.primaryRss), diff(i[a]?.primaryAnon, i[b]?.primaryAnon),
      workers ? diff(i[a]?.workerRss, i[b]?.workerRss) : '', workers ? diff(i[a]?.workerAnon, i[b]?.workerAnon) : '']
    rows.push(against('ours', 'raw-cluster'), against('ours', 'raw-pino', false), against('ours-ts', 'raw-cluster'), against('ours-lean', 'raw-cluster'))
    out.push({ title: `What an instance costs besides serving (${r.settings.workers} workers, measured once start-up has settled; raw-pino: raw-cluster whose primary logs with pino; ours-lean: --no-worker-stacks; ours-ts: the app as a .ts entry)`, rows })
  }
  for (const route of ['hello', 'cpu'] as const) {
    const t = r.throughput[route]
    if (t === undefined) continue
    const rows = [['subject', 'req/s median (min-max)', 'p50 ms', 'p99 ms', 'noise %']]
    for (const [name, v] of Object.entries(t)) rows.push([name, fmt(v?.rps), fmt(v?.p50, 1), fmt(v?.p99, 1), String(noise(v?.rps ?? { median: 0, min: 0, max: 0 }))])
    rows.push(['ours / raw-cluster', ratio(t.ours?.rps, t['raw-cluster']?.rps), '', '', ''])
    rows.push(['ours / pm2', ratio(t.ours?.rps, t.pm2?.rps), '', '', ''])
    rows.push(['raw-cluster / single', ratio(t['raw-cluster']?.rps, t.single?.rps), '', '', ''])
    rows.push(['ours / single', ratio(t.ours?.rps, t.single?.rps), '', '', ''])
    if (t['ours-sticky'] !== undefined) rows.push(['ours-sticky / ours (rr)', ratio(t['ours-sticky'].rps, t.ours?.rps), '', '', ''])
    out.push({ title: `Throughput, ${route === 'hello' ? 'hello route' : 'CPU-bound route'} (${r.settings.workers} workers, 32 keep-alive connections from 32 client addresses)`, rows })
  }
  if (Object.keys(r.connections).length > 0) {
    const c = r.connections
    const rows = [['subject', 'req/s with Connection: close', 'errors', 'µs of CPU per connection in the primary (PM2: daemon)']]
    for (const [name, v] of Object.entries(c)) rows.push([name, fmt(v?.rps), String(v?.errors ?? 0), fmt(v?.managerUsPerConnection, 1)])
    rows.push(['ours / raw-cluster', ratio(c.ours?.rps, c['raw-cluster']?.rps), '', ratio(c.ours?.managerUsPerConnection, c['raw-cluster']?.managerUsPerConnection)])
    rows.push(['ours / pm2', ratio(c.ours?.rps, c.pm2?.rps), '', ''])
    if (c['ours-sticky'] !== undefined) rows.push(['ours-sticky / ours (rr)', ratio(c['ours-sticky'].rps, c.ours?.rps), '', ratio(c['ours-sticky'].managerUsPerConnection, c.ours?.managerUsPerConnection)])
    if (c['ours-reuseport'] !== undefined) rows.push(['ours-reuseport / ours (rr)', ratio(c['ours-reuseport'].rps, c.ours?.rps), '', ''])
    const reuse = c['ours-reuseport'] === undefined ? '' : '; ours-reuseport: the kernel spreads them (SO_REUSEPORT)'
    out.push({ title: `New-connection rate from 32 client addresses (round-robin: the primary accepts every connection; ours-sticky: the primary picks the worker by client address${reuse})`, rows })
  }
  if (Object.keys(r.reload).length > 0) {
    const rows = [['subject', 'load', 'requests', 'failed (errors)', 'non-2xx', 'reload ms']]
    for (const [key, v] of Object.entries(r.reload)) {
      const [name = key, mode] = key.split(' ')
      rows.push([name === 'pm2' ? 'pm2 reload' : `${name} (SIGUSR2)`, mode === 'close' ? 'Connection: close' : 'keep-alive', String(v.total), String(v.errors), String(v.non2xx), fmt(v.reloadMs)])
    }
    out.push({ title: 'Reload under load (32 connections, reload a quarter into the run)', rows })
  }
  if (Object.keys(r.crash).length > 0) {
    const rows = [['subject', 'kill -9 to a new pid answering, ms']]
    for (const [name, v] of Object.entries(r.crash)) rows.push([name, fmt(v)])
    rows.push(['ours / raw-cluster', ratio(r.crash.ours, r.crash['raw-cluster'])])
    rows.push(['ours-lean / raw-cluster', ratio(r.crash['ours-lean'], r.crash['raw-cluster'])])
    out.push({ title: 'Crash recovery', rows })
  }
  if (Object.keys(r.startup).length > 0) {
    const counts = Object.keys(Object.values(r.startup)[0] ?? {})
    const rows = [['subject', ...counts.map((n) => `N=${n} ms`)]]
    for (const [name, v] of Object.entries(r.startup)) rows.push([name, ...counts.map((n) => fmt(v?.[n]))])
    for (const name of ['ours', 'ours-lean', 'ours-ts'] as const) rows.push([`${name} / raw-cluster`, ...counts.map((n) => ratio(r.startup[name]?.[n], r.startup['raw-cluster']?.[n]))])
    out.push({ title: 'Start-up until N distinct pids answer (PM2 with a warm daemon; ours-lean: --no-worker-stacks; ours-ts: the app as a .ts entry)', rows })
  }
  for (const mode of ['close', 'keepalive'] as const) {
    const figures = r.spiky[mode]
    if (figures === undefined) continue
    const rows = [['subject', 'fast p50 ms', 'fast p99 ms', 'fast p99.9 ms', 'req/s, both routes', 'errors']]
    for (const [name, v] of Object.entries(figures)) rows.push([name, fmt(v?.p50, 1), fmt(v?.p99, 1), fmt(v?.p999, 1), fmt(v?.rps), String(v?.errors ?? 0)])
    rows.push(['ours-offload / ours (rr)', '', ratio(figures['ours-offload']?.p99, figures.ours?.p99), '', ratio(figures['ours-offload']?.rps, figures.ours?.rps), ''])
    const how = mode === 'close' ? 'a new connection per request' : 'keep-alive connections'
    out.push({ title: `Spiky load, ${how}: the fast route at ${FAST_RATE} req/s while ${SLOW_RATE} req/s run 100-300 ms of synchronous CPU (${r.settings.workers} workers)`, rows })
  }
  return out
}

function benchArgs (r: Results, name: string): string {
  const args = [r.settings.quick ? '--quick' : '', r.settings.only === undefined ? '' : `--only ${r.settings.only.join(',')}`, name === 'latest' ? '' : `--out ${name}`].filter((a) => a !== '')
  return args.length === 0 ? '' : ` -- ${args.join(' ')}`
}

const COLORS: Readonly<Record<string, string>> = { single: '#9e9e9e', 'raw-cluster': '#5c6bc0', 'raw-pino': '#9fa8da', pm2: '#ef6c00', ours: '#2e7d32', 'ours-lean': '#a5d6a7', 'ours-ts': '#66bb6a', 'ours-reuseport': '#81c784', 'ours-sticky': '#1b5e20', 'ours-offload': '#00695c' }

/** Two panels side by side: throughput per subject (hello and CPU), and failed requests during a reload. */
function chart (r: Results): string {
  const width = 760
  const height = 300
  const bars: string[] = []
  const panel = (x0: number, title: string, groups: Array<{ label: string, values: Array<{ name: string, value: number }> }>, unit: string): void => {
    const pw = 340
    const ph = 200
    const top = 50
    const max = Math.max(1, ...groups.flatMap((g) => g.values.map((v) => v.value)))
    bars.push(`<text x="${x0 + pw / 2}" y="24" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`)
    const gw = pw / Math.max(1, groups.length)
    groups.forEach((g, gi) => {
      const bw = (gw - 20) / Math.max(1, g.values.length)
      g.values.forEach((v, vi) => {
        const h = Math.round(v.value / max * ph)
        const x = x0 + gi * gw + 10 + vi * bw
        bars.push(`<rect x="${x.toFixed(1)}" y="${top + ph - h}" width="${(bw - 4).toFixed(1)}" height="${h}" fill="${COLORS[v.name] ?? '#333'}"><title>${v.name}: ${Math.round(v.value)} ${unit}</title></rect>`)
        bars.push(`<text x="${(x + (bw - 4) / 2).toFixed(1)}" y="${top + ph - h - 4}" text-anchor="middle" font-size="10">${Math.round(v.value)}</text>`)
      })
      bars.push(`<text x="${x0 + gi * gw + gw / 2}" y="${top + ph + 16}" text-anchor="middle" font-size="12">${g.label}</text>`)
    })
  }
  const tp = (route: 'hello' | 'cpu'): Array<{ name: string, value: number }> =>
    Object.entries(r.throughput[route] ?? {}).map(([name, v]) => ({ name, value: v?.rps.median ?? 0 }))
  panel(20, 'Throughput, req/s (median)', [{ label: 'hello', values: tp('hello') }, { label: 'CPU-bound', values: tp('cpu') }], 'req/s')
  panel(400, 'Failed requests during a reload', [{
    label: 'errors + non-2xx',
    values: Object.entries(r.reload).filter(([key]) => !key.includes(' ')).map(([name, v]) => ({ name, value: v.errors + v.non2xx }))
  }], 'requests')
  const shown = new Set([...Object.keys(r.throughput.hello ?? {}), ...Object.keys(r.reload)])
  const legend = Object.entries(COLORS).filter(([name]) => shown.has(name)).map(([name, color], i) =>
    `<rect x="${20 + i * 130}" y="${height - 22}" width="12" height="12" fill="${color}"/><text x="${36 + i * 130}" y="${height - 12}" font-size="12">${name}</text>`)
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" viewBox="0 0 ${width} ${height}">
<rect width="100%" height="100%" fill="white"/>
${[...bars, ...legend].join('\n')}
</svg>
`
}

/** `name` is the files' base name: `latest` by default, e.g. `node24` for a run on another Node line. */
export function writeReports (r: Results, name = 'latest'): { table: string, json: string, markdown: string, svg: string } {
  mkdirSync(OUT, { recursive: true })
  const parts = sections(r)
  const text = parts.map((p) => `${p.title}\n${table(p.rows)}`).join('\n\n')
  const json = path.join(OUT, `${name}.json`)
  const markdown = path.join(OUT, `${name}.md`)
  const svg = path.join(OUT, `${name}.svg`)
  writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`)
  writeFileSync(svg, chart(r))
  const m = r.machine
  writeFileSync(markdown, [
    '# Benchmark: single process, raw node:cluster, PM2 cluster mode, fastify-cluster-launch',
    '',
    `Measured ${m.date.slice(0, 10)} on ${m.cpus} CPUs (${m.model}), ${m.platform}, Node ${m.node}` +
      `${r.connections['ours-reuseport'] === undefined ? '' : `, net.ipv4.tcp_migrate_req ${m.tcpMigrateReq === true ? '1' : m.tcpMigrateReq === false ? '0' : 'absent'}`}; loopback, autocannon, ` +
      `${r.settings.seconds} s runs, ${r.settings.rounds} round(s) per figure (median, with min-max). ` +
      `"noise" is (max - min) / median across rounds. Command: \`npm run bench${benchArgs(r, name)}\`.`,
    '',
    `![throughput and reload errors](${name}.svg)`,
    '',
    ...parts.flatMap((p) => [`## ${p.title}`, '', table(p.rows), '']),
    'The load generator runs on the same machine and takes a core of its own: on few cores the hello-route figures',
    'are bound by it, and the CPU-bound route shows how the cluster scales.',
    ''
  ].join('\n'))
  return { table: text, json, markdown, svg }
}
