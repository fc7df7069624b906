import path from 'node:path'

/**
 * Pure checks that keep the README and docs/ honest: links and anchors, the CLI
 * flags against the parser's table, the README's first screen. No file system
 * here: callers pass the text and a lookup, so fixtures can exercise each rule.
 */

export interface Heading {
  level: number
  text: string
  line: number
}

export interface MarkdownLink {
  target: string
  line: number
  image: boolean
}

export interface DocProblem {
  file: string
  line: number
  message: string
}

/** What a link target is on disk: missing, or present (with its text when it is markdown, for anchors). */
export type TargetInfo = { exists: false } | { exists: true, markdown: string | null }
export type TargetLookup = (filePath: string) => TargetInfo

/** The parts of the parser's flag table the docs are checked against. */
export interface FlagDoc {
  flag: string
  short?: string
  env?: string
}

export interface CodeBlock {
  info: string
  body: string
  line: number
}

const FENCE = /^\s*(`{3,}|~{3,})(.*)$/

/** A fence closes only with the same character, at least as long, and nothing after it. */
function closesFence (opening: string, candidate: string, rest: string): boolean {
  return candidate[0] === opening[0] && candidate.length >= opening.length && rest.trim() === ''
}

/** One entry per line: whether that line is inside a fenced code block (fence lines included). */
export function fencedLines (markdown: string): boolean[] {
  const result: boolean[] = []
  let open: string | null = null
  for (const line of markdown.split('\n')) {
    const match = FENCE.exec(line)
    if (open === null) {
      if (match?.[1] !== undefined) open = match[1]
      result.push(open !== null)
    } else {
      result.push(true)
      const fence = match?.[1]
      if (fence !== undefined && closesFence(open, fence, match?.[2] ?? '')) open = null
    }
  }
  return result
}

/**
 * The text with fenced blocks and inline code spans blanked out (same length and
 * newlines, so offsets still give line numbers). Code spans do not cross a blank
 * line, so an unmatched backtick cannot swallow the rest of the page.
 */
export function blankCode (markdown: string): string {
  const fenced = fencedLines(markdown)
  const lines = markdown.split('\n').map((line, i) => fenced[i] === true ? ' '.repeat(line.length) : line)
  const blocks = lines.join('\n').split(/(\n[ \t]*\n)/)
  return blocks.map((block) => block.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (span) => span.replace(/[^\n]/g, ' '))).join('')
}

/** ATX headings outside fenced code (the docs use no setext headings). */
export function headings (markdown: string): Heading[] {
  const fenced = fencedLines(markdown)
  const result: Heading[] = []
  markdown.split('\n').forEach((line, i) => {
    if (fenced[i] === true) return
    const match = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/.exec(line)
    const hashes = match?.[1]
    const text = match?.[2]
    if (hashes !== undefined && text !== undefined) result.push({ level: hashes.length, text, line: i + 1 })
  })
  return result
}

/**
 * GitHub's slug for one heading: the rendered text (a link's label, no code
 * backticks), lowercased, keeping letters, digits, spaces, hyphens and
 * underscores, with each space turned into a hyphen.
 */
export function githubSlug (headingText: string): string {
  const rendered = headingText.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
  return rendered.toLowerCase().replace(/[^\p{L}\p{M}\p{N} _-]/gu, '').replace(/ /g, '-')
}

/** Every anchor a page offers, with GitHub's -1, -2... for repeated slugs. */
export function anchors (markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const result = new Set<string>()
  for (const heading of headings(markdown)) {
    const base = githubSlug(heading.text)
    let slug = base
    // Same loop as github-slugger: a generated "x-1" may itself be taken by a heading named "x 1".
    while (result.has(slug)) {
      const count = (seen.get(base) ?? 0) + 1
      seen.set(base, count)
      slug = `${base}-${count}`
    }
    result.add(slug)
  }
  return result
}

/** Inline links, images and reference definitions outside code. */
export function links (markdown: string): MarkdownLink[] {
  const text = blankCode(markdown)
  const lineAt = (offset: number): number => text.slice(0, offset).split('\n').length
  const result: MarkdownLink[] = []
  // The label may hold one level of brackets; the target may be wrapped in <> and followed by a title.
  const inline = /(!?)\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*<?([^\s)>]*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g
  for (const match of text.matchAll(inline)) {
    result.push({ target: match[2] ?? '', line: lineAt(match.index), image: match[1] === '!' })
  }
  // A footnote ([^1]: text) looks like a definition but names no target.
  const definition = /^ {0,3}\[(?!\^)[^\]]+\]:[ \t]*<?([^\s>]+)>?/gm
  for (const match of text.matchAll(definition)) {
    result.push({ target: match[1] ?? '', line: lineAt(match.index), image: false })
  }
  return result.sort((a, b) => a.line - b.line)
}

/** A malformed %-escape is a broken link, not a crash of the check. */
function safeDecode (text: string): string | null {
  try {
    return decodeURIComponent(text)
  } catch {
    return null
  }
}

/** http(s), mailto and any other scheme: not ours to check offline. */
function isExternal (target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target)
}

/**
 * Every relative link of `file` must name an existing file or folder, and an
 * anchor into a markdown page must match one of its headings. Anchors into
 * other files (GitHub's #L10 line anchors) are left alone. `file` and the paths
 * given to `lookup` are POSIX paths relative to the repository root.
 */
export function brokenLinks (file: string, markdown: string, lookup: TargetLookup): DocProblem[] {
  const problems: DocProblem[] = []
  for (const link of links(markdown)) {
    if (isExternal(link.target)) continue
    if (link.target === '') {
      problems.push({ file, line: link.line, message: 'empty link target' })
      continue
    }
    const hash = link.target.indexOf('#')
    const pathPart = hash === -1 ? link.target : link.target.slice(0, hash)
    const anchor = hash === -1 ? null : link.target.slice(hash + 1)
    if (pathPart.startsWith('/')) {
      // A root-relative path works on one host only (and never inside the npm package).
      problems.push({ file, line: link.line, message: `${link.target}: use a path relative to ${file}` })
      continue
    }
    const decodedPath = safeDecode(pathPart)
    const decodedAnchor = anchor === null ? null : safeDecode(anchor)
    if (decodedPath === null || (anchor !== null && decodedAnchor === null)) {
      problems.push({ file, line: link.line, message: `${link.target}: malformed %-escape` })
      continue
    }
    const targetFile = pathPart === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), decodedPath))
    if (targetFile === '..' || targetFile.startsWith('../')) {
      problems.push({ file, line: link.line, message: `${link.target}: points outside the repository` })
      continue
    }
    const info: TargetInfo = pathPart === '' ? { exists: true, markdown } : lookup(targetFile)
    if (!info.exists) {
      problems.push({ file, line: link.line, message: `${link.target}: ${targetFile} does not exist` })
      continue
    }
    if (decodedAnchor !== null && info.markdown !== null && !anchors(info.markdown).has(decodedAnchor)) {
      problems.push({ file, line: link.line, message: `${link.target}: no heading in ${targetFile} has the anchor #${anchor}` })
    }
  }
  return problems
}

