/**
 * `npm run test:load`: the fault tests under load that take minutes (two app processes on one database, kill -9
 * during checkout, the SMTP server down for a minute). Same PostgreSQL set-up as `npm test`; one file at a time,
 * since each already loads the machine. Each prints a short summary of what it measured.
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testMatch: ['<rootDir>/test/load/**/*.load.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  maxWorkers: 1,
  testTimeout: 15 * 60 * 1000,
  verbose: true,
};
