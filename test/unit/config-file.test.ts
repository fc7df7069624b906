import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { readConfigFile } from '../../launcher/config-file.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcl-config-'))
t.teardown(() => { fs.rmSync(dir, { recursive: true, force: true }) })

function write (name: string, text: string): string {
  const file = path.join(dir, name)
  fs.writeFileSync(file, text)
  return file
}

t.test('reads a JSON object', async (t) => {
  const file = write('good.json', '{ "feature": true, "nested": { "n": 1 } }\n')
  t.same(await readConfigFile(file), { feature: true, nested: { n: 1 } })
  t.same(await readConfigFile(write('empty.json', '{}')), {})
})

t.test('invalid JSON is FCL_ERR_CONFIG_INVALID naming the file', async (t) => {
  const file = write('broken.json', '{ "feature": tru')
  await t.rejects(readConfigFile(file), { name: 'FclError', code: 'FCL_ERR_CONFIG_INVALID', message: `config file ${file} is not valid JSON` })
})

t.test('JSON that is not an object is FCL_ERR_CONFIG_INVALID', async (t) => {
  const array = write('array.json', '[1, 2]')
  await t.rejects(readConfigFile(array), { code: 'FCL_ERR_CONFIG_INVALID', message: `config file ${array} must hold a JSON object, got an array` })
  for (const [name, text] of [['null.json', 'null'], ['number.json', '42'], ['string.json', '"a"']] as const) {
    await t.rejects(readConfigFile(write(name, text)), { code: 'FCL_ERR_CONFIG_INVALID', message: name }, name)
  }
})

t.test('a missing file is FCL_ERR_CONFIG_UNREADABLE naming the file and the reason', async (t) => {
  const file = path.join(dir, 'missing.json')
  await t.rejects(readConfigFile(file), { code: 'FCL_ERR_CONFIG_UNREADABLE', message: `cannot read config file ${file} (ENOENT)`, hint: /exists/ })
})

t.test('a directory is FCL_ERR_CONFIG_UNREADABLE', async (t) => {
  await t.rejects(readConfigFile(dir), { code: 'FCL_ERR_CONFIG_UNREADABLE', message: /EISDIR/ })
})
