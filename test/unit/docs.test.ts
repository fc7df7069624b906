import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { FLAGS } from '../../launcher/args.js'
import {
  anchors, brokenLinks, codeBlocks, flagDocProblems, githubSlug, headings, isPluginEntry, links, readmeProblems,
  type DocProblem, type FlagDoc, type TargetInfo
} from '../helpers/docs.js'
import { ROOT } from '../helpers/process.js'

const DOCS = readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).sort().map((name) => `docs/${name}`)
const PAGES = ['README.md', ...DOCS]
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8')
/** Flags the parser knows outside its table: help and version, and --json for `status`. */
const EXTRA_FLAGS: readonly FlagDoc[] = [{ flag: 'help', short: 'h' }, { flag: 'version' }, { flag: 'json' }]

function lookupOnDisk (file: string): TargetInfo {
  const full = path.join(ROOT, file)
  if (!existsSync(full)) return { exists: false }
  return { exists: true, markdown: file.endsWith('.md') && statSync(full).isFile() ? readFileSync(full, 'utf8') : null }
}

/** A lookup over an in-memory set of files, for the fixtures. */
function lookupIn (files: Record<string, string>): (file: string) => TargetInfo {
  return (file) => {
    const text = files[file]
    if (text === undefined) return { exists: false }
    return { exists: true, markdown: file.endsWith('.md') ? text : null }
  }
}

const describe = (problems: DocProblem[]): string[] => problems.map((p) => `${p.file}:${p.line}: ${p.message}`)

t.test('githubSlug follows GitHub: lowercase, punctuation dropped, spaces to hyphens', async (t) => {
  t.equal(githubSlug('Status and control'), 'status-and-control')
  t.equal(githubSlug('Connection distribution (`--balance`)'), 'connection-distribution---balance')
  t.equal(githubSlug('Rolling restart (`SIGUSR2`, `reload()`)'), 'rolling-restart-sigusr2-reload')
  t.equal(githubSlug('Scaling (`SIGTTIN` / `SIGTTOU`, `scale(n)`)'), 'scaling-sigttin--sigttou-scalen')
  t.equal(githubSlug('What breaks when you cluster, and how to fix it'), 'what-breaks-when-you-cluster-and-how-to-fix-it')
  t.equal(githubSlug('snake_case and Ünïcode 2'), 'snake_case-and-ünïcode-2')
  t.equal(githubSlug('See [the docs](docs/x.md)'), 'see-the-docs')
})

t.test('repeated headings get -1, -2; headings in code blocks are not headings', async (t) => {
  const markdown = '# Notes\n\n## Notes\n\n```sh\n# Notes\n```\n\n### Notes\n\n## Notes 1\n'
  t.same([...anchors(markdown)], ['notes', 'notes-1', 'notes-2', 'notes-1-1'])
  t.same(headings(markdown).map((h) => h.level), [1, 2, 3, 2])
})

t.test('links: inline, image and reference links; none from code', async (t) => {
  const markdown = [
    'See [a](a.md) and ![chart](img/chart.svg "title").', // 1
    'Inline code `[not](a-link.md)` is not a link.', // 2
    '```md', // 3
    '[not](fenced.md)', // 4
    '```', // 5
    '[ref]: ref.md#part', // 6
    '[`code` label](b.md#x) and [external](https://example.com)' // 7
  ].join('\n')
  t.same(links(markdown), [
    { target: 'a.md', line: 1, image: false },
    { target: 'img/chart.svg', line: 1, image: true },
    { target: 'ref.md#part', line: 6, image: false },
    { target: 'b.md#x', line: 7, image: false },
    { target: 'https://example.com', line: 7, image: false }
  ])
})

t.test('a broken link, a broken image and a broken anchor are reported; good ones are not', async (t) => {
  const files = {
    'docs/page.md': '# Page\n\n## Good part\n',
    'examples/app.ts': 'export {}\n'
  }
  const markdown = [
    '# Guide',
    '[fine](page.md#good-part) [fine too](../examples/app.ts) [here](#guide) [web](https://example.com/x#y) [mail](mailto:a@b.c)',
    '[missing](gone.md)',
    '[bad anchor](page.md#bad-part)',
    '![missing image](../bench/chart.svg)',
    '[bad local anchor](#nowhere)',
    '`[in code](gone.md)`',
    '[root-relative](/docs/page.md) [outside](../../elsewhere.md)'
  ].join('\n')
  const problems = brokenLinks('docs/guide.md', markdown, lookupIn(files))
  t.same(describe(problems), [
    'docs/guide.md:3: gone.md: docs/gone.md does not exist',
    'docs/guide.md:4: page.md#bad-part: no heading in docs/page.md has the anchor #bad-part',
    'docs/guide.md:5: ../bench/chart.svg: bench/chart.svg does not exist',
    'docs/guide.md:6: #nowhere: no heading in docs/guide.md has the anchor #nowhere',
    'docs/guide.md:8: /docs/page.md: use a path relative to docs/guide.md',
    'docs/guide.md:8: ../../elsewhere.md: points outside the repository'
  ])
})

