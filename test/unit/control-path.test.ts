import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import {
  checkControlDir,
  checkSocketPathLength,
  controlDir,
  controlDirProblem,
  defaultInstanceName,
  ensureControlDir,
  isInstanceName,
  listSocketNames,
  socketPath
} from '../../launcher/control-path.js'

const base = mkdtempSync(path.join(os.tmpdir(), 'fcl-control-path-'))
t.teardown(() => { rmSync(base, { recursive: true, force: true }) })
const uid = process.getuid?.() ?? null

t.test('instance names: 1-64 of A-Z a-z 0-9 . _ -', async (t) => {
  for (const good of ['a', 'server-3000', 'api.blue_2', 'A'.repeat(64), '-x', '.hidden']) t.ok(isInstanceName(good), good)
  for (const bad of ['', 'a b', 'a/b', '../x', 'x'.repeat(65), 'é', 'a\nb', 42, null, undefined]) t.notOk(isInstanceName(bad), JSON.stringify(bad))
})

t.test('the default name is the entry\'s base name and the port', async (t) => {
  t.equal(defaultInstanceName('/srv/api/server.ts', 3000), 'server-3000')
  t.equal(defaultInstanceName('app.mjs', 80), 'app-80')
  t.equal(defaultInstanceName('/srv/my app (v2).js', 8080), 'my_app__v2_-8080', 'characters outside the set become _')
  t.equal(defaultInstanceName('/srv/server.ts', 0, 4242), 'server-0-4242', 'port 0 adds the pid')
  const long = defaultInstanceName(`/srv/${'x'.repeat(100)}.ts`, 65535)
  t.equal(long, `${'x'.repeat(58)}-65535`, 'cut to 64 characters, the port kept')
  t.ok(isInstanceName(defaultInstanceName('/srv/ünïcode.ts', 3000)))
})

t.test('the directory: XDG_RUNTIME_DIR if set and absolute, else a per-uid folder in the temp directory', async (t) => {
  t.equal(controlDir({ XDG_RUNTIME_DIR: '/run/user/1000' }), '/run/user/1000/fastify-cluster-launch')
  const fallback = path.join(os.tmpdir(), `fastify-cluster-launch-${uid ?? os.userInfo().username}`)
  t.equal(controlDir({}), fallback)
  t.equal(controlDir({ XDG_RUNTIME_DIR: '' }), fallback, 'empty counts as unset')
  t.equal(controlDir({ XDG_RUNTIME_DIR: 'relative/dir' }), fallback, 'a relative path is invalid by the spec')
  t.equal(socketPath('/run/user/1000/fastify-cluster-launch', 'api'), '/run/user/1000/fastify-cluster-launch/api.sock')
})

t.test('controlDirProblem: a directory of this uid, closed to group and others', async (t) => {
  const dir = (mode: number, owner = 1000, isDir = true) => ({ isDirectory: () => isDir, uid: owner, mode: 0o40000 | mode })
  t.equal(controlDirProblem(dir(0o700), 1000), null)
  t.match(controlDirProblem(dir(0o755), 1000), /open to other users \(mode 0755; it must be 0700\)/)
  t.match(controlDirProblem(dir(0o710), 1000), /mode 0710/)
  t.match(controlDirProblem(dir(0o700, 0), 1000), /owned by uid 0, not by this user \(uid 1000\)/)
  t.match(controlDirProblem(dir(0o700, 1000, false), 1000), /not a directory/)
  t.equal(controlDirProblem(dir(0o700, 0), null), null, 'no uid to compare (no getuid on this platform)')
})

t.test('ensureControlDir creates the directory 0700 and accepts it again', async (t) => {
  const dir = path.join(base, 'new', 'fastify-cluster-launch')
  const umask = process.umask(0o022)
  t.teardown(() => { process.umask(umask) })
  ensureControlDir(dir)
  t.equal(statSync(dir).mode & 0o777, 0o700)
  t.doesNotThrow(() => { ensureControlDir(dir) }, 'an existing private directory is fine')
})

t.test('an existing directory open to others, or a symlink, is refused with a coded error', async (t) => {
  const open = path.join(base, 'open')
  mkdirSync(open, { mode: 0o755 })
  chmodSync(open, 0o755)
  t.throws(() => { ensureControlDir(open) }, { code: 'FCL_ERR_CONTROL_DIR_UNSAFE', message: /open to other users \(mode 0755/, hint: /chmod 700/ })
  t.equal(statSync(open).mode & 0o777, 0o755, 'never repaired behind the user\'s back')
  const target = path.join(base, 'target')
  mkdirSync(target, { mode: 0o700 })
  const link = path.join(base, 'link')
  symlinkSync(target, link)
  t.throws(() => { checkControlDir(link) }, { code: 'FCL_ERR_CONTROL_DIR_UNSAFE', message: /not a directory/ })
  const file = path.join(base, 'file')
  writeFileSync(file, '')
  t.throws(() => { ensureControlDir(file) }, { code: 'FCL_ERR_CONTROL_DIR_UNSAFE' })
})

t.test('a socket path too long for a Unix socket address is refused', async (t) => {
  t.doesNotThrow(() => { checkSocketPathLength(`/run/user/1000/fastify-cluster-launch/${'x'.repeat(60)}.sock`) })
  t.throws(() => { checkSocketPathLength(`/${'x'.repeat(200)}.sock`) }, { code: 'FCL_ERR_CONTROL_SOCKET', message: /longer than a Unix socket address can hold/, hint: /--name/ })
})

t.test('listSocketNames lists <name>.sock files with valid names, sorted', async (t) => {
  const dir = path.join(base, 'list')
  mkdirSync(dir)
  for (const file of ['b.sock', 'a.sock', 'notes.txt', 'bad name.sock', '.sock']) writeFileSync(path.join(dir, file), '')
  t.same(listSocketNames(dir), ['a', 'b'])
  t.same(listSocketNames(path.join(base, 'missing')), [], 'no directory: no instances')
})
