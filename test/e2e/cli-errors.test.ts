import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { FIXTURES, forkedPids, freePort, spawnCli } from '../helpers/process.js'

const APP = path.join(FIXTURES, 'lifecycle-app.mjs')

function assertOneLineError (t: Test, output: string, pattern: RegExp): void {
  t.match(output, pattern)
  t.match(output, /^Error: /m, 'starts with Error:')
  t.notMatch(output, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace')
}

const usageCases: Array<[string, string[], RegExp]> = [
  ['unknown flag', ['--wrokers', '2', APP], /Unknown option '--wrokers'/],
  ['bad worker count', ['-w', 'many', APP], /--workers must be a whole number >= 1 or "auto", got "many"/],
  ['bad port', ['-p', '70000', APP], /--port must be a port from 0 to 65535/],
  ['missing entry argument', ['-w', '2'], /no entry file given/],
  ['missing entry file', ['does-not-exist.ts'], /entry file "does-not-exist.ts" does not exist/]
]

for (const [name, args, pattern] of usageCases) {
  t.test(`${name}: one clear line, exit 2, nothing forked`, async (t) => {
    const cli = spawnCli(t, args)
    const { code } = await cli.exited(10000)
    t.equal(code, 2)
    assertOneLineError(t, cli.output(), pattern)
    t.match(cli.output(), /^Hint: /m)
    t.same(forkedPids(cli), [], 'no worker was forked')
  })
}

t.test('bad value from the environment names the variable', async (t) => {
  const cli = spawnCli(t, [APP], { env: { PORT: 'eighty' } })
  t.equal((await cli.exited(10000)).code, 2)
  assertOneLineError(t, cli.output(), /PORT must be a whole number <port>, got "eighty"/)
})

t.test('invalid config JSON: exit 1, names the file, nothing forked', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'config.json')
  writeFileSync(file, '{ "value": ')
  const cli = spawnCli(t, ['-w', '1', '--config', file, APP])
  t.equal((await cli.exited(10000)).code, 1)
  assertOneLineError(t, cli.output(), /config file .*config\.json is not valid JSON/)
  t.same(forkedPids(cli), [])
})

t.test('entry that throws at import: exit 1 within 10 s, its message shown, bounded forks', async (t) => {
  const started = Date.now()
  const cli = spawnCli(t, ['-w', '2', '-p', String(await freePort()), path.join(FIXTURES, 'throws.ts')])
  const { code } = await cli.exited(10000)
  t.equal(code, 1)
  t.ok(Date.now() - started < 10000, 'gave up within 10 s')
  assertOneLineError(t, cli.output().split('\n').filter((l) => !l.startsWith('{')).join('\n'), /failed to start: database URL is missing/)
  t.ok(forkedPids(cli).length <= 2, `forked ${forkedPids(cli).length} workers, no retry loop`)
})

t.test('port in use: a clear error, exit 1', async (t) => {
  const blocker = net.createServer()
  blocker.listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  const port = (blocker.address() as net.AddressInfo).port
  const cli = spawnCli(t, ['-w', '2', '-p', String(port), '--host', '127.0.0.1', APP])
  const { code } = await cli.exited(15000)
  t.equal(code, 1)
  t.match(cli.output(), new RegExp(`^Error: port ${port} on 127\\.0\\.0\\.1 is already in use`, 'm'))
  t.match(cli.output(), /^Hint: .*--port/m)
})

t.test('--help and --version exit 0', async (t) => {
  const help = spawnCli(t, ['--help'])
  t.equal((await help.exited()).code, 0)
  t.match(help.output(), /Usage: fastify-cluster-launch/)
  const version = spawnCli(t, ['--version'])
  t.equal((await version.exited()).code, 0)
  t.match(version.output(), /^\d+\.\d+\.\d+/)
})
