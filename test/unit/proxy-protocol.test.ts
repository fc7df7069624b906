import { isIPv6, SocketAddress } from 'node:net'
import t, { type Test } from 'tap'
import {
  normalizeClientAddress,
  parseProxyHeader,
  PROXY_HEADER_MAX_BYTES,
  PROXY_V1_MAX_BYTES,
  PROXY_V2_MAX_BYTES,
  type ProxyHeader,
  type ProxyParse
} from '../../launcher/routing/proxy-protocol.js'

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])
const HTTP_REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n')
/** The start of a TLS record carrying a ClientHello. */
const TLS_RECORD = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])

/** A v2 header: signature, version/command byte, family byte, length, then the rest. */
function v2 (versionCommand: number, family: number, ...rest: Buffer[]): Buffer {
  const body = Buffer.concat(rest)
  const length = Buffer.alloc(2)
  length.writeUInt16BE(body.length)
  return Buffer.concat([SIGNATURE, Buffer.from([versionCommand, family]), length, body])
}

function ports (source: number, destination: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt16BE(source, 0)
  bytes.writeUInt16BE(destination, 2)
  return bytes
}

function ipv4 (address: string): Buffer {
  return Buffer.from(address.split('.').map(Number))
}

/** Eight groups written out in full, so the fixture shows every byte. */
function ipv6 (groups: string): Buffer {
  return Buffer.from(groups.replaceAll(':', ''), 'hex')
}

function sunPath (path: string | Buffer): Buffer {
  const bytes = Buffer.alloc(108)
  Buffer.from(path).copy(bytes)
  return bytes
}

function tlv (type: number, value: Buffer): Buffer {
  const head = Buffer.from([type, 0, 0])
  head.writeUInt16BE(value.length, 1)
  return Buffer.concat([head, value])
}

function statusOf (result: ProxyParse): string {
  return result.status
}

function expectDone (t: Test, data: Buffer, header: ProxyHeader, length: number): void {
  t.same(parseProxyHeader(data), { status: 'done', header, length })
}

function expectInvalid (t: Test, data: Buffer | string, name?: string): void {
  const result = parseProxyHeader(Buffer.from(data))
  t.equal(result.status, 'invalid', name ?? JSON.stringify(data.toString('latin1')))
  if (result.status === 'invalid') t.ok(result.reason.length > 0, 'with a reason')
}

/** Every proper prefix is incomplete and the whole header is done: no early answer. */
function expectEveryPrefixIncomplete (t: Test, header: Buffer, name: string): void {
  const wrong = []
  for (let length = 0; length < header.length; length++) {
    const status = statusOf(parseProxyHeader(header.subarray(0, length)))
    if (status !== 'incomplete') wrong.push(`${length}: ${status}`)
  }
  t.same(wrong, [], `${name}: all ${header.length} proper prefixes are incomplete`)
  const whole = parseProxyHeader(header)
  t.equal(whole.status, 'done', `${name}: whole`)
  if (whole.status === 'done') t.equal(whole.length, header.length)
}

const V1_TCP4 = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'
const TCP4_HEADER: ProxyHeader = {
  version: 1,
  command: 'proxy',
  family: 'tcp4',
  source: { address: '192.168.0.1', port: 56324 },
  destination: { address: '192.168.0.11', port: 443 }
}
const LOCAL_V1: ProxyHeader = { version: 1, command: 'local', family: 'unspec', source: null, destination: null }
const LOCAL_V2: ProxyHeader = { version: 2, command: 'local', family: 'unspec', source: null, destination: null }

t.test('the bounds', async (t) => {
  t.equal(PROXY_V1_MAX_BYTES, 107)
  t.ok(PROXY_V2_MAX_BYTES >= 16 + 216, 'room for the fixed part and the largest (UNIX) address block')
  t.ok(PROXY_V2_MAX_BYTES <= 65535 + 16, 'below what the length field can announce')
  t.equal(PROXY_HEADER_MAX_BYTES, Math.max(PROXY_V1_MAX_BYTES, PROXY_V2_MAX_BYTES))
})

