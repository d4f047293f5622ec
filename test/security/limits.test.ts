import request from 'supertest';
import { csrfToken, login, newAgent, postForm, productId, startTestApp, type TestApp } from '../helpers/test-app';

/** Oversized bodies (413) and login brute force (429): both refused before any work is done. */
let t: TestApp;
beforeAll(async () => { t = await startTestApp({ loginRateLimit: { windowMs: 60_000, max: 5 } }); });
afterAll(async () => { await t.close(); });

async function counts(): Promise<string> {
  return JSON.stringify(await t.sql(`select (select count(*) from orders)::int as orders, (select count(*) from order_lines)::int as lines,
    (select count(*) from users)::int as users, (select count(*) from api_keys)::int as keys, (select count(*) from outbox_messages)::int as mails`));
}

describe('oversized bodies', () => {
  it('answer 413 with a clear page for a too-large form, a too-large JSON body and too many fields — and change nothing', async () => {
    const agent = newAgent(t);
    await login(agent, 'shopper@orderflow.test', 'shopper-pass-1');
    const id = await productId(t, 'P-1045');
    const before = await counts();
    const token = await csrfToken(agent);
    const big = 'x'.repeat(70 * 1024);
    const tooManyFields = Object.fromEntries(Array.from({ length: 250 }, (_v, i) => [`f${i}`, '1']));
    const sent: [string, request.Response][] = [
      ['form, basket', await agent.post('/cart/add').type('form').send({ _csrf: token, productId: id, quantity: 1, junk: big })],
      ['form, named cart', await agent.post('/customer-center/carts').type('form').send({ _csrf: token, name: big })],
      ['form, checkout comment', await agent.post('/checkout/place').type('form').send({ _csrf: token, orderNumber: 'ORDER1', customerComment: big })],
      ['form, login', await newAgent(t).post('/login').type('form').send({ email: 'a@b.c', password: big })],
      ['JSON, basket', await agent.post('/cart/add').send({ _csrf: token, productId: id, quantity: 1, junk: big })],
      ['too many fields', await agent.post('/cart/add').type('form').send({ _csrf: token, productId: id, quantity: 1, ...tooManyFields })],
    ];
    for (const [what, res] of sent) {
      expect({ what, status: res.status }).toEqual({ what, status: 413 });
    }
    for (const [, res] of sent.slice(0, 5)) {
      expect(res.text).toContain('too large');
      expect(res.text).not.toMatch(/PayloadTooLargeError|at .*node_modules/);
    }
    expect(await counts()).toBe(before);
  });

  it('answers 413 in the API’s JSON error format above 256 kB; an unknown key is refused before its body is read', async () => {
    const big = JSON.stringify({ stateId: 1, junk: 'x'.repeat(300 * 1024) });
    const send = (key: string) => request(t.app).post('/api/v1/orders/ORDER1001/state').set('Authorization', `Bearer ${key}`)
      .set('Content-Type', 'application/json').send(big);
    const unknown = await send('of_live_none');
    expect(unknown.status).toBe(401);
    const [{ id }] = await t.sql<{ id: number }>(`select id from users where email = 'admin@orderflow.test'`);
    const { secret } = await t.services.api.createKey({ name: 'Limits', scopes: ['orders:write'] }, id);
    const res = await send(secret);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('TOO_LARGE');
  });

  it('still takes a normal-sized form (the limit is not too tight)', async () => {
    const agent = newAgent(t);
    const res = await postForm(agent, '/cart/add', { productId: await productId(t, 'P-1046'), quantity: 1, note: 'y'.repeat(20_000) });
    expect(res.status).toBe(303);
  });
});

describe('login brute force', () => {
  const attempt = (agent: ReturnType<typeof newAgent>, email: string, password: string) => postForm(agent, '/login', { email, password }, '/login');

  it('is rate limited per account; spelling the e-mail in capitals does not start a new count', async () => {
    const agent = newAgent(t);
    const statuses: number[] = [];
    const spellings = ['buyer2@acme.test', 'BUYER2@ACME.TEST', 'Buyer2@Acme.Test'];
    for (let i = 0; i < 8; i++) statuses.push((await attempt(agent, spellings[i % 3], `wrong-${i}`)).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    const limited = await attempt(agent, 'buyer2@acme.test', 'buyer-pass-2');
    expect(limited.status).toBe(429);
    expect(limited.text).toContain('Too many login attempts');
    expect(limited.headers['retry-after']).toBeDefined();
    // Not logged in by the right password while limited.
    expect((await agent.get('/customer-center?CC=Carts')).status).toBe(302);
    // A fresh client (new session, new cookie) is limited just the same: the count is not kept in the session.
    expect((await attempt(newAgent(t), 'buyer2@acme.test', 'buyer-pass-2')).status).toBe(429);
  });

  it('counts guesses at unknown accounts too, and does not count successful logins', async () => {
    const agent = newAgent(t);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await attempt(agent, 'nobody-here@example.test', `guess-${i}`)).status);
    expect(statuses.at(-1)).toBe(429);
    for (let i = 0; i < 7; i++) {
      const res = await attempt(newAgent(t), 'shopper@orderflow.test', 'shopper-pass-1');
      expect(res.status).toBe(303);
    }
  });

  it('answers malformed credentials (repeated or missing fields) with 4xx, never a 500', async () => {
    const agent = newAgent(t);
    const token = await csrfToken(agent, '/login');
    const bodies = [
      `_csrf=${encodeURIComponent(token)}&email=shopper%40orderflow.test&email=x%40y.z&password=shopper-pass-1`,
      `_csrf=${encodeURIComponent(token)}&email=shopper%40orderflow.test&password=a&password=b`,
      `_csrf=${encodeURIComponent(token)}&email=&password=`,
      `_csrf=${encodeURIComponent(token)}`,
      `_csrf=${encodeURIComponent(token)}&email=${encodeURIComponent("' OR 1=1 --")}&password=${encodeURIComponent("' OR '1'='1")}`,
      `_csrf=${encodeURIComponent(token)}&email=shopper%40orderflow.test%00&password=x`,
    ];
    for (const body of bodies) {
      const res = await agent.post('/login').type('form').send(body);
      expect({ body, ok: res.status >= 400 && res.status < 500 }).toEqual({ body, ok: true });
    }
    expect((await agent.get('/customer-center?CC=Carts')).status).toBe(302);
  });
});
