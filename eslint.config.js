// Lint rules that keep two promises of the design checkable:
//  - no `any` where data crosses a boundary (API server, wire, disk);
//  - the replication core and the failover decisions stay pure, so the simulation can drive
//    them deterministically: no node:* imports, no clock, no randomness, no await, no timers.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Folders that hold the deterministic state machines. */
export const coreFolders = ['agent/src/replication/**/*.ts', 'operator/src/failover/**/*.ts'];

const nodeBuiltins = [
  'assert', 'async_hooks', 'buffer', 'child_process', 'cluster', 'crypto', 'dgram', 'dns', 'events',
  'fs', 'fs/promises', 'http', 'http2', 'https', 'net', 'os', 'path', 'perf_hooks', 'process',
  'readline', 'stream', 'timers', 'tls', 'url', 'util', 'v8', 'vm', 'worker_threads', 'zlib',
];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'proto/src/gen/**', 'coverage/**', 'test/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
  },
  {
    files: coreFolders,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['node:*'], message: 'The replication core is pure: I/O is injected by its driver.' }],
          paths: nodeBuiltins.map((name) => ({ name, message: 'The replication core is pure: I/O is injected by its driver.' })),
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'Date', message: 'No wall clock in the core: time arrives as tick events.' },
        { name: 'setTimeout', message: 'No timers in the core: time arrives as tick events.' },
        { name: 'setInterval', message: 'No timers in the core: time arrives as tick events.' },
        { name: 'setImmediate', message: 'No timers in the core.' },
        { name: 'process', message: 'No process access in the core.' },
        { name: 'performance', message: 'No clock in the core.' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'AwaitExpression', message: 'The core is synchronous: no await.' },
        { selector: 'FunctionDeclaration[async=true], ArrowFunctionExpression[async=true], FunctionExpression[async=true]', message: 'The core is synchronous: no async functions.' },
        { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'No randomness in the core: inject a seeded source.' },
        { selector: "NewExpression[callee.name='Date']", message: 'No wall clock in the core.' },
        { selector: "CallExpression[callee.name='require']", message: 'No dynamic loading in the core.' },
        { selector: 'ImportExpression', message: 'No dynamic import in the core.' },
      ],
    },
  },
);