t.test('an empty buffer is incomplete; a first byte that starts neither version is invalid at once', async (t) => {
  t.same(parseProxyHeader(Buffer.alloc(0)), { status: 'incomplete' })
  for (const data of ['G', 'GET / HTTP/1.1\r\n', 'p', 'proxy TCP4', ' PROXY', '\n', '\x16\x03\x01', 'SSH-2.0-OpenSSH_9.6\r\n']) {
    expectInvalid(t, data)
  }
  expectInvalid(t, TLS_RECORD, 'a TLS ClientHello without a header')
  expectInvalid(t, Buffer.from([0x00]), 'a NUL byte')
})

t.test('v1: TCP4, with the HTTP request after it left for the app', async (t) => {
  const data = Buffer.concat([Buffer.from(V1_TCP4), HTTP_REQUEST])
  expectDone(t, data, TCP4_HEADER, V1_TCP4.length)
  const result = parseProxyHeader(data)
  if (result.status === 'done') t.same(data.subarray(result.length), HTTP_REQUEST, 'the app data starts at length')
  expectDone(t, Buffer.from(V1_TCP4), TCP4_HEADER, V1_TCP4.length)
})

t.test('v1: TCP6, addresses written the way Node writes them, a TLS record after it', async (t) => {
  const line = 'PROXY TCP6 2001:DB8:0:0:0:0:0:1 0000:0000:0000:0000:0000:0000:0000:0001 65535 0\r\n'
  expectDone(t, Buffer.concat([Buffer.from(line), TLS_RECORD]), {
    version: 1,
    command: 'proxy',
    family: 'tcp6',
    source: { address: '2001:db8::1', port: 65535 },
    destination: { address: '::1', port: 0 }
  }, line.length)
  const mapped = parseProxyHeader(Buffer.from('PROXY TCP6 ::FFFF:192.0.2.1 fe80::1 1 2\r\n'))
  t.equal(mapped.status === 'done' && mapped.header.source?.address, '::ffff:192.0.2.1', 'IPv4-mapped is kept as such')
  t.equal(mapped.status === 'done' && mapped.header.destination?.address, 'fe80::1')
})

t.test('v1: UNKNOWN, short or with anything before the CRLF, counts as local', async (t) => {
  expectDone(t, Buffer.from('PROXY UNKNOWN\r\nGET /'), LOCAL_V1, 15)
  expectDone(t, Buffer.from('PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n'), LOCAL_V1, 35)
  expectDone(t, Buffer.from('PROXY UNKNOWN whatever \x00\xff  \r\n'), LOCAL_V1, 30)
  const worst = `PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`
  t.equal(worst.length, PROXY_V1_MAX_BYTES, 'the spec\'s worst case')
  expectDone(t, Buffer.from(worst), LOCAL_V1, PROXY_V1_MAX_BYTES)
  expectInvalid(t, 'PROXY UNKNOWNX\r\n')
  expectInvalid(t, 'PROXY UNKNOWN \r\r\n', 'a lone CR in the ignored part')
})

