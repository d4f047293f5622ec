/**
 * The header's basket count (read with one plain statement when a page renders, then kept in a signed cookie that
 * pages trust for BASKET_COUNT_TTL_MS): each shopper sees the items of their own basket — a returning guest by the
 * basket cookie, a logged-in shopper by their account — never another's; their own changes show on the next page.
 */
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { addToBasket } from '../helpers/shopping';
import { newAgent, postForm, startTestApp, stockAndPrice, type TestApp } from '../helpers/test-app';

const TTL_MS = 1500;
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ basketCountTtlMs: TTL_MS });
  await stockAndPrice(t, ['P-1013', 'P-1014'], 10000, 2500);
});
afterAll(async () => { await t.close(); });

const countIn = (html: string) => Number(/data-testid="mini-cart-count">(\d+)</.exec(html)?.[1] ?? NaN);
const headerCount = async (agent: TestAgent, path = '/products/P-1013') => {
  const res = await agent.get(path);
  expect(res.status).toBe(200);
  return countIn(res.text);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The value of a cookie the browser keeps (supertest's jar). */
const cookieOf = (agent: TestAgent, name: string) => (agent as unknown as { jar: { getCookie(n: string, a: object): { value: string } | undefined } })
  .jar.getCookie(name, { domain: '127.0.0.1', path: '/', secure: false, script: false })?.value;

describe('the header counts the items of the visitor’s own basket', () => {
  it('counts a returning guest’s items across lines, and another guest sees only their own', async () => {
    const kim = newAgent(t);
    await addToBasket(t, kim, 'P-1013', 2);
    await addToBasket(t, kim, 'P-1014', 3);
    await addToBasket(t, kim, 'P-1013', 1);
    const sam = newAgent(t);
    await addToBasket(t, sam, 'P-1014', 1);
    expect(await headerCount(kim)).toBe(6);
    expect(await headerCount(kim, '/')).toBe(6);
    expect(await headerCount(sam)).toBe(1);
  });

  it('counts a logged-in shopper’s basket, and the count follows a change of quantity', async () => {
    const lee = newAgent(t);
    const registered = await postForm(lee, '/register', { name: 'Lee Count', email: 'lee-count@example.test', password: 'lee-count-pass-1' }, '/register');
    expect(registered.status).toBe(303);
    expect(await headerCount(lee)).toBe(0);
    await addToBasket(t, lee, 'P-1013', 4);
    expect(await headerCount(lee)).toBe(4);
    const [{ id }] = await t.sql<{ id: number }>(`select l.id from order_lines l join orders o on o.id = l.order_id join users u on u.id = o.user_id where u.email = 'lee-count@example.test'`);
    expect((await postForm(lee, `/cart/lines/${id}`, { quantity: 7 }, '/cart')).status).toBe(303);
    expect(await headerCount(lee)).toBe(7);
    expect(await headerCount(newAgent(t))).toBe(0);
  });
});

describe('the count kept in a cookie', () => {
  it('a page trusts it for BASKET_COUNT_TTL_MS; a change made elsewhere shows after that, the shopper’s own change at once', async () => {
    const kim = newAgent(t);
    await addToBasket(t, kim, 'P-1013', 2);
    expect(await headerCount(kim)).toBe(2);
    expect(cookieOf(kim, 'orderflow.count')).toMatch(/^2\./);
    // Staff (or the same account on another device) changes the basket: within the time the page shows the kept count …
    await t.sql(`update order_lines set quantity = 5 where order_id = (select id from orders where anonymous_token = $1::uuid)`, [cookieOf(kim, 'basket')]);
    expect(await headerCount(kim)).toBe(2);
    // … the basket page shows the basket itself (and keeps its count) …
    expect(await headerCount(kim, '/cart')).toBe(5);
    expect(await headerCount(kim)).toBe(5);
    await t.sql(`update order_lines set quantity = 6 where order_id = (select id from orders where anonymous_token = $1::uuid)`, [cookieOf(kim, 'basket')]);
    // … and after the time the count is read again.
    await sleep(TTL_MS + 50);
    expect(await headerCount(kim)).toBe(6);
    // The shopper's own write request drops the kept count: the next page reads it.
    await addToBasket(t, kim, 'P-1014', 1);
    expect(await headerCount(kim)).toBe(7);
  });

  it('a forged count, or one kept for another basket, is ignored', async () => {
    const kim = newAgent(t);
    await addToBasket(t, kim, 'P-1013', 3);
    expect(await headerCount(kim)).toBe(3);
    const kept = cookieOf(kim, 'orderflow.count')!;
    const sam = newAgent(t);
    await addToBasket(t, sam, 'P-1014', 1);
    const basket = cookieOf(sam, 'basket')!;
    const page = (count: string) => request(t.app).get('/products/P-1013').set('Cookie', `basket=${basket}; orderflow.count=${count}`);
    expect(countIn((await page(kept)).text)).toBe(1); // Kim's kept count, shown with Sam's basket
    expect(countIn((await page(kept.replace(/^3\./, '9.'))).text)).toBe(1); // Kim's signature, another count
    const own = (await page(kept)).headers['set-cookie'] as unknown as string[];
    const samsKept = own.find((c) => c.startsWith('orderflow.count='))!.split(';')[0].slice('orderflow.count='.length);
    expect(countIn((await page(samsKept)).text)).toBe(1);
    await t.sql(`update order_lines set quantity = 4 where order_id = (select id from orders where anonymous_token = $1::uuid)`, [basket]);
    expect(countIn((await page(samsKept)).text)).toBe(1); // Sam's own kept count is trusted …
    expect(countIn((await page(samsKept.replace(/^1\./, '4.'))).text)).toBe(4); // … not one made up from it
  });
});
