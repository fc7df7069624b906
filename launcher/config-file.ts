import { readFile } from 'node:fs/promises'
import { ERROR_CODES, FclError } from '../lib/errors.js'
import type { ConfigObject } from '../lib/protocol.js'

/** Reads and checks the `--config` file; the caller decides whether a failure is fatal (boot) or logged (SIGHUP). */
export async function readConfigFile (file: string): Promise<ConfigObject> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new FclError(ERROR_CODES.CONFIG_UNREADABLE, `cannot read config file ${file} (${reason})`, {
      cause: err,
      hint: 'check that the file exists and is readable by this user'
    })
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new FclError(ERROR_CODES.CONFIG_INVALID, `config file ${file} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
      hint: 'the config file must hold one JSON object'
    })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FclError(ERROR_CODES.CONFIG_INVALID, `config file ${file} must hold a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`, {
      hint: 'wrap the settings in { ... }'
    })
  }
  return value as ConfigObject
}
