/** Jest runs TypeScript through ts-jest (transpile only; `npm run typecheck`, the first half of `npm test`, type-checks src, test and bench) with legacy decorators. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { isolatedModules: true, module: 'commonjs', moduleResolution: 'node', experimentalDecorators: true, emitDecoratorMetadata: false, useDefineForClassFields: false, target: 'ES2022', esModuleInterop: true, skipLibCheck: true } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // The load tests take minutes: `npm run test:load` (jest.load.config.js) runs them.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/load/'],
  // The build's output (npm run build) is never a test or a module to map.
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  globalSetup: '<rootDir>/test/setup/global-setup.mjs',
  globalTeardown: '<rootDir>/test/setup/global-teardown.mjs',
  maxWorkers: 2,
  testTimeout: 30000,
};