t.test('every relative link and anchor in the README and docs/ resolves', async (t) => {
  t.ok(DOCS.length >= 9, `docs/ has its pages (${DOCS.join(', ')})`)
  for (const file of PAGES) {
    t.same(describe(brokenLinks(file, read(file), lookupOnDisk)), [], `${file}: no broken link`)
  }
})

t.test('each docs page has a title and an intro, links back to the README, and is linked from it', async (t) => {
  const readme = read('README.md')
  const fromReadme = new Set(links(readme).map((link) => link.target.split('#')[0]))
  for (const file of DOCS) {
    const lines = read(file).split('\n')
    t.match(lines[0], /^# \S/, `${file} starts with a # title`)
    t.match(lines[2], /^[A-Z`]/, `${file} has an intro line under its title`)
    t.ok(links(read(file)).some((link) => link.target === '../README.md'), `${file} links back to the README`)
    t.ok(fromReadme.has(file), `the README links to ${file}`)
  }
})

t.test('every CLI flag and env variable of the parser is in docs/cli.md, and only those', async (t) => {
  t.same(describe(flagDocProblems(FLAGS, EXTRA_FLAGS, read('docs/cli.md'))), [])
})

t.test('a flag added to the parser without documentation is reported', async (t) => {
  const cli = read('docs/cli.md')
  const undocumented: FlagDoc = { flag: 'undocumented-flag', env: 'FCL_UNDOCUMENTED' }
  t.same(describe(flagDocProblems([...FLAGS, undocumented], EXTRA_FLAGS, cli)), [
    'docs/cli.md:1: --undocumented-flag is not in the options table'
  ])
  const row = '| `--undocumented-flag` | | off | Documented without its variable. |\n| `-h, --help` |'
  t.same(describe(flagDocProblems([...FLAGS, undocumented], EXTRA_FLAGS, cli.replace('| `-h, --help` |', row))).map((line) => line.replace(/:\d+:/, ':N:')), [
    'docs/cli.md:N: --undocumented-flag: its environment variable FCL_UNDOCUMENTED is not in its row'
  ])
  const withoutWorkers = FLAGS.filter((spec) => spec.flag !== 'workers')
  t.same(describe(flagDocProblems(withoutWorkers, EXTRA_FLAGS, cli)).map((line) => line.replace(/:\d+:/, ':N:')), [
    'docs/cli.md:N: -w is documented but the parser does not know it',
    'docs/cli.md:N: --workers is documented but the parser does not know it'
  ], 'a documented flag the parser dropped is reported')
  t.same(describe(flagDocProblems(FLAGS, [...EXTRA_FLAGS, { flag: 'quiet' }], cli)), ['docs/cli.md:1: --quiet is not mentioned'])
})

t.test('no section of the former README is lost', async (t) => {
  const wanted = read('test/fixtures/readme-headings.txt').split('\n').filter((line) => line.trim() !== '')
  t.ok(wanted.length > 30, 'the fixture lists the headings')
  const present = new Set(PAGES.flatMap((file) => headings(read(file)).map((h) => h.text)))
  for (const line of wanted) {
    const text = line.replace(/^#+\s+/, '')
    t.ok(present.has(text), `"${text}" is a heading in README.md or docs/`)
  }
})

t.test('the README is short and its first screen gets someone started', async (t) => {
  t.same(describe(readmeProblems(read('README.md'))), [])
})

t.test('readmeProblems reports a long README without the quick start, an entry or a table', async (t) => {
  const long = ['# Title', '', 'Text.', ...Array.from({ length: 200 }, (_, i) => `line ${i}`)].join('\n')
  t.same(describe(readmeProblems(long)), [
    'README.md:203: 203 lines, more than 150',
    'README.md:1: `npm ci && npm start` is not in the first 60 lines',
    'README.md:1: `npm ci && npm test` is not in the first 60 lines',
    'README.md:1: no code block with a default-exported Fastify plugin in the first 60 lines',
    'README.md:1: no table in the first 60 lines'
  ])
  const entry = '```ts\nconst app: FastifyPluginAsync = async function (fastify) {}\nexport default app\n```'
  const notAnEntry = '```ts\nexport default 42\n```'
  t.same(codeBlocks(`${entry}\n\n${notAnEntry}`).map(isPluginEntry), [true, false])
})
