/**
 * The HAProxy PROXY protocol, versions 1 (text) and 2 (binary), as a pure parser.
 *
 * In `--balance sticky` mode the primary owns the listening socket: it reads the first
 * bytes of each connection, learns the real client address from the PROXY header to
 * route by it, and hands the connection to a worker. So the parser works on whatever
 * has arrived so far and answers as early as it can: `incomplete` while the bytes are
 * still a valid prefix of a header, `invalid` at the first byte that no header can
 * contain (a plain `GET /` is refused at its first byte, not after a timeout), and
 * `done` with the header's length, so that the bytes after it (an HTTP request, a TLS
 * ClientHello) go to the worker untouched.
 */
import { isIPv4, isIPv6, SocketAddress } from 'node:net'

export interface ProxyAddress { address: string, port: number }

export interface ProxyHeader {
  version: 1 | 2
  /** LOCAL (v2 health checks from the proxy itself) or PROXY; v1 UNKNOWN counts as local. */
  command: 'proxy' | 'local'
  family: 'tcp4' | 'tcp6' | 'unix' | 'unspec'
  /**
   * The client as the proxy saw it; null when the header carries no usable address
   * (LOCAL, v1 UNKNOWN, v2 UNSPEC): use the connection's own peer address then.
   * IPv6 addresses are written as Node writes a socket's remoteAddress; UNIX ones are
   * the socket path (an abstract name as `@name`) with port 0.
   */
  source: ProxyAddress | null
  destination: ProxyAddress | null
}

export type ProxyParse =
  | { status: 'incomplete' }
  | { status: 'invalid', reason: string }
  | { status: 'done', header: ProxyHeader, length: number }

/** The spec's worst case, CRLF included: `PROXY UNKNOWN` with two full IPv6 addresses and ports. */
export const PROXY_V1_MAX_BYTES = 107
/**
 * The 16-byte fixed part, the largest address block (216 bytes, UNIX) and 1816 bytes of
 * TLVs. Every TLV the spec registers, at the sizes proxies send (AUTHORITY up to a
 * 255-byte host name, UNIQUE_ID up to 128, ALPN, the SSL block with its version, CN,
 * cipher and algorithm names, NETNS, CRC32C, cloud endpoint ids) adds up to well under
 * 1 KB, so this leaves room for custom TLVs, while a sender that announces more (up to
 * 64 KB) is refused at once rather than making the primary buffer it.
 */
export const PROXY_V2_MAX_BYTES = 2048
/** The most bytes the primary may have to read before it can decide. */
export const PROXY_HEADER_MAX_BYTES = Math.max(PROXY_V1_MAX_BYTES, PROXY_V2_MAX_BYTES)

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const V2_FIXED_BYTES = 16
/** The longest v1 line without its CRLF. */
const V1_MAX_TEXT = PROXY_V1_MAX_BYTES - 2
const V1_FIELDS = ['signature', 'protocol', 'source address', 'destination address', 'source port', 'destination port']
/** The longest textual IPv6 address: six groups and a dotted IPv4 tail. */
const IPV6_MAX_TEXT = 45

/**
 * Family and transport byte -> family, with the address block size it needs. Datagram
 * transports (0x12 UDP/IPv4, 0x22 UDP/IPv6, 0x32 UNIX datagram) are refused: this is a
 * TCP listener, so such a header means a misconfigured proxy, and falling back to the
 * proxy's own address would quietly send all of those clients to one worker.
 */
const V2_FAMILIES = new Map<number, { family: ProxyHeader['family'], bytes: number }>([
  [0x00, { family: 'unspec', bytes: 0 }],
  [0x11, { family: 'tcp4', bytes: 12 }],
  [0x21, { family: 'tcp6', bytes: 36 }],
  [0x31, { family: 'unix', bytes: 216 }]
])

const INCOMPLETE: ProxyParse = Object.freeze({ status: 'incomplete' })

function invalid (reason: string): ProxyParse {
  return { status: 'invalid', reason }
}

export function parseProxyHeader (data: Buffer): ProxyParse {
  const first = data[0]
  if (first === undefined) return INCOMPLETE
  // The two versions differ from the first byte: 'P' or CR.
  if (first === 0x50) return parseV1(data)
  if (first === 0x0d) return parseV2(data)
  return invalid('not a PROXY protocol header')
}

/** `::ffff:a.b.c.d` -> `a.b.c.d`, so a client hashes the same over IPv4 and a dual-stack socket. */
export function normalizeClientAddress (address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1]
  return mapped !== undefined && isIPv4(mapped) ? mapped : address
}

