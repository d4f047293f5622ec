/**
 * The header's basket count (read with one plain statement when a page renders): each shopper sees the items of
 * their own basket — a returning guest by the basket cookie, a logged-in shopper by their account — never another's.
 */
import type TestAgent from 'supertest/lib/agent';
import { addToBasket } from '../helpers/shopping';
import { newAgent, postForm, startTestApp, stockAndPrice, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await stockAndPrice(t, ['P-1013', 'P-1014'], 10000, 2500);
});
afterAll(async () => { await t.close(); });

const headerCount = async (agent: TestAgent, path = '/products/P-1013') => {
  const res = await agent.get(path);
  expect(res.status).toBe(200);
  return Number(/data-testid="mini-cart-count">(\d+)</.exec(res.text)?.[1] ?? NaN);
};

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
