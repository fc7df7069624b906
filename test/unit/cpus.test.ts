import t from 'tap'
import {
  decideAutoWorkers,
  parseCfsQuota,
  parseCpuMax,
  parseProcCgroup,
  readCgroupCpuLimit,
  type CpuFacts,
  type ReadText
} from '../../launcher/cpus.js'

/** A reader over sample files: absent paths read as null, like a missing file. */
function fakeFs (files: Record<string, string>): ReadText {
  return (file) => files[file] ?? null
}

t.test('parseCpuMax reads "<quota> <period>" and "max"', async (t) => {
  t.equal(parseCpuMax('200000 100000\n'), 2)
  t.equal(parseCpuMax('50000 100000'), 0.5)
  t.equal(parseCpuMax('150000 100000'), 1.5)
  t.equal(parseCpuMax('max 100000\n'), null)
  t.equal(parseCpuMax('200000'), 2, 'the period defaults to 100000')
  t.equal(parseCpuMax(''), null)
  t.equal(parseCpuMax('garbage here'), null)
  t.equal(parseCpuMax('0 100000'), null)
})

t.test('parseCfsQuota: -1 is no limit, otherwise quota / period', async (t) => {
  t.equal(parseCfsQuota('-1\n', '100000\n'), null)
  t.equal(parseCfsQuota('150000\n', '100000\n'), 1.5)
  t.equal(parseCfsQuota('100000', '0'), null)
  t.equal(parseCfsQuota('x', '100000'), null)
})

t.test('parseProcCgroup finds the unified path and the v1 cpu controller path', async (t) => {
  t.same(parseProcCgroup('0::/\n'), { unified: '/', cpu: null })
  t.same(parseProcCgroup('0::/kubepods/pod1/ctr\n'), { unified: '/kubepods/pod1/ctr', cpu: null })
  const hybrid = [
    '12:cpuset:/', '11:cpu,cpuacct:/docker/abc', '1:name=systemd:/init.scope', '0::/init.scope', ''
  ].join('\n')
  t.same(parseProcCgroup(hybrid), { unified: '/init.scope', cpu: '/docker/abc' }, 'cpuset is not cpu')
  t.same(parseProcCgroup('3:cpuacct,cpu:/a\n'), { unified: null, cpu: '/a' })
  t.same(parseProcCgroup(''), { unified: null, cpu: null })
})

t.test('cgroup v2 container: cpu.max at the namespace root', async (t) => {
  const at = (cpuMax: string) => readCgroupCpuLimit(fakeFs({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': cpuMax }))
  t.same(at('200000 100000\n'), { cpus: 2, source: 'cgroup v2' })
  t.same(at('50000 100000\n'), { cpus: 0.5, source: 'cgroup v2' })
  t.equal(at('max 100000\n'), null)
})

t.test('cgroup v2 nested path: the tightest ancestor wins', async (t) => {
  const read = fakeFs({
    '/proc/self/cgroup': '0::/kubepods/pod1/ctr\n',
    '/sys/fs/cgroup/kubepods/pod1/ctr/cpu.max': 'max 100000\n',
    '/sys/fs/cgroup/kubepods/pod1/cpu.max': '150000 100000\n',
    '/sys/fs/cgroup/kubepods/cpu.max': '400000 100000\n'
  })
  t.same(readCgroupCpuLimit(read), { cpus: 1.5, source: 'cgroup v2' })
})

t.test('the cgroup mount root can be moved', async (t) => {
  const read = fakeFs({ '/proc/self/cgroup': '0::/app\n', '/mnt/cg/app/cpu.max': '300000 100000' })
  t.same(readCgroupCpuLimit(read, '/mnt/cg'), { cpus: 3, source: 'cgroup v2' })
  t.equal(readCgroupCpuLimit(read), null, 'nothing under the default root')
})

t.test('cgroup v1 hybrid: cpu.cfs_quota_us / cpu.cfs_period_us', async (t) => {
  const hybrid = (quota: string, mount = 'cpu') => readCgroupCpuLimit(fakeFs({
    '/proc/self/cgroup': '1:cpu:/\n0::/\n',
    [`/sys/fs/cgroup/${mount}/cpu.cfs_quota_us`]: quota,
    [`/sys/fs/cgroup/${mount}/cpu.cfs_period_us`]: '100000\n'
  }))
  t.equal(hybrid('-1\n'), null)
  t.same(hybrid('150000\n'), { cpus: 1.5, source: 'cgroup v1' })
  t.same(hybrid('150000\n', 'cpu,cpuacct'), { cpus: 1.5, source: 'cgroup v1' }, 'the combined cpu,cpuacct mount')
})

t.test('cgroup v1 quota only counts with its period', async (t) => {
  const read = fakeFs({ '/proc/self/cgroup': '1:cpu:/\n', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '150000\n' })
  t.equal(readCgroupCpuLimit(read), null)
})

t.test('v1 and v2 limits together: the tighter one and its source', async (t) => {
  const read = fakeFs({
    '/proc/self/cgroup': '1:cpu:/\n0::/\n',
    '/sys/fs/cgroup/cpu.max': '300000 100000',
    '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '100000',
    '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000'
  })
  t.same(readCgroupCpuLimit(read), { cpus: 1, source: 'cgroup v1' })
})

t.test('no cgroup files at all -> null', async (t) => {
  t.equal(readCgroupCpuLimit(() => null), null)
  t.equal(readCgroupCpuLimit(fakeFs({ '/proc/self/cgroup': '0::/\n' })), null)
})

t.test('without /proc/self/cgroup the root files are still read', async (t) => {
  t.same(readCgroupCpuLimit(fakeFs({ '/sys/fs/cgroup/cpu.max': '200000 100000' })), { cpus: 2, source: 'cgroup v2' })
})

function facts (cpus: number | null, availableParallelism = 8, hostCpus = 8): CpuFacts {
  return { availableParallelism, hostCpus, cgroup: cpus === null ? null : { cpus, source: 'cgroup v2' } }
}

t.test('decideAutoWorkers rounds a quota up, at least 1', async (t) => {
  const half = decideAutoWorkers(facts(0.5))
  t.equal(half.count, 1)
  t.match(half.reason, /quota 0\.5 CPUs/)
  t.match(half.reason, /host has 8/)
  const oneAndHalf = decideAutoWorkers(facts(1.5, 8, 16))
  t.equal(oneAndHalf.count, 2)
  t.match(oneAndHalf.reason, /quota 1\.5 CPUs.*host has 16/)
})

t.test('decideAutoWorkers: a quota above the parallelism does not raise the count', async (t) => {
  const decision = decideAutoWorkers(facts(16, 4, 8))
  t.equal(decision.count, 4)
  t.match(decision.reason, /quota 16 CPUs/)
  t.match(decision.reason, /host has 8/)
  t.equal(decideAutoWorkers(facts(4, 4, 8)).count, 4, 'a quota equal to the parallelism')
})

t.test('decideAutoWorkers without a quota uses the available parallelism', async (t) => {
  const decision = decideAutoWorkers(facts(null, 6, 12))
  t.equal(decision.count, 6)
  t.match(decision.reason, /6 CPUs available from os.availableParallelism\(\) \(no cgroup CPU quota\), host has 12/)
  t.match(decideAutoWorkers(facts(null, 1, 1)).reason, /^1 CPU available/)
})
