/**
 * Rendezvous (highest-random-weight) hashing: each client address scores every candidate
 * worker id, and the highest score wins. When a worker leaves or comes back, only the clients
 * whose winner it was move; everyone else keeps the same worker. Pure and allocation-free per
 * call, since the primary runs it for every accepted connection.
 */

/** FNV-1a over the address's UTF-16 code units: cheap, and enough spread for a seed. */
function hashKey (key: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/**
 * MurmurHash3's 32-bit finaliser over the key's hash mixed with the worker id: every bit of
 * both affects every bit of the score, so scores of neighbouring ids are unrelated.
 */
function score (keyHash: number, workerId: number): number {
  let h = (keyHash ^ Math.imul(workerId + 1, 0x9e3779b1)) >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The candidate with the highest score for `key`; undefined when there is none. Ties go to the lower id. */
export function pickByRendezvous (key: string, candidates: readonly number[]): number | undefined {
  const keyHash = hashKey(key)
  let best: number | undefined
  let bestScore = -1
  for (const id of candidates) {
    const s = score(keyHash, id)
    if (s > bestScore || (s === bestScore && best !== undefined && id < best)) {
      best = id
      bestScore = s
    }
  }
  return best
}
