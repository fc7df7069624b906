import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { usage } from '../../launcher/args.js'
import { PLUGIN_DEFAULTS } from '../../lib/options.js'
import { hasProgram, ROOT } from '../helpers/process.js'

const DEPLOY = path.join(ROOT, 'examples/deploy')
const read = (file: string): string => readFileSync(path.join(DEPLOY, file), 'utf8')
const RECIPES = ['haproxy.cfg', 'haproxy-sticky.cfg', 'nginx.conf', 'kubernetes.yaml', 'Dockerfile', 'fastify-cluster-launch.service']
const HELP = usage()
const ROUTES = new Set([PLUGIN_DEFAULTS.healthPath, PLUGIN_DEFAULTS.readyPath])

t.test('every flag and FCL_ variable a recipe names exists', async (t) => {
  for (const file of RECIPES) {
    const text = read(file)
    for (const flag of text.match(/--[a-z][a-z-]+/g) ?? []) {
      if (['--omit', '--force'].includes(flag)) continue // npm's own
      t.ok(HELP.includes(flag), `${file}: ${flag} is a launcher flag`)
    }
    for (const name of text.match(/\bFCL_[A-Z_]+/g) ?? []) {
      if (name.startsWith('FCL_HAPROXY_') || name.startsWith('FCL_BACKEND')) continue // the HAProxy files' own
      t.ok(HELP.includes(`[${name}]`), `${file}: ${name} is a launcher variable`)
    }
  }
})

t.test('the Kubernetes Deployment parses and probes the plugin routes', async (t) => {
  const docs = parseAllDocuments(read('kubernetes.yaml'))
  t.equal(docs.length, 1)
  t.same(docs[0]?.errors, [])
  const deployment = docs[0]?.toJS() as any
  t.equal(deployment.kind, 'Deployment')
  const spec = deployment.spec.template.spec
  const container = spec.containers[0]
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    t.ok(ROUTES.has(container[probe].httpGet.path), `${probe} uses a plugin route`)
  }
  t.equal(container.readinessProbe.httpGet.path, '/ready')
  t.equal(container.livenessProbe.httpGet.path, '/health')
  const env = Object.fromEntries(container.env.map((e: { name: string, value: string }) => [e.name, e.value]))
  const drainMs = Number(env.FCL_DRAIN_DELAY)
  const graceMs = Number(env.FCL_GRACE_TIMEOUT)
  t.ok(drainMs > 0, 'a drain delay covers endpoint propagation')
  t.ok(graceMs < spec.terminationGracePeriodSeconds * 1000, 'the grace timeout is below terminationGracePeriodSeconds')
  t.equal(container.resources.limits.cpu, container.resources.requests.cpu, 'a CPU limit the worker count follows')
})

t.test('the Dockerfile runs as non-root, installs production deps and uses the exec form', async (t) => {
  const text = read('Dockerfile')
  t.match(text, /^USER (?!root)\w+/m)
  t.match(text, /npm ci --omit=dev/)
  const cmd = /^CMD (.+)$/m.exec(text)?.[1] ?? ''
  const argv = JSON.parse(cmd) as string[]
  t.ok(Array.isArray(argv), 'exec form, so signals reach the primary')
  t.match(argv[0], /fastify-cluster-launch$/, 'the bin itself, no shell or npm in between')
})

t.test('the systemd unit stops with SIGTERM and reloads with SIGHUP', async (t) => {
  const text = read('fastify-cluster-launch.service')
  t.match(text, /^KillSignal=SIGTERM$/m)
  t.match(text, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m)
  t.match(text, /^ExecStart=.*fastify-cluster-launch/m)
})

t.test('nginx accepts its config and retries a 503 on the next instance', { skip: hasProgram('nginx') ? false : 'nginx is not installed' }, async (t) => {
  const text = read('nginx.conf')
  t.match(text, /proxy_next_upstream[^;]*http_503/)
  const out = execFileSync('nginx', ['-t', '-e', 'stderr', '-c', path.join(DEPLOY, 'nginx.conf')], { stdio: 'pipe', encoding: 'utf8' })
  t.equal(typeof out, 'string', 'nginx -t passed')
})

t.test('HAProxy accepts its config and checks GET /ready', { skip: hasProgram('haproxy') ? false : 'haproxy is not installed (.ci/run installs it)' }, async (t) => {
  t.match(read('haproxy.cfg'), /http-check send meth GET uri \/ready/)
  execFileSync('haproxy', ['-c', '-f', path.join(DEPLOY, 'haproxy.cfg')], {
    stdio: 'pipe',
    env: { ...process.env, FCL_HAPROXY_STATS: '/tmp/fcl-haproxy-check.sock', FCL_HAPROXY_BIND: '127.0.0.1:1', FCL_BACKEND_A: '127.0.0.1:2', FCL_BACKEND_B: '127.0.0.1:3' }
  })
  t.pass('haproxy -c passed')
})

t.test('HAProxy accepts the sticky recipe, which sends the PROXY protocol', { skip: hasProgram('haproxy') ? false : 'haproxy is not installed (.ci/run installs it)' }, async (t) => {
  t.match(read('haproxy-sticky.cfg'), /mode tcp/)
  t.match(read('haproxy-sticky.cfg'), /send-proxy-v2/)
  t.match(read('haproxy-sticky.cfg'), /--balance sticky --proxy-protocol/)
  execFileSync('haproxy', ['-c', '-f', path.join(DEPLOY, 'haproxy-sticky.cfg')], {
    stdio: 'pipe',
    env: { ...process.env, FCL_HAPROXY_BIND: '127.0.0.1:1', FCL_BACKEND: '127.0.0.1:2' }
  })
  t.pass('haproxy -c passed')
})
