import path from 'node:path'
import autocannon from 'autocannon'
import t from 'tap'
import { underLoad, sleep } from '../helpers/load.js'
import { scrape, sampleSum } from '../helpers/metrics.js'
import { FIXTURES, forkedPids, freePort, request, spawnCli, waitUntil } from '../helpers/process.js'

const APP = path.join(FIXTURES, 'metrics-app.mjs')

/** Exactly `amount` requests to `/`, spread over several connections (so over both workers). */
async function sendExactly (port: number, amount: number): Promise<number> {
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 8, amount, timeout: 10 })
  return result['2xx']
}

t.test('every scrape of /metrics on the app port reports the whole cluster, whichever worker answers', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '--metrics', '-p', String(port), '--host', '127.0.0.1', APP])
  await cli.waitFor(/2\/2 workers ready/)
  const sent = await sendExactly(port, 500)
  t.equal(sent, 500, 'the load got 500 answers')
  const totals: number[] = []
  const greetings: number[] = []
  for (let i = 0; i < 20; i++) {
    const { status, text, contentType } = await scrape(port)
    t.equal(status, 200)
    if (i === 0) t.match(contentType, /^text\/plain; version=0\.0\.4/)
    totals.push(sampleSum(text, 'http_requests_total'))
    greetings.push(sampleSum(text, 'app_greetings_total'))
  }
  // Scrape k sees the 500 requests plus the k scrapes before it, as counted by both workers.
  t.same(totals, totals.map((_v, k) => 500 + k), 'the cluster-wide request total, never one worker\'s share')
  t.same(greetings, greetings.map(() => 500), 'the app\'s own counter, summed over the workers')
  const last = (await scrape(port)).text
  t.equal(sampleSum(last, 'fcl_workers', { state: 'ready' }), 2, 'the launcher\'s own metrics come along')
  t.ok(sampleSum(last, 'app_heap_used_max_bytes') > 0, 'a gauge with aggregator max')
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('counters never go down across a rolling restart and a scale-down under load', async (t) => {
  const port = await freePort()
  const metricsPort = await freePort()
  const cli = spawnCli(t, ['-w', '3', '--metrics-port', String(metricsPort), '-p', String(port), '--host', '127.0.0.1', APP])
  await cli.waitFor(/3\/3 workers ready/)
  const seen: Array<{ requests: number, greetings: number }> = []
  async function sample (): Promise<void> {
    // Alternate the app port and the primary's port: both serve the same aggregate.
    const { text } = await scrape(seen.length % 2 === 0 ? port : metricsPort)
    seen.push({ requests: sampleSum(text, 'http_requests_total', { route: '/' }), greetings: sampleSum(text, 'app_greetings_total') })
  }
  const load = await underLoad({ port, connections: 16, seconds: 30, stopWhenDone: true }, async () => {
    for (let i = 0; i < 4; i++) { await sample(); await sleep(150) }
    cli.signal('SIGUSR2')
    while (!/rolling restart done/.test(cli.output())) { await sample(); await sleep(150) }
    cli.signal('SIGTTOU')
    while (!/scaled to 2 workers/.test(cli.output()) && seen.length < 80) { await sample(); await sleep(150) }
    while (seen.length < 20) { await sample(); await sleep(150) }
  })
  t.comment(`${seen.length} scrapes; requests counted ${seen[0]?.requests} -> ${seen.at(-1)?.requests}; load ${load.total} requests, ${load.errors} errors`)
  t.ok(seen.length >= 20, `${seen.length} scrapes`)
  const drops = seen.filter((s, i) => i > 0 && (s.requests < (seen[i - 1]?.requests ?? 0) || s.greetings < (seen[i - 1]?.greetings ?? 0)))
  t.same(drops, [], 'no scrape saw a counter lower than the scrape before')
  t.equal(load.errors, 0)
  t.equal(load.non2xx, 0)
  const { text } = await scrape(metricsPort)
  t.equal(sampleSum(text, 'fcl_worker_restarts_total', { reason: 'rolling' }), 3, 'three workers replaced by the roll')
  t.equal(sampleSum(text, 'fcl_rolling_restarts_total', { result: 'done' }), 1)
  t.equal(sampleSum(text, 'fcl_workers', { state: 'ready' }), 2, 'two workers after the scale-down')
  t.ok(sampleSum(text, 'fcl_rolling_restart_last_duration_seconds') > 0)
  // Every request the load got an answer to was counted, by a live or a retired worker.
  t.ok(sampleSum(text, 'app_greetings_total') >= load.ok2xx, `greetings ${sampleSum(text, 'app_greetings_total')} >= answered ${load.ok2xx}`)
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('--metrics-port serves the same totals; a blocked worker yields the others plus a scrape error, not a hung scrape', async (t) => {
  const port = await freePort()
  const metricsPort = await freePort()
  const cli = spawnCli(t, ['-w', '2', '--metrics-port', String(metricsPort), '-p', String(port), '--host', '127.0.0.1', APP])
  await cli.waitFor(/2\/2 workers ready/)
  await sendExactly(port, 200)
  const fromPrimary = (await scrape(metricsPort)).text
  t.equal(sampleSum(fromPrimary, 'http_requests_total'), 200, 'the primary\'s listener is not an app route: 200 requests')
  t.equal(sampleSum(fromPrimary, 'app_greetings_total'), 200, 'custom counter summed')
  const fromApp = (await scrape(port)).text
  t.equal(sampleSum(fromApp, 'app_greetings_total'), 200, 'same total on the app port')
  t.equal(sampleSum(fromApp, 'fcl_metrics_scrape_errors_total'), 0)

  // One worker busy for 4 s: the scrape must not wait for it.
  const blocked = request(port, '/block?ms=4000', { timeoutMs: 15000 })
  await sleep(300)
  const started = Date.now()
  const during = await scrape(metricsPort)
  const ms = Date.now() - started
  t.equal(during.status, 200)
  t.ok(ms < 3500, `answered in ${ms} ms (collection timeout 2 s)`)
  t.equal(sampleSum(during.text, 'fcl_metrics_scrape_errors_total'), 1, 'the late worker is counted as a scrape error')
  t.ok(sampleSum(during.text, 'app_greetings_total') >= 200, 'the late worker counts with its previous figures, not as 0')
  await blocked
  t.match(cli.output(), /did not answer within 2000 ms/)
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('after kill -9 of a worker, the counters keep what was last collected from it', async (t) => {
  const port = await freePort()
  const metricsPort = await freePort()
  const cli = spawnCli(t, ['-w', '2', '--metrics-port', String(metricsPort), '-p', String(port), '--host', '127.0.0.1', APP])
  await cli.waitFor(/2\/2 workers ready/)
  await sendExactly(port, 300)
  const before = sampleSum((await scrape(metricsPort)).text, 'app_greetings_total')
  t.equal(before, 300)
  const [victim] = forkedPids(cli) as [number]
  process.kill(victim, 'SIGKILL')
  await cli.waitFor(/restarting (now|in)/)
  await waitUntil(async () => sampleSum((await scrape(metricsPort)).text, 'fcl_workers', { state: 'ready' }) === 2, 10000, 'the replacement to be ready')
  const after = (await scrape(metricsPort)).text
  t.equal(sampleSum(after, 'app_greetings_total'), 300, 'nothing lost: no request reached it after the last collection')
  t.equal(sampleSum(after, 'fcl_worker_restarts_total', { reason: 'crash' }), 1)
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('without --metrics there is no /metrics route', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', APP])
  await cli.waitFor(/1\/1 workers ready/)
  t.equal((await request(port, '/metrics')).status, 404)
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('a metrics port in use is a clear start-up error; nothing forked', async (t) => {
  const port = await freePort()
  const metricsPort = await freePort()
  const holder = spawnCli(t, ['-w', '1', '--metrics-port', String(metricsPort), '-p', String(port), '--host', '127.0.0.1', APP])
  await holder.waitFor(/1\/1 workers ready/)
  const cli = spawnCli(t, ['-w', '1', '--metrics-port', String(metricsPort), '-p', String(await freePort()), '--host', '127.0.0.1', APP])
  t.equal((await cli.exited(15000)).code, 1)
  t.match(cli.output(), new RegExp(`Error: metrics port ${metricsPort} on 127\\.0\\.0\\.1 is already in use`))
  t.equal(forkedPids(cli).length, 0)
  holder.signal('SIGTERM')
  t.equal((await holder.exited()).code, 0)
})
