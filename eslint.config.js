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
  },
  {
    // docs/architecture.md, "Built-in modules": the ES namespace of these two loads far more
    // of Node than the function imported (7 ms before the primary's first fork on Node 24).
    files: ['launcher/**/*.ts', 'lib/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: ['node:fs', 'fs', 'node:util', 'util'].map((name) => ({
          name,
          allowTypeImports: true,
          message: `take it with process.getBuiltinModule('${name.startsWith('node:') ? name : `node:${name}`}') (docs/architecture.md, "Built-in modules")`
        }))
      }]
    }
  }
]