function parseV1 (data: Buffer): ProxyParse {
  const window = data.subarray(0, PROXY_V1_MAX_BYTES)
  const lineEnd = window.findIndex((byte) => byte === 0x0d || byte === 0x0a)
  const text = window.subarray(0, lineEnd === -1 ? window.length : lineEnd).toString('latin1')
  if (text.length > V1_MAX_TEXT) return invalid(`v1: no CRLF within ${PROXY_V1_MAX_BYTES} bytes`)
  if (lineEnd === -1) {
    const problem = checkV1Line(text, false)
    return problem === null ? INCOMPLETE : invalid(problem)
  }
  // The spec forbids ending the line with a lone CR or LF.
  if (window[lineEnd] === 0x0a) return invalid('v1: line feed without a carriage return')
  const problem = checkV1Line(text, true)
  if (problem !== null) return invalid(problem)
  const next = window[lineEnd + 1]
  if (next === undefined) return INCOMPLETE
  if (next !== 0x0a) return invalid('v1: carriage return without a line feed')
  return { status: 'done', header: v1Header(text), length: lineEnd + 2 }
}

/**
 * Null when `text` is a whole valid line (`complete`) or could still grow into one,
 * else why not. Fields are separated by exactly one space, so an empty field is an error.
 */
function checkV1Line (text: string, complete: boolean): string | null {
  const fields = text.split(' ')
  if (fields[0] === 'PROXY' && fields[1] === 'UNKNOWN' && (complete || fields.length > 2)) return null // the rest is ignored
  if (complete && fields.length !== 6) return 'v1: a line needs 6 fields'
  if (fields.length > 6) return 'v1: too many fields'
  const protocol = fields[1]
  for (const [index, field] of fields.entries()) {
    const whole = complete || index < fields.length - 1
    if (!v1FieldOk(index, field, whole, protocol)) return `v1: bad ${V1_FIELDS[index] ?? 'field'} ${JSON.stringify(field)}`
  }
  return null
}

function v1FieldOk (index: number, field: string, whole: boolean, protocol: string | undefined): boolean {
  if (index === 0) return whole ? field === 'PROXY' : 'PROXY'.startsWith(field)
  if (index === 1) return ['TCP4', 'TCP6', 'UNKNOWN'].some((name) => whole ? field === name : name.startsWith(field))
  if (index <= 3) {
    if (protocol === 'TCP4') return whole ? isIPv4(field) : couldBeIPv4(field)
    return whole ? isIPv6(field) && couldBeIPv6(field) : couldBeIPv6(field)
  }
  return (!whole && field === '') || isPort(field)
}

function v1Header (text: string): ProxyHeader {
  const [, protocol, sourceAddress, destinationAddress, sourcePort, destinationPort] = text.split(' ')
  if (protocol === 'UNKNOWN' || sourceAddress === undefined || destinationAddress === undefined) {
    return { version: 1, command: 'local', family: 'unspec', source: null, destination: null }
  }
  const tcp4 = protocol === 'TCP4'
  return {
    version: 1,
    command: 'proxy',
    family: tcp4 ? 'tcp4' : 'tcp6',
    source: { address: tcp4 ? sourceAddress : canonicalIPv6(sourceAddress), port: Number(sourcePort) },
    destination: { address: tcp4 ? destinationAddress : canonicalIPv6(destinationAddress), port: Number(destinationPort) }
  }
}

/** Decimal 0-65535. Leading zeros are refused, as the spec says (they could be read as octal). */
function isPort (text: string): boolean {
  return /^(?:0|[1-9]\d{0,4})$/.test(text) && Number(text) <= 65535
}

function isOctet (text: string): boolean {
  return /^(?:0|[1-9]\d{0,2})$/.test(text) && Number(text) <= 255
}

/** Whether `text` is the start of a dotted quad (every prefix of one is). */
function couldBeIPv4 (text: string): boolean {
  const parts = text.split('.')
  return parts.length <= 4 && parts.every((part, index) => isOctet(part) || (part === '' && index === parts.length - 1))
}

/**
 * Whether `text` is the start of an IPv6 address, checked on its shape (hex groups of up
 * to 4 digits, one `::` at most, room left for the groups, an optional dotted tail);
 * isIPv6 has the last word once the field is whole. A zone (`%eth0`) never is.
 */
