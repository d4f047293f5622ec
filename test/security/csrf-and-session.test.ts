import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { ADDRESS, APPROVED_CARD, addToBasket, checkoutToReview, guestSessionCookie } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, productId, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';
import { type Customer, placeOrder, registerCustomer, topUp } from './security-helpers';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const sessionId = (res: request.Response) => /orderflow\.sid=([^;]+)/.exec(String(res.headers['set-cookie']))?.[1];

/** Everything a refused form could have changed, as one string to compare. */
async function dbState(): Promise<string> {
  const parts = await Promise.all([
    t.sql('select id, number, type, name, deleted, basket_status, state_id, completed, billing_name, customer_comment, version from orders order by id'),
    t.sql('select id, order_id, product_id, quantity from order_lines order by id'),
    t.sql('select id, email, name from users order by id'),
    t.sql('select * from shops order by id'),
    t.sql('select id, name, revoked_at from api_keys order by id'),
    t.sql('select count(*)::int as n from order_state_history'),
  ]);
  return JSON.stringify(parts);
}

interface FormCase { name: string; agent: () => TestAgent; path: string; form: () => Record<string, string | number> }

describe('CSRF: a state-changing POST needs the token of its own session', () => {
  let customer: Customer;
  let staff: TestAgent;
  let reviewNumber: string;
  let cartNumber: string;
  let orderNumber: string;
  let orderVersion: number;
  let cancelledId: number;

  beforeAll(async () => {
    staff = await staffAgent(t);
    customer = await registerCustomer(t, 'Cleo Csrf');
    orderNumber = await placeOrder(t, customer.agent, 'P-1030');
    [{ version: orderVersion }] = await t.sql('select version from orders where number = $1', [orderNumber]);
    [{ id: cancelledId }] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = 'Standard order flow' and s.name = 'Cancelled'`);
    expect((await postForm(customer.agent, '/customer-center/carts', { name: 'Csrf list' }, '/customer-center?CC=Carts')).status).toBe(303);
    [{ number: cartNumber }] = await t.sql(`select number from orders where name = 'Csrf list'`);
    await topUp(t, 'P-1031');
    await addToBasket(t, customer.agent, 'P-1031');
    reviewNumber = await checkoutToReview(t, customer.agent);
  }, 60_000);

  const cases = (): FormCase[] => [
    { name: 'basket: add', agent: () => customer.agent, path: '/cart/add', form: () => ({ productId: 1, quantity: 1 }) },
    { name: 'basket: empty', agent: () => customer.agent, path: '/cart/empty', form: () => ({}) },
    { name: 'checkout: addresses', agent: () => customer.agent, path: '/checkout/addresses', form: () => ({ ...ADDRESS, billing_name: 'Forged Name' }) },
    { name: 'checkout: place', agent: () => customer.agent, path: '/checkout/place', form: () => ({ orderNumber: reviewNumber, customerComment: 'forged', ...APPROVED_CARD }) },
    { name: 'checkout: request a quote', agent: () => customer.agent, path: '/checkout/quote', form: () => ({ customerComment: 'forged' }) },
    { name: 'customer center: new named cart', agent: () => customer.agent, path: '/customer-center/carts', form: () => ({ name: 'forged cart' }) },
    { name: 'customer center: rename cart', agent: () => customer.agent, path: `/customer-center/carts/${cartNumber}/rename`, form: () => ({ name: 'forged' }) },
    { name: 'customer center: delete cart', agent: () => customer.agent, path: `/customer-center/carts/${cartNumber}/delete`, form: () => ({}) },
    { name: 'customer center: order again', agent: () => customer.agent, path: `/customer-center/orders/${orderNumber}/reorder`, form: () => ({}) },
    { name: 'admin: order state', agent: () => staff, path: `/admin/orders/${orderNumber}/state`, form: () => ({ stateId: cancelledId, version: orderVersion, message: '' }) },
    { name: 'admin: shop settings', agent: () => staff, path: '/admin/shop-settings', form: () => ({ name: 'Forged shop' }) },
    { name: 'admin: API key', agent: () => staff, path: '/admin/settings/api-keys', form: () => ({ name: 'forged key', scopes: 'orders:read' }) },
    { name: 'admin: bulk state', agent: () => staff, path: '/admin/orders/bulk-state', form: () => ({ numbers: orderNumber, stateId: cancelledId }) },
    { name: 'logout', agent: () => customer.agent, path: '/logout', form: () => ({}) },
  ];

  it('answers 403 without a token, with a forged one, and with another session’s token — and changes nothing', async () => {
    const stranger = newAgent(t);
    const foreignToken = await csrfToken(stranger);
    const before = await dbState();
    for (const c of cases()) {
      const agent = c.agent();
      await agent.get('/');
      const variants: [string, Record<string, string | number>][] = [
        ['no token', c.form()],
        ['forged token', { ...c.form(), _csrf: 'forged-token-value' }],
        ['empty token', { ...c.form(), _csrf: '' }],
        ['another session’s token', { ...c.form(), _csrf: foreignToken }],
      ];
      for (const [variant, body] of variants) {
        const res = await agent.post(c.path).type('form').send(body);
        expect({ form: c.name, variant, status: res.status }).toEqual({ form: c.name, variant, status: 403 });
      }
      // The same in a header or a JSON body is no better.
      const header = await agent.post(c.path).set('x-csrf-token', foreignToken).type('form').send(c.form());
      expect({ form: c.name, variant: 'foreign header', status: header.status }).toEqual({ form: c.name, variant: 'foreign header', status: 403 });
      const json = await agent.post(c.path).send({ ...c.form(), _csrf: 'forged-token-value' });
      expect({ form: c.name, variant: 'json', status: json.status }).toEqual({ form: c.name, variant: 'json', status: 403 });
    }
    expect(await dbState()).toBe(before);
    // Still logged in (the forged logout did nothing), and still at the review step with the same order.
    expect((await customer.agent.get('/customer-center?CC=Carts')).status).toBe(200);
    const [order] = await t.sql('select completed, type from orders where number = $1', [reviewNumber]);
    expect(order).toEqual({ completed: false, type: 'order' });
  });

  it('accepts the same forms with the page’s own token (so the 403s above are about the token)', async () => {
    const own = await postForm(customer.agent, `/customer-center/carts/${cartNumber}/rename`, { name: 'Renamed for real' }, '/customer-center?CC=Carts');
    expect(own.status).toBe(303);
    const [{ name }] = await t.sql('select name from orders where number = $1', [cartNumber]);
    expect(name).toBe('Renamed for real');
    const viaHeader = await customer.agent.post('/customer-center/carts').set('x-csrf-token', await csrfToken(customer.agent)).type('form').send({ name: 'Header cart' });
    expect(viaHeader.status).toBe(303);
  });

  it('refuses a login and a registration without a valid token, and no session is logged in', async () => {
    const agent = newAgent(t);
    await agent.get('/login');
    for (const body of [{}, { _csrf: 'forged' }]) {
      const res = await agent.post('/login').type('form').send({ email: 'shopper@orderflow.test', password: 'shopper-pass-1', ...body });
      expect(res.status).toBe(403);
      expect(String(res.headers['set-cookie'] ?? '')).not.toMatch(/orderflow\.sid=/);
      const reg = await agent.post('/register').type('form').send({ name: 'Forged', email: 'forged-reg@example.test', password: 'forged-password-1', ...body });
      expect(reg.status).toBe(403);
    }
    expect((await agent.get('/customer-center?CC=Carts')).status).toBe(302);
    expect(await t.sql(`select id from users where email = 'forged-reg@example.test'`)).toEqual([]);
  });

  it('binds a first visit’s basket token to that visitor: another visitor cannot use it, nor a made-up one', async () => {
    const id = await productId(t, 'P-1036');
    const first = newAgent(t);
    const page = await first.get('/products/P-1036');
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const other = newAgent(t);
    await other.get('/products/P-1036');
    const stolen = await other.post('/cart/add').type('form').send({ _csrf: token, productId: id, quantity: 1 });
    expect(stolen.status).toBe(403);
    const madeUp = await request(t.app).post('/cart/add').set('Cookie', 'orderflow.csrf=AAAAAAAAAAAAAAAAAAAAAAAA').type('form').send({ _csrf: 'a.forged', productId: id, quantity: 1 });
    expect(madeUp.status).toBe(403);
    expect(await t.sql('select 1 from order_lines where product_id = $1', [id])).toEqual([]);
    // The visitor it was given to can use it.
    expect((await first.post('/cart/add').type('form').send({ _csrf: token, productId: id, quantity: 1 })).status).toBe(303);
    // Once accepted (the app keeps accepted tokens), it is still that visitor's alone, and still the only one that counts.
    expect((await other.post('/cart/add').type('form').send({ _csrf: token, productId: id, quantity: 1 })).status).toBe(403);
    expect((await first.post('/cart/add').type('form').send({ _csrf: token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'), productId: id, quantity: 1 })).status).toBe(403);
    expect((await first.post('/cart/add').type('form').send({ _csrf: token, productId: id, quantity: 1 })).status).toBe(303);
  });

  it('keeps GET requests free of side effects (a link cannot add to the basket or log out)', async () => {
    const agent = newAgent(t);
    await login(agent, 'shopper@orderflow.test', 'shopper-pass-1');
    const id = await productId(t, 'P-1032');
    for (const path of [`/cart/add?productId=${id}&quantity=1`, '/logout', '/cart/empty']) {
      expect([404, 405]).toContain((await agent.get(path)).status);
    }
    expect(await t.sql('select 1 from order_lines where product_id = $1', [id])).toEqual([]);
    expect((await agent.get('/customer-center?CC=Carts')).status).toBe(200);
  });
});

describe('sessions', () => {
  it('gives a new session id at login, and the id from before login is not logged in (no fixation)', async () => {
    const victim = newAgent(t);
    expect(sessionId(await victim.get('/login'))).toBeUndefined(); // looking stores no session
    const before = await guestSessionCookie(t, victim); // a guest's order (its receipt): a session from before the login
    const res = await postForm(victim, '/login', { email: 'shopper@orderflow.test', password: 'shopper-pass-1' }, '/login');
    expect(res.status).toBe(303);
    const after = sessionId(res);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    expect((await victim.get('/customer-center?CC=Carts')).status).toBe(200);
    // An attacker who planted (or read) the pre-login id gets nothing from it.
    const attacker = request(t.app).get('/customer-center?CC=Carts').set('Cookie', `orderflow.sid=${before}`);
    const seen = await attacker;
    expect(seen.status).toBe(302);
    expect(seen.headers.location).toMatch(/^\/login/);
  });

  it('gives a new session id at registration', async () => {
    const agent = newAgent(t);
    const before = await guestSessionCookie(t, agent);
    const res = await postForm(agent, '/register', { name: 'Fixie Fresh', email: `fix-${Date.now()}@example.test`, password: 'fixation-pass-1' }, '/register');
    expect(res.status).toBe(303);
    expect(sessionId(res)).toBeDefined();
    expect(sessionId(res)).not.toBe(before);
    const old = await request(t.app).get('/customer-center?CC=Carts').set('Cookie', `orderflow.sid=${before}`);
    expect(old.status).toBe(302);
  });

  it('ends the session at logout: the old cookie no longer logs anyone in', async () => {
    const agent = newAgent(t);
    const res = await login(agent, 'shopper@orderflow.test', 'shopper-pass-1');
    const loggedIn = sessionId(res)!;
    expect((await request(t.app).get('/customer-center?CC=Carts').set('Cookie', `orderflow.sid=${loggedIn}`)).status).toBe(200);
    expect((await postForm(agent, '/logout', {})).status).toBe(303);
    const replay = await request(t.app).get('/customer-center?CC=Carts').set('Cookie', `orderflow.sid=${loggedIn}`);
    expect(replay.status).toBe(302);
    expect(replay.headers.location).toMatch(/^\/login/);
  });

  it('ignores a made-up or tampered session cookie', async () => {
    const agent = newAgent(t);
    const res = await login(agent, 'shopper@orderflow.test', 'shopper-pass-1');
    const sid = decodeURIComponent(sessionId(res)!);
    // s:<id>.<signature>: change one character of the id, keep the signature.
    const tampered = sid.replace(/^s:(.)/, (_m, c: string) => `s:${c === 'a' ? 'b' : 'a'}`);
    for (const cookie of [encodeURIComponent(tampered), 'made-up', encodeURIComponent(sid.split('.')[0])]) {
      const r = await request(t.app).get('/customer-center?CC=Carts').set('Cookie', `orderflow.sid=${cookie}`);
      expect(r.status).toBe(302);
    }
  });
});
