import { ADDRESS, addToBasket, methodIds } from '../helpers/shopping';
import { login, newAgent, postForm, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const DAY = 24 * 3600 * 1000;
const storedExpiry = async (sid: string) => (await t.sql<{ expire: Date }>('select expire from session where sid = $1', [sid]))[0].expire.getTime();
const sidOf = (cookie: string) => decodeURIComponent(/orderflow\.sid=([^;]+)/.exec(cookie)![1]).replace(/^s:/, '').replace(/\.[^.]+$/, '');

describe('session expiry (14 days, sliding)', () => {
  it('writes nothing while the session is fresh, and pushes the expiry forward once it is a day old', async () => {
    const agent = newAgent(t);
    const res = await login(agent, 'shopper@orderflow.test', 'shopper-pass-1');
    const sid = sidOf(String(res.headers['set-cookie']));
    await agent.get('/customer-center').expect(200); // shows (and so removes) the "welcome" flash message
    const first = await storedExpiry(sid);
    expect(first).toBeGreaterThan(Date.now() + 13.9 * DAY);

    // A page view of a fresh session: no session write, no new cookie.
    const page = await agent.get('/customer-center').expect(200);
    expect(String(page.headers['set-cookie'] ?? '')).not.toContain('orderflow.sid');
    expect(await storedExpiry(sid)).toBe(first);

    // Two days later (the stored cookie expires in 12 days): the next request saves it with a fresh 14 days.
    const twelveDays = new Date(Date.now() + 12 * DAY).toISOString();
    await t.sql(`update session set sess = jsonb_set(sess::jsonb, '{cookie,expires}', to_jsonb($2::text))::json, expire = $2::timestamptz where sid = $1`, [sid, twelveDays]);
    const later = await agent.get('/customer-center').expect(200);
    expect(String(later.headers['set-cookie'])).toContain('orderflow.sid');
    expect(await storedExpiry(sid)).toBeGreaterThan(Date.now() + 13.9 * DAY);
    expect(later.text).toContain('Shopper'); // still signed in
  });

  it('a form answered with a redirect rewrites the session only when it changed it; a message does not', async () => {
    const agent = newAgent(t);
    const sid = sidOf(String((await login(agent, 'shopper@orderflow.test', 'shopper-pass-1')).headers['set-cookie']));
    // xmin is the transaction that last wrote the row: it stays the same as long as nobody rewrites the session.
    const written = async () => (await t.sql<{ xmin: string; sess: object }>('select xmin::text, sess from session where sid = $1', [sid]))[0];
    await agent.get('/customer-center').expect(200); // shows the "welcome" message
    const before = await written();
    await addToBasket(t, agent, 'P-1001');
    await agent.get('/checkout/addresses').expect(200);
    expect((await postForm(agent, '/checkout/addresses', ADDRESS, '/checkout/addresses')).status).toBe(303);
    expect((await postForm(agent, '/checkout/methods', await methodIds(t, 'STANDARD', 'INVOICE'), '/checkout/methods')).status).toBe(303);
    // A flash message travels in its own signed cookie: the next page shows it, the session row stays as it was.
    expect((await postForm(agent, '/checkout/voucher', { voucherCode: '' }, '/checkout/review')).status).toBe(303);
    expect((await agent.get('/checkout/review')).text).toContain('Voucher removed.');
    expect(await written()).toEqual(before);
  });
});
