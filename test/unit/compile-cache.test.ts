import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { compileCacheEnv, compileCacheSupported } from '../../launcher/compile-cache.js'

t.test('workers get Node\'s default compile cache folder where Node has the cache', async (t) => {
  t.same(compileCacheEnv({}, true), { NODE_COMPILE_CACHE: path.join(os.tmpdir(), 'node-compile-cache') })
  t.same(compileCacheEnv({}, false), {}, 'Node 20: nothing')
})

t.test('Node\'s own switches win', async (t) => {
  t.same(compileCacheEnv({ NODE_COMPILE_CACHE: '/var/cache/app' }, true), {}, 'a folder of the user\'s is inherited as it is')
  t.same(compileCacheEnv({ NODE_DISABLE_COMPILE_CACHE: '1' }, true), {}, 'turned off')
  t.same(compileCacheEnv({ NODE_COMPILE_CACHE: '' }, true), { NODE_COMPILE_CACHE: path.join(os.tmpdir(), 'node-compile-cache') }, 'empty counts as unset')
})

t.test('support follows module.enableCompileCache (Node >= 22.1)', async (t) => {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
  t.equal(compileCacheSupported(), major > 22 || (major === 22 && minor >= 1))
})
