/** Jest runs TypeScript through ts-jest (transpile only; `npm run build` type-checks) with legacy decorators. */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true, tsconfig: { module: 'commonjs', moduleResolution: 'node', experimentalDecorators: true, emitDecoratorMetadata: false, useDefineForClassFields: false, target: 'ES2022', esModuleInterop: true, skipLibCheck: true } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // The load tests take minutes: `npm run test:load` (jest.load.config.js) runs them.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/load/'],
  globalSetup: '<rootDir>/test/setup/global-setup.mjs',
  globalTeardown: '<rootDir>/test/setup/global-teardown.mjs',
  maxWorkers: 2,
  testTimeout: 30000,
};
