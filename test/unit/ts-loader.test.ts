import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { chooseTsLoader, nodeStripsTypes } from '../../launcher/ts-loader.js'

t.test('JavaScript entries get no extra execArgv, whatever the loader', async (t) => {
  for (const entry of ['app.js', 'app.mjs', 'app.cjs']) {
    for (const loader of ['auto', 'tsx', 'native'] as const) {
      t.same(chooseTsLoader(entry, loader, false).execArgv, [], `${entry} ${loader}`)
    }
  }
})

t.test('auto on a Node without type stripping: one --import of tsx', async (t) => {
  for (const entry of ['app.ts', 'app.mts', 'app.cts']) {
    const { execArgv, description } = chooseTsLoader(entry, 'auto', false)
    t.equal(execArgv.length, 1, entry)
    t.match(execArgv[0], /^--import=.*tsx/)
    t.match(description, /tsx/)
  }
})

t.test('the tsx --import points at a file that exists', async (t) => {
  const arg = chooseTsLoader('app.ts', 'tsx', false).execArgv[0] ?? ''
  const url = arg.slice('--import='.length)
  t.ok(existsSync(url.startsWith('file:') ? fileURLToPath(url) : url), url)
})

t.test('auto on a Node that strips types: nothing extra', async (t) => {
  t.same(chooseTsLoader('app.ts', 'auto', true).execArgv, [])
})

t.test('native never adds tsx', async (t) => {
  t.same(chooseTsLoader('app.ts', 'native', true).execArgv, [])
  t.same(chooseTsLoader('app.ts', 'native', false).execArgv, [])
})

t.test('tsx forces tsx even where Node strips types', async (t) => {
  const { execArgv } = chooseTsLoader('app.ts', 'tsx', true)
  t.equal(execArgv.length, 1)
  t.match(execArgv[0], /^--import=.*tsx/)
})

t.test('the default for stripsTypes is what this Node does', async (t) => {
  t.same(chooseTsLoader('app.ts', 'auto'), chooseTsLoader('app.ts', 'auto', nodeStripsTypes()))
})

t.test('tsx is an optional peer: where it is needed and missing, a usage error says what to install', async (t) => {
  const missing = (): string => { throw Object.assign(new Error('Cannot find package \'tsx\''), { code: 'ERR_MODULE_NOT_FOUND' }) }
  t.throws(() => chooseTsLoader('app.ts', 'auto', false, missing), {
    name: 'FclOptionsError',
    code: 'FCL_ERR_LAUNCH_OPTIONS',
    message: /^a TypeScript entry on Node\.js v[\d.]+ needs the tsx package \(this Node cannot strip types itself\), which is not installed$/,
    hint: /npm install --save-dev tsx.*Node\.js >= 22\.18/
  })
  t.throws(() => chooseTsLoader('app.ts', 'tsx', true, missing), { code: 'FCL_ERR_LAUNCH_OPTIONS', message: /^--ts-loader tsx needs the tsx package/, hint: 'npm install --save-dev tsx' })
  t.same(chooseTsLoader('app.ts', 'auto', true, missing).execArgv, [], 'not needed where Node strips types')
  t.same(chooseTsLoader('app.js', 'tsx', false, missing).execArgv, [], 'nor for a JavaScript entry')
})
