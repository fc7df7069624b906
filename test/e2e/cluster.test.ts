import path from 'node:path'
import t from 'tap'
import { nodeStripsTypes } from '../../launcher/ts-loader.js'
import { compileCacheSupported } from '../../launcher/compile-cache.js'
import { FIXTURES, forkedPids, freePort, request, spawnCli, pidsServing } from '../helpers/process.js'

t.test('2 workers from a plugin-style .ts entry: distinct pids, honest probes', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'plugin-app.ts')])
  await cli.waitFor(/2\/2 workers ready/)
  const pids = await pidsServing(port)
  t.equal(pids.size, 2, 'connections are answered by 2 distinct pids')
  t.same([...pids].sort(), forkedPids(cli).sort(), 'the pids are the forked workers')

  const health = await request(port, '/health')
  t.equal(health.status, 200)
  t.ok(pids.has(health.json().pid), '/health reports the pid that served it')
  t.type(health.json().workerId, 'number')

  const ready = await request(port, '/ready')
  t.equal(ready.status, 200)
  t.match(ready.json(), { status: 'pass', state: 'ready', workers: { ready: 2, total: 2 } })

  const logs = cli.logs()
  t.ok(logs.some((l) => l.role === 'primary' && typeof l.pid === 'number'), 'primary logs carry role and pid')
  t.ok(logs.some((l) => l.workerId === 0 && typeof l.pid === 'number' && l.role === undefined), 'worker logs carry pid and workerId')

  cli.signal('SIGTERM')
  t.same(await cli.exited(), { code: 0, signal: null })
})

const STYLES: Record<string, string> = { 'self-start.ts': 'self-start-ts', 'self-start.mjs': 'self-start-mjs', 'no-plugin.mjs': 'no-plugin' }
for (const [entry, style] of Object.entries(STYLES)) {
  t.test(`${entry} runs as a cluster`, async (t) => {
    const port = await freePort()
    const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, entry)])
    await cli.waitFor(/2\/2 workers ready/)
    t.equal((await pidsServing(port)).size, 2)
    t.equal((await request(port, '/')).json().style, style)
    if (entry.endsWith('.mjs')) {
      t.notOk(cli.output().includes('tsx loader'), '.mjs entries get no TypeScript loader')
    }
    cli.signal('SIGTERM')
    t.equal((await cli.exited()).code, 0)
  })
}

t.test('WEB_CONCURRENCY=3 gives 3 workers', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'lifecycle-app.mjs')], { env: { WEB_CONCURRENCY: '3' } })
  await cli.waitFor(/3\/3 workers ready/)
  t.equal((await pidsServing(port, 30)).size, 3)
  t.match((await request(port, '/ready')).json(), { workers: { ready: 3, total: 3 } })
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('auto worker count is logged with its reason', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'no-plugin.mjs')])
  const line = await cli.waitFor(/starting \d+ workers? \(/)
  t.match(line, /host has \d+/)
  await cli.waitFor(/workers ready/)
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

const usesTsx = (execArgv: string[]): boolean => execArgv.some((a) => a.includes('tsx'))

t.test(`a .ts entry with --ts-loader auto: ${nodeStripsTypes() ? 'Node strips the types, no tsx in the workers' : 'tsx in the workers (this Node cannot strip types)'}`, async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', path.join(FIXTURES, 'plugin-app.ts')])
  await cli.waitFor(/1\/1 workers ready/)
  const { execArgv, compileCache } = (await request(port, '/exec-argv')).json() as { execArgv: string[], compileCache: string | null }
  t.equal(usesTsx(execArgv), !nodeStripsTypes(), `worker execArgv: ${JSON.stringify(execArgv)}`)
  // The test runner's environment may name a folder of its own; either way Node >= 22.1 workers have one.
  t.equal(compileCache !== null, compileCacheSupported() || process.env.NODE_COMPILE_CACHE !== undefined, `worker NODE_COMPILE_CACHE: ${String(compileCache)}`)
  t.match(cli.output(), nodeStripsTypes() ? /Node's own type stripping/ : /tsx loader/)
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('--ts-loader tsx forces the tsx loader on any Node', async (t) => {
  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', '--ts-loader', 'tsx', path.join(FIXTURES, 'plugin-app.ts')])
  await cli.waitFor(/1\/1 workers ready/)
  const { execArgv } = (await request(port, '/exec-argv')).json() as { execArgv: string[] }
  t.ok(usesTsx(execArgv), `worker execArgv: ${JSON.stringify(execArgv)}`)
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})

t.test('an enum under Node\'s type stripping: exit 1 with a hint to use --ts-loader tsx; with tsx it serves', { skip: nodeStripsTypes() ? false : 'this Node cannot strip types: tsx runs every .ts entry' }, async (t) => {
  const entry = path.join(FIXTURES, 'enum-app.ts')
  const native = spawnCli(t, ['-w', '1', '-p', String(await freePort()), '--host', '127.0.0.1', entry])
  t.equal((await native.exited(15000)).code, 1)
  const text = native.lines().filter((l) => !l.startsWith('{')).join('\n')
  t.match(text, /^Error: worker 0 \(pid \d+\) failed to start: TypeScript enum is not supported in strip-only mode$/m)
  t.match(text, /^Hint: .*--ts-loader tsx/m)
  t.notMatch(text, /^\s+at /m, 'no stack trace')

  const port = await freePort()
  const cli = spawnCli(t, ['-w', '1', '-p', String(port), '--host', '127.0.0.1', '--ts-loader', 'tsx', entry])
  await cli.waitFor(/1\/1 workers ready/)
  t.same((await request(port, '/')).json(), { color: 'green' })
  cli.signal('SIGTERM')
  t.equal((await cli.exited()).code, 0)
})