/** The rows of the options table: the first table whose header's first cell is "Flag". */
export function optionsTable (markdown: string): Array<{ flags: string[], envs: string[], line: number }> {
  const fenced = fencedLines(markdown)
  const lines = markdown.split('\n')
  const start = lines.findIndex((line, i) => fenced[i] !== true && /^\|\s*Flag\s*\|/.test(line))
  if (start === -1) return []
  const rows: Array<{ flags: string[], envs: string[], line: number }> = []
  for (let i = start + 2; i < lines.length; i++) {
    const line = lines[i] ?? ''
    if (!line.startsWith('|')) break
    // An escaped pipe (`<n\|auto>`) stays inside its cell.
    const cells = line.split(/(?<!\\)\|/).slice(1, -1)
    const first = cells[0] ?? ''
    rows.push({
      flags: [...first.matchAll(/(?<![\w-])(--?[a-z][a-z0-9-]*)/g)].map((m) => m[1] ?? ''),
      envs: [...(cells[1] ?? '').matchAll(/\b[A-Z][A-Z0-9_]+\b/g)].map((m) => m[0]),
      line: i + 1
    })
  }
  return rows
}

/**
 * The parser's flags against docs/cli.md, both ways: each flag of `specs` has a
 * row in the options table naming its short form and env variable, each
 * `--flag` in the table is one the parser knows (`specs` or `extra`), and each
 * `extra` flag (help, version, command-only ones) is mentioned somewhere in the page.
 */
