import t from 'tap'
import { formatPrettyMessage, sourceTag } from '../../launcher/pretty-format.js'

t.test('each line names its source: the primary or the worker id', async (t) => {
  t.equal(sourceTag({ role: 'primary', pid: 1 }), 'primary')
  t.equal(sourceTag({ workerId: 0, pid: 2 }), 'w0')
  t.equal(sourceTag({ workerId: 12, pid: 3 }), 'w12')
  t.equal(sourceTag({ pid: 4 }), 'pid 4')
})

t.test('fields the message already says are left out; the others follow it', async (t) => {
  const starting = { level: 30, time: 1, pid: 10, role: 'primary', workers: 2, reason: 'set by --workers', port: 3000, msg: 'starting 2 workers (set by --workers); round-robin in the primary' }
  t.equal(formatPrettyMessage(starting), 'primary: starting 2 workers (set by --workers); round-robin in the primary port=3000')
  t.equal(formatPrettyMessage({ pid: 10, role: 'primary', workerId: 0, workerPid: 4242, ms: 612, msg: 'worker 0 (pid 4242) ready in 612 ms' }),
    'primary: worker 0 (pid 4242) ready in 612 ms', 'every field is in the text')
  t.equal(formatPrettyMessage({ pid: 10, role: 'primary', code: null, signal: 'SIGKILL', delay: 100, crashStreak: 1, msg: 'worker 0 (pid 9) was killed by SIGKILL; restarting in 100 ms' }),
    'primary: worker 0 (pid 9) was killed by SIGKILL; restarting in 100 ms crashStreak=1', 'a number counts only as a whole token (1 is not in 100)')
  t.equal(formatPrettyMessage({ pid: 11, workerId: 1, reqId: 'req-1', res: { statusCode: 200 }, msg: 'request completed' }),
    'w1: request completed reqId=req-1 res={"statusCode":200}')
  t.equal(formatPrettyMessage({ pid: 11, workerId: 1, reason: 'the shutdown', msg: 'draining' }), 'w1: draining reason="the shutdown"', 'strings with spaces are quoted')
})

t.test('an error keeps its stack on the lines below', async (t) => {
  const text = formatPrettyMessage({ pid: 11, workerId: 0, err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (/a.js:1:1)' }, msg: 'worker failed' })
  t.equal(text, 'w0: worker failed\n    Error: boom\n        at f (/a.js:1:1)')
})
