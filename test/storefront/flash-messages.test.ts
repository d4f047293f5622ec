/**
 * Messages for the next page ("Added to your basket.") travel in a signed cookie (src/http/flash.ts): shown once, by
 * the page after the form; no session row is written to keep or drop them; a cookie the shop did not sign is ignored.
 */
import request from 'supertest';
import { FLASH_COOKIE, FlashCookie } from '../../src/http/flash';
import { registerCustomer, placeOrder } from '../security/security-helpers';
import { addToBasket } from '../helpers/shopping';
import { csrfToken, login, newAgent, productId, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await t.sql(`update stock_levels set quantity = 1000 where product_id in (select id from products where number in ('P-1013', 'P-1014', 'P-1015', 'P-1016'))`);
});
afterAll(async () => { await t.close(); });

const ADDED = 'Added to your basket.';
const sessionRows = async () => Number((await t.sql<{ n: string }>('select count(*) as n from session'))[0].n);
const setCookies = (res: request.Response) => (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
const flashValue = (res: request.Response) => /^orderflow\.flash=([^;]*)/.exec(setCookies(res).find((c) => c.startsWith(`${FLASH_COOKIE}=`)) ?? '')?.[1];
const times = (html: string, text: string) => html.split(text).length - 1;

describe('flash messages', () => {
  it('shows an add’s message once, on the next page, without storing a session', async () => {
    const before = await sessionRows();
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1013');
    const second = await addToBasket(t, agent, 'P-1014');
    expect(flashValue(second)).toBeTruthy();
    const basket = await agent.get('/cart').expect(200);
    expect(times(basket.text, ADDED)).toBe(1); // two adds, one message
    expect(flashValue(basket)).toBe(''); // used up: the cookie is dropped
    expect((await agent.get('/cart').expect(200)).text).not.toContain(ADDED);
    expect(await sessionRows()).toBe(before);
  });

  it('leaves a logged-in shopper’s session row untouched by an add and the page showing its message', async () => {
    const agent = newAgent(t);
    const sid = decodeURIComponent(/orderflow\.sid=([^;]+)/.exec(String((await login(agent, 'shopper@orderflow.test', 'shopper-pass-1')).headers['set-cookie']))![1]).replace(/^s:/, '').replace(/\.[^.]+$/, '');
    await agent.get('/').expect(200); // the welcome message
    const written = async () => (await t.sql('select xmin::text, sess from session where sid = $1', [sid]))[0];
    const before = await written();
    await addToBasket(t, agent, 'P-1015');
    expect((await agent.get('/cart')).text).toContain(ADDED);
    expect(await written()).toEqual(before);
  });

  it('ignores (and drops) a message cookie the shop did not sign', async () => {
    const agent = newAgent(t);
    const real = flashValue(await addToBasket(t, agent, 'P-1016'))!;
    const [, signature] = decodeURIComponent(real).split('.');
    const forged = (messages: unknown) => Buffer.from(JSON.stringify(messages)).toString('base64url');
    const bogus = [{ type: 'success', message: 'Your order is free today.' }];
    const refused = [
      `${forged(bogus)}.${signature}`, // another text under a real signature
      new FlashCookie('another-secret-of-thirty-two-characters', false).encode(bogus as never), // signed with another key
      forged(bogus), // not signed
      'made-up',
    ];
    for (const value of refused) {
      const page = await request(t.app).get('/cart').set('Cookie', `${FLASH_COOKIE}=${encodeURIComponent(value)}`).expect(200);
      expect(page.text).not.toContain('Your order is free today.');
      expect(flashValue(page)).toBe('');
    }
    // The shop's own cookie is shown (from any browser that has it), then dropped.
    const shown = await request(t.app).get('/cart').set('Cookie', `${FLASH_COOKIE}=${real}`).expect(200);
    expect(shown.text).toContain(ADDED);
    expect(flashValue(shown)).toBe('');
  });

  it('keeps a message too long for a cookie in the session, and shows it once', async () => {
    const customer = await registerCustomer(t, 'Long Lines');
    const number = await placeOrder(t, customer.agent, 'P-1017');
    const longName = `Extra long product name ${'x'.repeat(3000)}`;
    await t.sql(`update products set name = $2 where id = $1`, [await productId(t, 'P-1017'), longName]);
    const token = await csrfToken(customer.agent, `/customer-center/orders/${number}`);
    const reorder = await customer.agent.post(`/customer-center/orders/${number}/reorder`).type('form').send({ _csrf: token });
    expect(reorder.status).toBe(303);
    expect(flashValue(reorder)).toBeUndefined();
    const basket = await customer.agent.get('/cart').expect(200);
    expect(times(basket.text, `Added from order ${number}`)).toBe(1);
    expect(basket.text).toContain(longName);
    expect((await customer.agent.get('/cart')).text).not.toContain(`Added from order ${number}`);
  });
});