function couldBeIPv6 (text: string): boolean {
  if (text.length > IPV6_MAX_TEXT || !/^[\d:.a-f]*$/i.test(text) || text.includes(':::')) return false
  if (text.split('::').length > 2 || (text.startsWith(':') && text !== ':' && !text.startsWith('::'))) return false
  const segments = text.split(':')
  const tail = segments.at(-1) ?? ''
  const dotted = tail.includes('.')
  const groups = segments.slice(0, dotted ? -1 : segments.length).filter((segment) => segment !== '')
  if (!groups.every((group) => /^[\da-f]{1,4}$/i.test(group))) return false
  // A single trailing colon promises one more group.
  const count = groups.length + (text.endsWith(':') && !text.endsWith('::') ? 1 : 0)
  if (!text.includes('::')) return dotted ? count === 6 && couldBeIPv4(tail) : count <= 8
  return count <= (dotted ? 5 : 7) && (!dotted || couldBeIPv4(tail))
}

function parseV2 (data: Buffer): ProxyParse {
  const seen = Math.min(data.length, V2_SIGNATURE.length)
  if (!data.subarray(0, seen).equals(V2_SIGNATURE.subarray(0, seen))) return invalid('not a PROXY protocol header')
  const versionCommand = data[12]
  if (versionCommand === undefined) return INCOMPLETE
  if (versionCommand >> 4 !== 2) return invalid(`v2: version ${versionCommand >> 4} in a v2 signature`)
  const command = versionCommand & 0x0f
  if (command > 1) return invalid(`v2: unknown command ${command}`)
  const familyByte = data[13]
  if (familyByte === undefined) return INCOMPLETE
  // LOCAL: the spec says to ignore the family and the address block.
  const family = command === 0 ? V2_FAMILIES.get(0x00) : V2_FAMILIES.get(familyByte)
  if (family === undefined) return invalid(`v2: family and transport 0x${familyByte.toString(16).padStart(2, '0')} is not TCP, UNIX stream or UNSPEC`)
  if (data.length < V2_FIXED_BYTES) return INCOMPLETE
  const length = V2_FIXED_BYTES + data.readUInt16BE(14)
  if (length > PROXY_V2_MAX_BYTES) return invalid(`v2: a ${length}-byte header is over the ${PROXY_V2_MAX_BYTES}-byte limit`)
  if (length - V2_FIXED_BYTES < family.bytes) return invalid(`v2: ${length - V2_FIXED_BYTES} address bytes, ${family.family} needs ${family.bytes}`)
  if (data.length < length) return INCOMPLETE
  // Whatever follows the address block up to `length` is TLVs: skipped, not parsed.
  const block = data.subarray(V2_FIXED_BYTES, length)
  const header: ProxyHeader = { version: 2, command: command === 0 ? 'local' : 'proxy', family: family.family, source: null, destination: null }
  if (family.family === 'tcp4') {
    header.source = { address: block.subarray(0, 4).join('.'), port: block.readUInt16BE(8) }
    header.destination = { address: block.subarray(4, 8).join('.'), port: block.readUInt16BE(10) }
  } else if (family.family === 'tcp6') {
    header.source = { address: ipv6FromBytes(block.subarray(0, 16)), port: block.readUInt16BE(32) }
    header.destination = { address: ipv6FromBytes(block.subarray(16, 32)), port: block.readUInt16BE(34) }
  } else if (family.family === 'unix') {
    header.source = { address: formatUnixPath(block.subarray(0, 108)), port: 0 }
    header.destination = { address: formatUnixPath(block.subarray(108, 216)), port: 0 }
  }
  return { status: 'done', header, length }
}

/**
 * An IPv6 address as Node writes a socket's (lower case, the longest run of zero groups
 * as `::`, a dotted tail for IPv4-mapped ones): SocketAddress runs the same inet_ntop, so
 * a client gets one key whether its address came from a v1 line, a v2 block or a socket.
 */
function canonicalIPv6 (text: string): string {
  return new SocketAddress({ address: text, family: 'ipv6' }).address
}

function ipv6FromBytes (bytes: Buffer): string {
  return canonicalIPv6(Array.from({ length: 8 }, (_, index) => bytes.readUInt16BE(index * 2).toString(16)).join(':'))
}

/** A sun_path: the bytes up to the first NUL; a Linux abstract name (leading NUL) as `@name`, like ss(8). */
function formatUnixPath (bytes: Buffer): string {
  const abstract = bytes[0] === 0 && bytes[1] !== 0
  const name = abstract ? bytes.subarray(1) : bytes
  const end = name.indexOf(0)
  const path = name.subarray(0, end === -1 ? name.length : end).toString('utf8')
  return abstract ? `@${path}` : path
}
