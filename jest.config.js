// One ESM module format everywhere (@kubernetes/client-node 2.x ships ESM only), so jest
// runs with --experimental-vm-modules and transforms TypeScript with @swc/jest: it strips
// types without type-checking (tsc -b does that once, in `npm run build`), which keeps a
// cold run of the whole suite in seconds instead of the minutes ts-jest would spend.
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'es6' },
    sourceMaps: 'inline',
  },
];

const shared = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    // Workspace packages resolve to their sources, so tests never need a prior build.
    '^@bunker/proto$': '<rootDir>/proto/src/index.ts',
    '^@bunker/proto/(ids|bunker-error|micro-time)$': '<rootDir>/proto/src/$1.ts',
    // NodeNext imports spell the emitted `.js`; map them back to the `.ts` sources.
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
export default {
  testTimeout: 30_000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/{agent,operator,proto}/src/**/*.test.ts', '<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      ...shared,
      displayName: 'sim',
      testMatch: ['<rootDir>/test/sim/**/*.test.ts'],
    },
    {
      ...shared,
      // Property-based fuzzers (test/fuzz/fuzz-budget.ts): bounded here, longer with `npm run fuzz`.
      displayName: 'fuzz',
      testMatch: ['<rootDir>/test/fuzz/**/*.test.ts'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.mjs',
      globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
    },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/test/support/e2e-setup.mjs',
    },
  ],
};
