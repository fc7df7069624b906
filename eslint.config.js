// The Fastify organisation's lint (fastify, fastify-plugin and fastify-cli use neostandard),
// with its TypeScript rules on.
import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: resolveIgnoresFromGitignore()
  }),
  {
    rules: {
      // `void promise;` marks a promise whose outcome is handled elsewhere (its own .then/.catch);
      // `void` inside expressions stays an error.
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
