// The pool's task: `ms` of synchronous CPU work, the same as the inline route's, on a worker
// thread of the pool instead of the event loop. Plain JavaScript, so the pool's threads load it
// without a TypeScript loader.
import { threadId } from 'node:worker_threads'

export default function burn ({ ms }) {
  const until = Date.now() + ms
  let spins = 0
  while (Date.now() < until) spins++
  return { ms, spins, threadId }
}
