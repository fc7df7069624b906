import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { nodeStripsTypes } from '../../launcher/ts-loader.js'
import { freePort, request, ROOT, spawnNode } from '../helpers/process.js'

// npm pack and an install into an empty project: npm's cache is warm after `npm ci`, but a
// miss goes to the registry.
t.setTimeout(240000)

const run = promisify(execFile)

t.test('the packed package in an empty project: no tsx, no esbuild; a .ts entry runs where Node strips types, and is a clear usage error where it cannot', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcl-pack-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  // dist/ is fresh (npm test builds first): no need for `prepare` to build it again.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 })
  const [packed] = JSON.parse(stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  if (packed === undefined) throw new Error(`npm pack printed no package: ${stdout}`)
  const { filename } = packed
  const shipped = packed.files.map((f) => f.path)
  t.ok(shipped.includes('README.md') && shipped.some((f) => f.startsWith('docs/')), 'README and docs/ are shipped, to read offline')
  t.ok(shipped.includes('dist/launcher/stack-capture.js'), 'the stuck-worker stack capture is shipped')

  const project = path.join(dir, 'app')
  mkdirSync(project)
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(dir, filename)], { cwd: project, maxBuffer: 16 * 1024 * 1024 })
  const installOutput = `${install.stdout}\n${install.stderr}`
  t.comment(`npm install: ${readdirSync(path.join(project, 'node_modules')).length} top-level packages`)
  t.notOk(existsSync(path.join(project, 'node_modules/tsx')), 'tsx is not installed: it is an optional peer')
  t.notOk(existsSync(path.join(project, 'node_modules/esbuild')), 'and neither is esbuild')
  t.notMatch(installOutput, /install-scripts/, 'npm has no install script to warn about')

  writeFileSync(path.join(project, 'server.ts'), [
    "import type { FastifyPluginAsync } from 'fastify'",
    '',
    'interface Greeting { hello: string, workerId: number | null }',
    '',
    'const app: FastifyPluginAsync = async function (fastify) {',
    "  fastify.get('/', async (): Promise<Greeting> => ({ hello: 'world', workerId: fastify.cluster.workerId }))",
    '}',
    'export default app',
    ''
  ].join('\n'))
  const port = await freePort()
  const cli = spawnNode(t, [path.join(project, 'node_modules/.bin/fastify-cluster-launch'), '-w', '1', '-p', String(port), '--host', '127.0.0.1', 'server.ts'], { cwd: project })
  if (nodeStripsTypes()) {
    await cli.waitFor(/1\/1 workers ready/, 30000)
    t.same((await request(port, '/')).json(), { hello: 'world', workerId: 0 }, `a .ts entry runs on Node ${process.version} without tsx`)
    t.match(cli.output(), /TypeScript entry, Node's own type stripping/)
    cli.signal('SIGTERM')
    t.equal((await cli.exited()).code, 0)
  } else {
    const { code } = await cli.exited(15000)
    t.equal(code, 2, `Node ${process.version} cannot strip types: a usage error`)
    t.match(cli.output(), /^Error: a TypeScript entry on Node\.js v[\d.]+ needs the tsx package \(this Node cannot strip types itself\), which is not installed$/m)
    t.match(cli.output(), /^Hint: npm install --save-dev tsx/m)
    t.notMatch(cli.output(), /forked/, 'nothing was started')
  }
})