export function flagDocProblems (specs: readonly FlagDoc[], extra: readonly FlagDoc[], cliMarkdown: string, file = 'docs/cli.md'): DocProblem[] {
  const problems: DocProblem[] = []
  const rows = optionsTable(cliMarkdown)
  if (rows.length === 0) return [{ file, line: 1, message: 'no options table (a table whose first column is "Flag")' }]
  for (const spec of specs) {
    const row = rows.find((r) => r.flags.includes(`--${spec.flag}`))
    if (row === undefined) {
      problems.push({ file, line: 1, message: `--${spec.flag} is not in the options table` })
      continue
    }
    if (spec.short !== undefined && !row.flags.includes(`-${spec.short}`)) {
      problems.push({ file, line: row.line, message: `--${spec.flag}: its short form -${spec.short} is not in its row` })
    }
    if (spec.env !== undefined && !row.envs.includes(spec.env)) {
      problems.push({ file, line: row.line, message: `--${spec.flag}: its environment variable ${spec.env} is not in its row` })
    }
  }
  const known = new Set([...specs, ...extra].flatMap((spec) => spec.short === undefined ? [`--${spec.flag}`] : [`--${spec.flag}`, `-${spec.short}`]))
  for (const row of rows) {
    for (const flag of row.flags) {
      if (!known.has(flag)) problems.push({ file, line: row.line, message: `${flag} is documented but the parser does not know it` })
    }
  }
  for (const spec of extra) {
    if (!new RegExp(`(?<![\\w-])--${spec.flag}(?![\\w-])`).test(cliMarkdown)) {
      problems.push({ file, line: 1, message: `--${spec.flag} is not mentioned` })
    }
  }
  return problems
}

/** Fenced blocks with their info string and body, for checks on what a page shows. */
export function codeBlocks (markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = []
  let open: { fence: string, info: string, body: string[], line: number } | null = null
  for (const [i, line] of markdown.split('\n').entries()) {
    const match = FENCE.exec(line)
    const fence = match?.[1]
    if (open === null) {
      if (fence !== undefined) open = { fence, info: (match?.[2] ?? '').trim(), body: [], line: i + 1 }
    } else if (fence !== undefined && closesFence(open.fence, fence, match?.[2] ?? '')) {
      blocks.push({ info: open.info, body: open.body.join('\n'), line: open.line })
      open = null
    } else {
      open.body.push(line)
    }
  }
  return blocks
}

/** A block that default-exports a Fastify plugin: what a plugin-style entry is. */
export function isPluginEntry (block: CodeBlock): boolean {
  return /^(ts|typescript|js|javascript|mjs|mts)\b/.test(block.info) &&
    /^export default\b/m.test(block.body) &&
    /FastifyPlugin(Async|Callback)|function\s*\w*\s*\(\s*fastify\b/.test(block.body)
}

/**
 * The README's first screen: short overall, and within its first `frontLines`
 * lines the two quick-start commands, a plugin-style entry and a table.
 */
export function readmeProblems (markdown: string, maxLines = 150, frontLines = 60, file = 'README.md'): DocProblem[] {
  const problems: DocProblem[] = []
  const lines = markdown.replace(/\n$/, '').split('\n')
  if (lines.length > maxLines) problems.push({ file, line: lines.length, message: `${lines.length} lines, more than ${maxLines}` })
  const front = lines.slice(0, frontLines).join('\n')
  for (const command of ['npm ci && npm start', 'npm ci && npm test']) {
    if (!front.includes(command)) problems.push({ file, line: 1, message: `\`${command}\` is not in the first ${frontLines} lines` })
  }
  if (!codeBlocks(front).some(isPluginEntry)) {
    problems.push({ file, line: 1, message: `no code block with a default-exported Fastify plugin in the first ${frontLines} lines` })
  }
  const fenced = fencedLines(front)
  const frontList = front.split('\n')
  const hasTable = frontList.some((line, i) => fenced[i] !== true && line.startsWith('|') && /^\|(\s*:?-{3,}:?\s*\|)+\s*$/.test(frontList[i + 1] ?? ''))
  if (!hasTable) problems.push({ file, line: 1, message: `no table in the first ${frontLines} lines` })
  return problems
}
