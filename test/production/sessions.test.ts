/**
 * A visitor gets no session row until something must be kept: looking around (pages, search, 404s, the login and
 * register forms) and filling a basket store nothing; forms carry the signed first-visit token, accepted while there is no session or only a guest's (one kept from before).
 */
import request from 'supertest';
import { checkoutToReview, guestSessionCookie, place } from '../helpers/shopping';
import { csrfToken, newAgent, postForm, productId, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp({ registerRateLimit: { windowMs: 60_000, max: 2 } }); });
afterAll(async () => { await t.close(); });

const sessionRows = async () => Number((await t.sql<{ n: string }>('select count(*) as n from session'))[0].n);
const setsSession = (res: request.Response) => /orderflow\.sid=/.test(String(res.headers['set-cookie'] ?? ''));

describe('sessions are stored only when needed', () => {
  it('stores no session for 50 cookieless visits to pages, search, the basket, login, register and a 404', async () => {
    const before = await sessionRows();
    const paths = ['/', '/cart', '/login', '/register', '/?q=coffee', '/no-such-page', '/products/P-1013', '/customer-center?CC=Carts'];
    for (let i = 0; i < 50; i++) {
      const res = await request(t.app).get(paths[i % paths.length]);
      expect([200, 302, 404]).toContain(res.status);
      expect(setsSession(res)).toBe(false);
    }
    expect(await sessionRows()).toBe(before);
  });

  it('logs a first-time visitor in from the login page with its first-visit token; then only the session token counts', async () => {
    const agent = newAgent(t);
    const token = await csrfToken(agent, '/login');
    expect(token).toMatch(/^a\./); // the signed double-submit token, no session behind it
    const res = await agent.post('/login').type('form').send({ _csrf: token, email: 'shopper@orderflow.test', password: 'shopper-pass-1' });
    expect(res.status).toBe(303);
    expect(setsSession(res)).toBe(true);
    expect((await agent.get('/customer-center?CC=Carts')).status).toBe(200);
    // With a session, the first-visit token is refused; the page's own (session) token works.
    const add = { productId: await productId(t, 'P-1013'), quantity: 1 };
    expect((await agent.post('/cart/add').type('form').send({ _csrf: token, ...add })).status).toBe(403);
    const own = await csrfToken(agent, '/cart');
    expect(own).not.toMatch(/^a\./);
    expect((await agent.post('/cart/add').type('form').send({ _csrf: own, ...add })).status).toBe(303);
  });

  it('stores no session for a guest’s basket, its message, nor its placed order: the receipt is kept in a signed cookie', async () => {
    const before = await sessionRows();
    const agent = newAgent(t);
    const res = await postForm(agent, '/cart/add', { productId: await productId(t, 'P-1014'), quantity: 1 }, '/products/P-1014');
    expect(res.status).toBe(303);
    expect(setsSession(res)).toBe(false); // the message travels in a signed cookie (src/http/flash.ts)
    const basket = await agent.get('/cart');
    expect(basket.text).toContain('P-1014');
    expect(basket.text).toContain('Added to your basket.');
    const number = await checkoutToReview(t, agent);
    const placed = await place(agent, number);
    expect(placed.status).toBe(303);
    expect(setsSession(placed)).toBe(false);
    expect(String(placed.headers['set-cookie'])).toMatch(/orderflow\.placed=[^;]+; Max-Age=\d+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax/);
    expect((await agent.get(placed.headers.location).expect(200)).text).toContain(number);
    expect(await sessionRows()).toBe(before);
  });

  it('takes a guest’s first-visit token from a page opened before placing, until the guest logs in', async () => {
    const agent = newAgent(t);
    const firstVisit = await csrfToken(agent, '/products/P-1014'); // a second tab, opened before the order
    await guestSessionCookie(t, agent);
    const add = { productId: await productId(t, 'P-1014'), quantity: 1 };
    expect((await agent.post('/cart/add').type('form').send({ _csrf: firstVisit, ...add })).status).toBe(303);
    expect((await agent.post('/cart/add').type('form').send({ _csrf: firstVisit + 'x', ...add })).status).toBe(403);
    const login = await agent.post('/login').type('form').send({ _csrf: firstVisit, email: 'shopper@orderflow.test', password: 'shopper-pass-1' });
    expect(login.status).toBe(303);
    expect((await agent.post('/cart/add').type('form').send({ _csrf: firstVisit, ...add })).status).toBe(403);
  });

  it('limits registrations per address, with the message on the register page and the typed values kept', async () => {
    const register = async (n: number) => postForm(newAgent(t), '/register', { name: `Rate ${n}`, email: `rate-${n}-${Date.now()}@example.test`, password: 'long-enough-1' }, '/register');
    expect((await register(1)).status).toBe(303);
    expect((await register(2)).status).toBe(303);
    const third = await register(3);
    expect(third.status).toBe(429);
    expect(third.text).toContain('Too many accounts were created from your network');
    expect(third.text).toContain('value="Rate 3"');
    expect(await t.sql(`select 1 from users where name = 'Rate 3'`)).toEqual([]);
  });
});
