/** Every environment setting goes through one schema: a bad value stops the start with a message naming it. */
import { ConfigError, DEMO_SESSION_SECRET, loadConfig } from '../../src/config';

const SECRET = 'x'.repeat(40);

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('settings from the environment', () => {
  it('runs the demo with no settings at all', () => {
    expect(loadConfig({})).toMatchObject({ demo: true, production: false, port: 3000, embeddedPort: 54329, baseUrl: 'http://localhost:3000', secureCookies: false });
  });

  it('names each bad variable and the form it expects, and does not repeat a URL that may hold a password', () => {
    const problems = problemsOf({ PORT: 'abc', SECURE_COOKIES: 'maybe', DATABASE_URL: 'mysql://root:hunter2@db/shop', WORKER_INTERVAL_MS: '-5', LOG_LEVEL: 'loud' });
    expect(problems).toEqual(expect.arrayContaining([
      'PORT: expected a port number (1–65535), got "abc"',
      'SECURE_COOKIES: expected true or false, got "maybe"',
      'DATABASE_URL: expected a URL starting with postgres:// or postgresql://',
      'WORKER_INTERVAL_MS: expected a number of milliseconds (10 or more), got "-5"',
      'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ]));
    expect(problems.join('\n')).not.toContain('hunter2');
    expect(problemsOf({ EMBEDDED_PG_PORT: '70000' })).toEqual(['EMBEDDED_PG_PORT: expected a port number (1–65535), got "70000"']);
  });

  it('refuses a payment recovery limit that is not longer than the payment gateway timeout', () => {
    expect(problemsOf({ PAYMENT_GATEWAY_TIMEOUT_MS: '30000', PAYMENT_OPERATION_STALE_SECONDS: '30' })).toEqual([
      'PAYMENT_OPERATION_STALE_SECONDS: must be longer than PAYMENT_GATEWAY_TIMEOUT_MS (30000 ms), or the recovery job could settle a payment call still waiting for its answer; got 30 s',
    ]);
    expect(problemsOf({ PAYMENT_OPERATION_STALE_SECONDS: '15' })[0]).toContain('PAYMENT_GATEWAY_TIMEOUT_MS (20000 ms)');
    expect(loadConfig({ PAYMENT_GATEWAY_TIMEOUT_MS: '29999', PAYMENT_OPERATION_STALE_SECONDS: '30' })).toMatchObject({ paymentOperationStaleSeconds: 30, placement: { gatewayTimeoutMs: 29999 } });
  });

  it('reads booleans in their usual spellings and treats an empty value as unset', () => {
    expect(loadConfig({ SECURE_COOKIES: 'TRUE' }).secureCookies).toBe(true);
    expect(loadConfig({ SECURE_COOKIES: 'off' }).secureCookies).toBe(false);
    expect(loadConfig({ PORT: '', EXPORT_XSL: '' })).toMatchObject({ port: 3000, exportXslPath: undefined });
  });

  it('seeds nothing with DATABASE_URL or in production unless DEMO says so', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db/shop', SESSION_SECRET: SECRET }).demo).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', SESSION_SECRET: SECRET }).demo).toBe(false);
    expect(loadConfig({ DATABASE_URL: 'postgres://db/shop', SESSION_SECRET: SECRET, DEMO: '1' }).demo).toBe(true);
  });

  it('refuses the demo secret, a missing or short secret, and insecure cookies on https in production', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([expect.stringMatching(/^SESSION_SECRET: required in production; set a random string of at least 32 characters/)]);
    expect(problemsOf({ NODE_ENV: 'production', SESSION_SECRET: DEMO_SESSION_SECRET })).toEqual([expect.stringMatching(/^SESSION_SECRET: the demo's secret is published/)]);
    expect(problemsOf({ NODE_ENV: 'production', SESSION_SECRET: 'short-secret' })).toEqual([expect.stringMatching(/^SESSION_SECRET: too short for production \(12 characters\)/)]);
    expect(problemsOf({ DATABASE_URL: 'postgres://db/shop' })).toEqual([expect.stringMatching(/^SESSION_SECRET: required outside the demo/)]);
    expect(problemsOf({ NODE_ENV: 'production', SESSION_SECRET: SECRET, BASE_URL: 'https://shop.example' }))
      .toEqual(['SECURE_COOKIES: must be true when BASE_URL is https:// (cookies would be sent without the Secure flag)']);
    expect(loadConfig({ NODE_ENV: 'production', SESSION_SECRET: SECRET, BASE_URL: 'https://shop.example', SECURE_COOKIES: 'true' })).toMatchObject({ production: true, secureCookies: true });
  });

  it('lets command-line tools that serve no pages run without a session secret', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db/shop' }, { serving: false }).databaseUrl).toBe('postgres://db/shop');
  });
});
