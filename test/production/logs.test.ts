/**
 * Structured logs: one line per request (method, path, status, time, request id), JSON in production and readable
 * lines in development; the request id is on error pages, in the X-Request-Id header and in the API's errors; and no
 * line ever holds a password, card number, token, API key or session id.
 */
import { Writable } from 'node:stream';
import request from 'supertest';
import { configureLogging, log } from '../../src/shared/log';
import { APPROVED_CARD, addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
let lines: string[] = [];
const capture = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });

beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => {
  configureLogging({ production: false, level: 'warn' });
  await t.close();
});
beforeEach(() => { lines = []; });

describe('request logs', () => {
  it('writes one JSON line per request in production, and the request id reaches the page, the header and the API', async () => {
    configureLogging({ production: true, level: 'info', destination: capture });
    const missing = await request(t.app).get('/no-such-page?q=secret-query').set('Accept', 'text/html');
    expect(missing.status).toBe(404);
    const id = missing.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(missing.text).toContain(`data-testid="request-id">${id}<`);
    const json = lines.map((l) => JSON.parse(l));
    expect(json).toContainEqual(expect.objectContaining({ msg: 'request', reqId: id, method: 'GET', path: '/no-such-page', status: 404, ms: expect.any(Number), level: 30 }));
    expect(lines.join('\n')).not.toContain('secret-query'); // the query string is not logged

    const api = await request(t.app).get('/api/v1/orders').set('X-Request-Id', 'proxy-given-id-123');
    expect(api.status).toBe(401);
    expect(api.body.error).toMatchObject({ code: 'UNAUTHENTICATED', requestId: 'proxy-given-id-123' });
    expect(api.headers['x-request-id']).toBe('proxy-given-id-123');
  });

  it('writes readable lines in development', async () => {
    configureLogging({ production: false, level: 'info', destination: capture });
    await request(t.app).get('/no-such-page').expect(404);
    expect(lines.some((l) => /INFO: request/.test(l))).toBe(true);
    expect(lines.some((l) => /path: "\/no-such-page"/.test(l))).toBe(true);
    expect(() => JSON.parse(lines[0])).toThrow();
  });

  it('keeps one readable-lines stream per destination, however often logging is configured', async () => {
    const into = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    configureLogging({ production: false, level: 'info', destination: into });
    const listeners = into.listenerCount('close') + into.listenerCount('error') + into.listenerCount('unpipe');
    for (let i = 0; i < 15; i++) configureLogging({ production: false, level: 'info', destination: into });
    expect(into.listenerCount('close') + into.listenerCount('error') + into.listenerCount('unpipe')).toBe(listeners);
    log.info('still written once');
    expect(lines.filter((l) => l.includes('still written once'))).toHaveLength(1);
  });

  it('never logs a password, card number, CSRF token, API key or session id, even at debug and on failures', async () => {
    configureLogging({ production: true, level: 'trace', destination: capture });
    const secrets: string[] = [];
    const agent = newAgent(t);
    await postForm(agent, '/login', { email: 'shopper@orderflow.test', password: 'wrong-password-123' }, '/login');
    const res = await login(agent, 'shopper@orderflow.test', 'shopper-pass-1');
    secrets.push('wrong-password-123', 'shopper-pass-1', decodeURIComponent(/orderflow\.sid=([^;]+)/.exec(String(res.headers['set-cookie']))![1]));
    secrets.push(await csrfToken(agent, '/cart'));
    await t.sql(`update stock_levels set quantity = 100 where product_id = (select id from products where number = 'P-1018')`);
    await addToBasket(t, agent, 'P-1018');
    const number = await checkoutToReview(t, agent);
    expect((await place(agent, number, APPROVED_CARD)).status).toBe(303);
    secrets.push('4242 4242 4242 4242', '4242424242424242');
    // A failing request carrying secrets in its cookie, authorization header and body.
    const key = `of_live_${'k'.repeat(43)}`;
    secrets.push(key);
    await request(t.app).get('/api/v1/orders').set('Authorization', `Bearer ${key}`).set('Cookie', `orderflow.sid=${encodeURIComponent(secrets[2])}`);
    const staff = await staffAgent(t);
    await staff.get('/admin/orders?cursor=not-a-cursor');

    // Code that logs carelessly is caught too: secret fields by name, card numbers and cookies in messages.
    log.warn({ password: 'shopper-pass-1', form: { cardNumber: '4242 4242 4242 4242' }, headers: { cookie: `orderflow.sid=${secrets[2]}`, authorization: `Bearer ${key}` } },
      `paid with 4242-4242-4242-4242, cookie orderflow.sid=${secrets[2]}; Authorization: Bearer ${key}`);
    log.error({ err: new Error(`insert into users values ('shopper-pass-1') - duplicate key`) }, 'failed');

    const all = lines.join('\n');
    expect(all).toContain('[redacted]');
    expect(all).toContain('"msg":"request"'); // the log is not empty: the check below looks at real lines
    for (const s of secrets) expect({ secret: s.slice(0, 10), inLog: all.includes(s) }).toEqual({ secret: s.slice(0, 10), inLog: false });
  });
});