t.test('v1: the line must end with CRLF within 107 bytes', async (t) => {
  const tooLong = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(PROXY_V1_MAX_BYTES - 16 + 1)}\r\n`)
  t.equal(tooLong.length, PROXY_V1_MAX_BYTES + 1)
  t.equal(statusOf(parseProxyHeader(tooLong.subarray(0, 105))), 'incomplete', '105 bytes can still end in CRLF')
  expectInvalid(t, tooLong.subarray(0, 106), '106 bytes without CR: the CRLF cannot fit')
  expectInvalid(t, tooLong, 'a 108-byte line')
  expectInvalid(t, Buffer.concat([tooLong.subarray(0, 106), Buffer.from('\r')]), 'CR at byte 107')
  expectInvalid(t, Buffer.alloc(4096, 'PROXY UNKNOWN '), 'a flood without a line end')
})

t.test('v1: a bare LF, or a CR followed by something else, ends nothing', async (t) => {
  expectInvalid(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n')
  expectInvalid(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX')
  expectInvalid(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n')
  expectInvalid(t, 'PROXY UNKNOWN\n')
  t.equal(statusOf(parseProxyHeader(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r'))), 'incomplete', 'CR last: the LF may follow')
  expectInvalid(t, 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r', 'CR after an unfinished line')
})

t.test('v1: strict fields', async (t) => {
  const bad = [
    'PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n',
    'PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY\r\n',
    'PROXY \r\n',
    'PROXY TCP4\r\n',
    'PROXY TCP4 ::1 5.6.7.8 1 2\r\n',
    'PROXY TCP6 1.2.3.4 ::1 1 2\r\n',
    'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n',
    'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n',
    'PROXY TCP4 localhost 5.6.7.8 1 2\r\n',
    'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n',
    'PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n',
    'PROXY TCP6 1::2::3 ::1 1 2\r\n',
    'PROXY TCP6 [::1] ::1 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 0x50\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 ２\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2e3\r\n'
  ]
  for (const line of bad) expectInvalid(t, line)
  expectDone(t, Buffer.from('PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n'), {
    version: 1,
    command: 'proxy',
    family: 'tcp4',
    source: { address: '0.0.0.0', port: 0 },
    destination: { address: '255.255.255.255', port: 65535 }
  }, 44)
})

t.test('v1: refused at the first byte that no header can follow', async (t) => {
  const early = [
    'PROXX', 'PROXY\t', 'PROXY  ', 'PROXY TCP5', 'PROXY TCP4 a', 'PROXY TCP4 1.2.3.400', 'PROXY TCP4 1..',
    'PROXY TCP4 01', 'PROXY TCP4 1.2.3.4.', 'PROXY TCP4 1.2.3.4 5.6.7.8 00', 'PROXY TCP4 1.2.3.4 5.6.7.8 08', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ',
    'PROXY TCP4 1.2.3.4 5.6.7.8 65536', 'PROXY TCP6 :::', 'PROXY TCP6 1::2::', 'PROXY TCP6 12345',
    'PROXY TCP6 fe80::1%', 'PROXY TCP6 :1', 'PROXY TCP6 1.2.3.4', 'PROXY TCP6 ::ffff:1.2.3.4:',
    'PROXY TCP6 1:2:3:4:5:6:7:8:', 'PROXY TCP6 1:2:3:4:5:6:7::8', 'PROXY TCP6 1:2:3:4:5:1.2',
    'PROXY TCP6 ::g', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\u00e9'
  ]
  for (const data of early) expectInvalid(t, data)
  const stillPossible = [
    'P', 'PROX', 'PROXY', 'PROXY ', 'PROXY T', 'PROXY TCP4 1.2.3.4 ', 'PROXY TCP4 1.2.3.4 5.6.7.8 0 ',
    'PROXY TCP6 :', 'PROXY TCP6 ::', 'PROXY TCP6 ::ffff:1.2.', 'PROXY TCP6 1:2:3:4:5:6:1.2.3.4',
    'PROXY TCP6 1:2:3:4:5:6:7:', 'PROXY UNKNOW', 'PROXY UNKNOWN', 'PROXY UNKNOWN '
  ]
  for (const data of stillPossible) t.equal(statusOf(parseProxyHeader(Buffer.from(data))), 'incomplete', JSON.stringify(data))
})

t.test('v1: every prefix of a valid line is incomplete', async (t) => {
  const lines = [
    V1_TCP4,
    'PROXY TCP4 0.0.0.0 10.0.0.255 0 80\r\n',
    'PROXY TCP6 2001:db8::1 ::1 56324 443\r\n',
    'PROXY TCP6 ::ffff:192.0.2.1 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 1 2\r\n',
    `PROXY TCP6 ${'ffff:'.repeat(7)}ffff ${'FFFF:'.repeat(7)}FFFF 65535 65535\r\n`,
    'PROXY UNKNOWN\r\n',
    'PROXY UNKNOWN ffff::1 ::1 1 2\r\n'
  ]
  for (const line of lines) expectEveryPrefixIncomplete(t, Buffer.from(line), JSON.stringify(line))
})

t.test('v2: PROXY over TCP/IPv4, with the HTTP request after it left for the app', async (t) => {
  const header = v2(0x21, 0x11, ipv4('192.0.2.1'), ipv4('198.51.100.7'), ports(56324, 443))
  t.equal(header.length, 28)
  const data = Buffer.concat([header, HTTP_REQUEST])
  expectDone(t, data, {
    version: 2,
    command: 'proxy',
    family: 'tcp4',
    source: { address: '192.0.2.1', port: 56324 },
    destination: { address: '198.51.100.7', port: 443 }
  }, 28)
  t.same(data.subarray(28), HTTP_REQUEST)
})

t.test('v2: PROXY over TCP/IPv6, addresses written the way Node writes them', async (t) => {
  const cases: Array<[string, string]> = [
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:0DB8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['2001:0db8:0000:0001:0001:0001:0001:0001', '2001:db8:0:1:1:1:1:1'],
    ['0000:0000:0000:0000:0000:ffff:c000:0201', '::ffff:192.0.2.1'],
    ['fe80:0000:0000:0000:0000:0000:0000:0000', 'fe80::'],
    ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
    ['2001:0db8:85a3:0000:0000:8a2e:0370:7334', '2001:db8:85a3::8a2e:370:7334']
  ]
  for (const [groups, expected] of cases) {
    const header = v2(0x21, 0x21, ipv6(groups), ipv6('2001:0db8:0000:0000:0000:0000:0000:0002'), ports(1234, 8443))
    t.equal(header.length, 52)
    expectDone(t, Buffer.concat([header, TLS_RECORD]), {
      version: 2,
      command: 'proxy',
      family: 'tcp6',
      source: { address: expected, port: 1234 },
      destination: { address: '2001:db8::2', port: 8443 }
    }, 52)
  }
})

t.test('v2: PROXY over a UNIX stream socket', async (t) => {
  const header = v2(0x21, 0x31, sunPath('/run/haproxy/client.sock'), sunPath(Buffer.from('\0api\0', 'latin1')))
  t.equal(header.length, 16 + 216)
  expectDone(t, header, {
    version: 2,
    command: 'proxy',
    family: 'unix',
    source: { address: '/run/haproxy/client.sock', port: 0 },
    destination: { address: '@api', port: 0 }
  }, 232)
  const unnamed = parseProxyHeader(v2(0x21, 0x31, sunPath(''), sunPath('')))
  t.equal(unnamed.status === 'done' && unnamed.header.source?.address, '', 'an unnamed socket')
})

t.test('v2: UNSPEC under PROXY: accepted, with no address to use', async (t) => {
  expectDone(t, v2(0x21, 0x00), { version: 2, command: 'proxy', family: 'unspec', source: null, destination: null }, 16)
  expectDone(t, v2(0x21, 0x00, Buffer.alloc(7, 0xaa)), { version: 2, command: 'proxy', family: 'unspec', source: null, destination: null }, 23)
})

t.test('v2: LOCAL ignores the family and the address block', async (t) => {
  expectDone(t, Buffer.concat([v2(0x20, 0x00), HTTP_REQUEST]), LOCAL_V2, 16)
  const withAddresses = v2(0x20, 0x11, ipv4('10.0.0.1'), ipv4('10.0.0.2'), ports(1, 2))
  expectDone(t, withAddresses, LOCAL_V2, 28)
  expectDone(t, v2(0x20, 0x12, Buffer.alloc(3)), LOCAL_V2, 19)
  expectDone(t, v2(0x20, 0x21), LOCAL_V2, 16)
})

t.test('v2: TLVs after the address block are skipped but counted in length', async (t) => {
  const tlvs = Buffer.concat([
    tlv(0x01, Buffer.from('h2')),
    tlv(0x02, Buffer.from('example.com')),
    tlv(0x05, Buffer.alloc(128, 7)),
    tlv(0x20, Buffer.concat([Buffer.from([0x01, 0, 0, 0, 0]), tlv(0x21, Buffer.from('TLSv1.3'))])),
    tlv(0x04, Buffer.alloc(0))
  ])
  const header = v2(0x21, 0x11, ipv4('203.0.113.9'), ipv4('10.1.2.3'), ports(40000, 443), tlvs)
  const data = Buffer.concat([header, TLS_RECORD])
  const result = parseProxyHeader(data)
  t.equal(result.status, 'done')
  if (result.status !== 'done') return
  t.equal(result.length, 28 + tlvs.length)
  t.same(result.header.source, { address: '203.0.113.9', port: 40000 })
  t.same(data.subarray(result.length), TLS_RECORD, 'the ClientHello starts right after the TLVs')
  const opaque = parseProxyHeader(v2(0x21, 0x11, ipv4('1.1.1.1'), ipv4('2.2.2.2'), ports(1, 2), Buffer.from([0xff, 0xff])))
  t.equal(opaque.status === 'done' && opaque.length, 30, 'a malformed TLV area is still just skipped')
})

t.test('v2: every prefix of a valid header is incomplete', async (t) => {
  const headers: Array<[string, Buffer]> = [
    ['tcp4', v2(0x21, 0x11, ipv4('192.0.2.1'), ipv4('198.51.100.7'), ports(56324, 443))],
    ['tcp4 with TLVs', v2(0x21, 0x11, ipv4('192.0.2.1'), ipv4('198.51.100.7'), ports(56324, 443), tlv(0x02, Buffer.from('example.com')))],
    ['tcp6', v2(0x21, 0x21, ipv6('2001:0db8:0000:0000:0000:0000:0000:0001'), ipv6('0000:0000:0000:0000:0000:0000:0000:0001'), ports(1, 2))],
    ['unix', v2(0x21, 0x31, sunPath('/a'), sunPath('/b'))],
    ['local', v2(0x20, 0x00)],
    ['local with a block', v2(0x20, 0x11, Buffer.alloc(12))]
  ]
  for (const [name, header] of headers) expectEveryPrefixIncomplete(t, header, name)
})

t.test('v2: a wrong signature is refused at its first wrong byte', async (t) => {
  const header = v2(0x21, 0x11, ipv4('1.2.3.4'), ipv4('5.6.7.8'), ports(1, 2))
  for (let index = 1; index < SIGNATURE.length; index++) {
    const broken = Buffer.from(header)
    broken[index] = (broken[index] ?? 0) ^ 0x20
    expectInvalid(t, broken.subarray(0, index + 1), `byte ${index + 1} of the signature`)
  }
  expectInvalid(t, '\r\n\r\n\0\r\nQUIT\r', 'a CR where the final LF goes')
  expectInvalid(t, '\r\nGET', 'CRLF then text')
})

t.test('v2: version and command', async (t) => {
  for (const versionCommand of [0x11, 0x31, 0x01, 0xf1, 0x10]) {
    expectInvalid(t, v2(versionCommand, 0x11, Buffer.alloc(12)), `version/command 0x${versionCommand.toString(16)}`)
    expectInvalid(t, Buffer.concat([SIGNATURE, Buffer.from([versionCommand])]), `0x${versionCommand.toString(16)} refused as soon as it is seen`)
  }
  for (const versionCommand of [0x22, 0x2f]) {
    expectInvalid(t, v2(versionCommand, 0x11, Buffer.alloc(12)), `command ${versionCommand & 0xf}`)
    expectInvalid(t, Buffer.concat([SIGNATURE, Buffer.from([versionCommand])]))
  }
})

t.test('v2: only TCP, UNIX stream and UNSPEC under PROXY', async (t) => {
  for (const family of [0x12, 0x22, 0x32, 0x10, 0x01, 0x13, 0x41, 0xff]) {
    expectInvalid(t, v2(0x21, family, Buffer.alloc(216)), `family 0x${family.toString(16)}`)
    expectInvalid(t, Buffer.concat([SIGNATURE, Buffer.from([0x21, family])]), `0x${family.toString(16)} refused as soon as it is seen`)
  }
})

t.test('v2: an address block shorter than the family needs', async (t) => {
  const cases: Array<[number, number]> = [[0x11, 11], [0x11, 0], [0x21, 35], [0x21, 12], [0x31, 215], [0x31, 36]]
  for (const [family, size] of cases) {
    const header = v2(0x21, family, Buffer.alloc(size))
    expectInvalid(t, header, `family 0x${family.toString(16)} with ${size} bytes`)
    expectInvalid(t, header.subarray(0, 16), 'known from the length field alone')
  }
})

t.test('v2: the length is bounded', async (t) => {
  const largest = v2(0x21, 0x11, Buffer.alloc(12), tlv(0xe0, Buffer.alloc(PROXY_V2_MAX_BYTES - 16 - 12 - 3)))
  t.equal(largest.length, PROXY_V2_MAX_BYTES)
  t.equal(statusOf(parseProxyHeader(largest)), 'done', 'exactly the bound')
  const over = v2(0x21, 0x11, Buffer.alloc(12), tlv(0xe0, Buffer.alloc(PROXY_V2_MAX_BYTES - 16 - 12 - 2)))
  expectInvalid(t, over, 'one byte over')
  expectInvalid(t, over.subarray(0, 16), 'refused from the length field, without waiting for the bytes')
  expectInvalid(t, Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]), 'the 64 KB the field can announce')
})

t.test('parsing neither changes nor keeps the input', async (t) => {
  const data = Buffer.concat([Buffer.from(V1_TCP4), HTTP_REQUEST])
  const copy = Buffer.from(data)
  const result = parseProxyHeader(data)
  t.same(data, copy)
  data.fill(0)
  t.same(result, { status: 'done', header: TCP4_HEADER, length: V1_TCP4.length }, 'the header holds no view of the buffer')
})

/** A small deterministic generator, so a failure replays. */
function random (seed: number): () => number {
  let state = seed
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
}

t.test('incremental answers are consistent: invalid and done never change as bytes arrive', async (t) => {
  const next = random(42)
  const seeds = [
    Buffer.concat([Buffer.from(V1_TCP4), HTTP_REQUEST]),
    Buffer.from('PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 56324 443\r\nGET'),
    Buffer.from('PROXY UNKNOWN\r\n\x16\x03\x01'),
    Buffer.concat([v2(0x21, 0x21, ipv6('2001:0db8:0000:0000:0000:0000:0000:0001'), Buffer.alloc(16), ports(1, 2), tlv(1, Buffer.from('h2'))), TLS_RECORD]),
    Buffer.concat([v2(0x21, 0x11, ipv4('1.2.3.4'), ipv4('5.6.7.8'), ports(1, 2)), HTTP_REQUEST])
  ]
  let checked = 0
  const problems: string[] = []
  for (let round = 0; round < 400; round++) {
    const data = Buffer.from(seeds[round % seeds.length] ?? Buffer.alloc(0))
    const mutations = 1 + Math.floor(next() * 3)
    for (let m = 0; m < mutations; m++) {
      const at = Math.floor(next() * data.length)
      data[at] = next() < 0.5 ? Math.floor(next() * 256) : (data[at] ?? 0) ^ 0x01
    }
    let settled: ProxyParse | null = null
    for (let length = 0; length <= data.length; length++) {
      const result = parseProxyHeader(data.subarray(0, length))
      checked++
      if (result.status === 'done' && (result.length > length || result.length > PROXY_HEADER_MAX_BYTES)) problems.push(`length ${result.length} of ${length}`)
      if (settled === null) {
        if (result.status !== 'incomplete') settled = result
      } else if (result.status !== settled.status || (result.status === 'done' && settled.status === 'done' && result.length !== settled.length)) {
        problems.push(`${data.toString('hex')} at ${length}: ${settled.status} then ${result.status}`)
      }
    }
  }
  t.same(problems.slice(0, 5), [], `${checked} parses, none inconsistent`)
})

t.test('normalizeClientAddress: IPv4-mapped IPv6 becomes the IPv4 address, the rest is kept', async (t) => {
  t.equal(normalizeClientAddress('::ffff:192.0.2.1'), '192.0.2.1')
  t.equal(normalizeClientAddress('::FFFF:10.0.0.1'), '10.0.0.1')
  t.equal(normalizeClientAddress('::Ffff:0.0.0.0'), '0.0.0.0')
  const kept = [
    '192.0.2.1', '::1', '::', '2001:db8::1', 'fe80::1', '::ffff:c000:201', '::ffff:999.1.1.1', '::ffff:1.2.3',
    '::ffff:1.2.3.4.5', '::ffff:01.2.3.4', '::1.2.3.4', '1::ffff:1.2.3.4', 'x::ffff:1.2.3.4', '::ffff:1.2.3.4 ', ''
  ]
  for (const address of kept) t.equal(normalizeClientAddress(address), address, JSON.stringify(address))
})

/** One of the many ways to write eight 16-bit words as IPv6 text, all of which isIPv6 accepts. */
function spellIPv6 (words: number[], next: () => number): string {
  const hex = words.map((word) => {
    const text = word.toString(16).padStart(next() < 0.3 ? 4 : 1, '0')
    return next() < 0.5 ? text.toUpperCase() : text
  })
  const [high = 0, low = 0] = words.slice(6)
  // A dotted tail writes the last two words as an IPv4 address; only the six before it can be compressed.
  const hexWords = next() < 0.3 ? 6 : 8
  const groups = hexWords === 6 ? [...hex.slice(0, 6), `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`] : hex
  const zeros = words.flatMap((word, index) => word === 0 && index < hexWords ? [index] : [])
  const start = zeros[Math.floor(next() * zeros.length)]
  if (start === undefined || next() < 0.2) return groups.join(':')
  let end = start + 1
  while (end < hexWords && words[end] === 0 && next() < 0.8) end++
  return `${groups.slice(0, start).join(':')}::${groups.slice(end).join(':')}`
}

t.test('v1: every prefix of many spellings of IPv6 addresses is incomplete', async (t) => {
  const next = random(7)
  const problems: string[] = []
  let lines = 0
  for (let round = 0; round < 300; round++) {
    const words = Array.from({ length: 8 }, () => next() < 0.5 ? 0 : Math.floor(next() * 65536))
    if (round % 5 === 0) words.splice(0, 6, 0, 0, 0, 0, 0, 0xffff)
    const address = spellIPv6(words, next)
    if (!isIPv6(address)) continue
    const line = Buffer.from(`PROXY TCP6 ${address} ::1 1 2\r\n`)
    lines++
    for (let length = 0; length < line.length; length++) {
      if (parseProxyHeader(line.subarray(0, length)).status !== 'incomplete') problems.push(`${address} at ${length}`)
    }
    const whole = parseProxyHeader(line)
    const expected = new SocketAddress({ address, family: 'ipv6' }).address
    if (whole.status !== 'done' || whole.header.source?.address !== expected) problems.push(`${address}: ${JSON.stringify(whole)}`)
  }
  t.ok(lines > 250, `${lines} spellings`)
  t.same(problems.slice(0, 5), [])
})
