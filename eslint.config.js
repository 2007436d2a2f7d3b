//! ESLint flat config: typescript-eslint strictTypeChecked, the daemon's promise rules, and import boundaries.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

// STYLE §3.2: a source, sink or transform sees a payload and helpers, never the database or the
// spool. Shared types come from src/contracts/ (the bottom floor), never from the stores or the spool.
const componentBoundaries = {
  files: ['src/sources/**', 'src/sinks/**', 'src/transforms/**'],
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: ['**/store', '**/store/*', '**/store/**'],
            message: 'Components must not import the stores; take what you need from src/contracts (STYLE §3.2).',
          },
          {
            group: ['**/spool/*'],
            message: 'Components must not import the spool; ingest through the Source contract (STYLE §3.3).',
          },
        ],
      },
    ],
  },
};

// The stores sit below every component and the pipeline (test/unit/architecture/imports.test.ts
// checks the whole layer table); this rule says so in the editor too.
const storeBoundaries = {
  files: ['src/store/**'],
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: [
              '**/pipeline/**',
              '**/transforms/**',
              '**/sources/**',
              '**/sinks/**',
              '**/series/**',
              '**/spool/**',
            ],
            message: 'Stores must not import the pipeline or components; shared types belong in src/contracts.',
          },
          {
            group: ['**/status/**', '**/app/**', '**/cli/**'],
            message: 'Stores must not import the layers above them (docs/architecture.md, Layers).',
          },
        ],
      },
    ],
  },
};

export default defineConfig(
  globalIgnores(['dist/', 'node_modules/', '.cache/', 'coverage/', 'data/']),
  js.configs.recommended,
  tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Untethered promises are the main crash class of a long-running daemon (STYLE §3.10).
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      curly: ['error', 'all'],
      'no-console': 'error',
      // Wrap, never swallow (STYLE §3.5); a comment explaining an intentionally empty block is allowed.
      'no-empty': 'error',
    },
  },
  {
    files: ['src/cli/**', 'test/**', 'bench/**', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Plain JavaScript (this file, bin/) is outside tsconfig, so type-aware rules cannot run on it.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    // The Node globals these files use (the `globals` package is not a dependency).
    languageOptions: {
      globals: {
        Buffer: 'readonly',
        URL: 'readonly',
        console: 'readonly',
        process: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        fetch: 'readonly',
      },
    },
  },
  componentBoundaries,
  storeBoundaries,
);
