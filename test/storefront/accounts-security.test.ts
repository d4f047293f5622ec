import request from 'supertest';
import { csrfToken, login, newAgent, postForm, productId, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';
import { guestSessionCookie } from '../helpers/shopping';

let t: TestApp;
beforeAll(async () => { t = await startTestApp({ loginRateLimit: { windowMs: 60_000, max: 5 } }); });
afterAll(async () => { await t.close(); });

const sessionId = (res: request.Response) => /orderflow\.sid=([^;]+)/.exec(String(res.headers['set-cookie']))?.[1];

describe('accounts and the security baseline', () => {
  it('registers, logs out and logs in again; the password is stored as a scrypt hash', async () => {
    const agent = newAgent(t);
    const res = await postForm(agent, '/register', { name: 'Nora New', email: 'Nora@Example.test', password: 'correct horse battery' }, '/register');
    expect(res.status).toBe(303);
    expect((await agent.get('/')).text).toContain('Nora New');
    const [user] = await t.sql(`select email, role, password_hash from users where email = 'nora@example.test'`);
    expect(user.role).toBe('shopper');
    expect(user.password_hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(user.password_hash).not.toContain('correct horse');

    await postForm(agent, '/logout', {});
    expect((await agent.get('/')).text).not.toContain('Nora New');
    await login(agent, 'nora@example.test', 'correct horse battery');

    const dup = await postForm(newAgent(t), '/register', { name: 'Other', email: 'nora@example.test', password: 'another password' }, '/register');
    expect(dup.status).toBe(422);
    expect(dup.text).toContain('An account with that e-mail already exists.');
    const short = await postForm(newAgent(t), '/register', { name: 'X', email: 'x@example.test', password: 'short' }, '/register');
    expect(short.status).toBe(422);
    expect(short.text).toContain('at least 10 characters');
  });

  it('gives a new session id at login (no session fixation)', async () => {
    const agent = newAgent(t);
    // A session from before the login (a guest's order and its receipt; looking at /login stores none).
    const before = await guestSessionCookie(t, agent);
    const res = await postForm(agent, '/login', { email: 'shopper@orderflow.test', password: 'shopper-pass-1' }, '/login');
    expect(res.status).toBe(303);
    const after = sessionId(res);
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
  });

  it('refuses wrong credentials without saying which part was wrong', async () => {
    const res = await postForm(newAgent(t), '/login', { email: 'shopper@orderflow.test', password: 'wrong' }, '/login');
    expect(res.status).toBe(401);
    expect(res.text).toContain('The e-mail or password is not correct.');
    const unknown = await postForm(newAgent(t), '/login', { email: 'nobody@example.test', password: 'wrong' }, '/login');
    expect(unknown.text).toContain('The e-mail or password is not correct.');
  });

  it('rate-limits repeated failed logins', async () => {
    const statuses: number[] = [];
    const agent = newAgent(t);
    for (let i = 0; i < 7; i++) {
      statuses.push((await postForm(agent, '/login', { email: 'buyer2@acme.test', password: `guess-${i}` }, '/login')).status);
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.at(-1)).toBe(429);
    // Even the right password waits out the window now; other accounts are not affected.
    expect((await postForm(agent, '/login', { email: 'buyer2@acme.test', password: 'buyer-pass-2' }, '/login')).status).toBe(429);
    await login(newAgent(t), 'buyer1@acme.test', 'buyer-pass-1');
  });

  it('refuses a state-changing POST without or with a wrong CSRF token (403) and changes nothing', async () => {
    const agent = newAgent(t);
    await agent.get('/');
    const id = await productId(t, 'P-1040');
    const none = await agent.post('/cart/add').type('form').send({ productId: id, quantity: 1 });
    expect(none.status).toBe(403);
    expect(none.text).toContain('This form was not sent');
    expect(none.text).not.toContain('Reload'); // that would send the stale form again
    const wrong = await agent.post('/cart/add').type('form').send({ productId: id, quantity: 1, _csrf: 'forged' });
    expect(wrong.status).toBe(403);
    const [{ n }] = await t.sql('select count(*)::int as n from order_lines where product_id = $1', [id]);
    expect(n).toBe(0);
  });

  it('a form sent after logging out in another window: not sent, with a way to log in and back to the page', async () => {
    const agent = newAgent(t);
    await login(agent, 'shopper@orderflow.test', 'shopper-pass-1');
    const token = await csrfToken(agent, '/customer-center?CC=Carts');
    await postForm(agent, '/logout', {}, '/customer-center?CC=Carts');
    const stale = await agent.post('/customer-center/carts').set('Host', 'shop.test').set('Referer', 'http://shop.test/customer-center?CC=Carts').type('form').send({ _csrf: token, name: 'Christmas' });
    expect(stale.status).toBe(403);
    expect(stale.text).toContain('href="/login?next=%2Fcustomer-center%3FCC%3DCarts">Log in</a>');
    expect(stale.text).toContain('<a href="/customer-center?CC=Carts">Back to the page</a>');
  });

  it('keeps staff pages for staff: guests are sent to log in, customers get 403', async () => {
    const guest = await newAgent(t).get('/admin');
    expect(guest.status).toBe(302);
    expect(guest.headers.location).toBe('/login?next=%2Fadmin');
    const customer = newAgent(t);
    await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
    expect((await customer.get('/admin')).status).toBe(403);
    expect((await customer.get('/admin/mail')).status).toBe(403);
    const staff = await staffAgent(t);
    expect((await staff.get('/admin')).status).toBe(200);
  });

  it('sends the security headers and httpOnly, SameSite cookies', async () => {
    const res = await request(t.app).get('/login');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['x-powered-by']).toBeUndefined();
    const signedIn = await postForm(newAgent(t), '/login', { email: 'shopper@orderflow.test', password: 'shopper-pass-1' }, '/login');
    expect(String(signedIn.headers['set-cookie'])).toMatch(/orderflow\.sid=.*HttpOnly; SameSite=Lax/);
  });

  it('answers an oversized form with 413 and a clear page', async () => {
    const agent = newAgent(t);
    const token = await csrfToken(agent);
    const res = await agent.post('/cart/add').type('form').send({ _csrf: token, productId: 1, quantity: 1, junk: 'x'.repeat(200_000) });
    expect(res.status).toBe(413);
    expect(res.text).toContain('too large');
  });

  it('never follows an off-site "next" after login', async () => {
    const agent = newAgent(t);
    const res = await postForm(agent, '/login', { email: 'shopper@orderflow.test', password: 'shopper-pass-1', next: '//evil.example/' }, '/login');
    expect(res.headers.location).toBe('/');
  });

  it('escapes what customers type wherever it is shown back', async () => {
    const res = await newAgent(t).get('/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E');
    expect(res.text).not.toContain('<script>alert(1)</script>');
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });
});
