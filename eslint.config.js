// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'contracts/artifacts/**', '.devnet/**', 'tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', performance: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', fetch: 'readonly', structuredClone: 'readonly', queueMicrotask: 'readonly', setImmediate: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']", message: 'Use an injected rng or node:crypto randomBytes.' },
      ],
    },
  },
  {
    // Pure layers: no clocks, no I/O, no hidden randomness (SPEC 1, issue 3).
    files: ['src/crypto/**/*.ts', 'src/protocol/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: 'Pure layer: take `now` from the context.' },
        { selector: "NewExpression[callee.name='Date']", message: 'Pure layer: take `now` from the context.' },
        { selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']", message: 'Pure layer: take an rng.' },
      ],
      'no-restricted-imports': [
        'error',
        { paths: ['node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:child_process', 'fs', 'net', 'http', 'child_process'], patterns: ['**/node/**', '**/chain/**', '**/cli/**', '**/client/**'] },
      ],
    },
  },
);
