import type TestAgent from 'supertest/lib/agent';
import { ADDRESS, addToBasket, checkoutToReview, methodIds } from '../helpers/shopping';
import { login, newAgent, postForm, stockAndPrice, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await stockAndPrice(t, ['P-1041', 'P-1042', 'P-1043'], 10000, 2500);
});
afterAll(async () => { await t.close(); });

interface InCheckout { agent: TestAgent; number: string; id: number; lineId: number }

/** A shopper (a guest, or the given user) whose basket is an order at the review step: 2 × P-1041 and 1 × P-1042. */
async function orderInCheckout(user?: { email: string; password: string }): Promise<InCheckout> {
  const agent = newAgent(t);
  if (user) await login(agent, user.email, user.password);
  await addToBasket(t, agent, 'P-1041', 2);
  await addToBasket(t, agent, 'P-1042', 1);
  const number = await checkoutToReview(t, agent);
  const [order] = await t.sql<{ id: number; type: string }>('select id, type from orders where number = $1', [number]);
  expect(order.type).toBe('order');
  const [line] = await t.sql<{ id: number }>('select id from order_lines where order_id = $1 order by id limit 1', [order.id]);
  return { agent, number, id: order.id, lineId: line.id };
}

const SHOPPER = { email: 'shopper@orderflow.test', password: 'shopper-pass-1' };

/** Every way a basket changes, as a shopper or staff member makes it over HTTP, and the reason the history gives. */
const MUTATIONS: { name: string; reason: string; user?: typeof SHOPPER; change(o: InCheckout): Promise<unknown> }[] = [
  { name: 'adding another product', reason: 'line added', change: (o) => addToBasket(t, o.agent, 'P-1043') },
  { name: 'adding the same product again (the quick add path)', reason: 'quantity changed', change: (o) => addToBasket(t, o.agent, 'P-1041') },
  { name: 'changing a quantity', reason: 'quantity changed', change: (o) => postForm(o.agent, `/cart/lines/${o.lineId}`, { quantity: 5 }, '/cart') },
  { name: 'removing a line', reason: 'line removed', change: (o) => postForm(o.agent, `/cart/lines/${o.lineId}/remove`, {}, '/cart') },
  { name: 'emptying the basket', reason: 'basket emptied', change: (o) => postForm(o.agent, '/cart/empty', {}, '/cart') },
  { name: 'another country', reason: 'country or region changed', change: (o) => postForm(o.agent, '/checkout/addresses', { ...ADDRESS, billing_country: 'SE' }, '/checkout/addresses') },
  { name: 'another shipping method', reason: 'shipping changed', change: async (o) => postForm(o.agent, '/checkout/methods', await methodIds(t, 'EXPRESS'), '/checkout/methods') },
  { name: 'a voucher', reason: 'voucher added', change: (o) => postForm(o.agent, '/checkout/voucher', { voucherCode: 'WELCOME10' }, '/checkout/review') },
  {
    name: 'lines merged at login', reason: 'lines merged at login', user: SHOPPER,
    change: async () => {
      const anonymous = newAgent(t);
      await addToBasket(t, anonymous, 'P-1043');
      return login(anonymous, SHOPPER.email, SHOPPER.password);
    },
  },
  {
    name: 'a staff edit of the lines', reason: 'edited by staff',
    change: async (o) => postForm(await staffAgent(t), `/admin/carts/${encodeURIComponent(o.number)}/lines`, { [`qty_${o.lineId}`]: 3 }, '/admin/carts'),
  },
];

describe('downgrade on change: every basket change sends an order in checkout back to being a cart', () => {
  it.each(MUTATIONS)('$name', async ({ reason, user, change }) => {
    const o = await orderInCheckout(user);
    const res = await change(o) as { status: number };
    expect(res.status).toBe(303);
    await expectDowngraded(o, reason);
  });

  it('a change that leaves the order as it was keeps it in checkout', async () => {
    const o = await orderInCheckout();
    await postForm(o.agent, `/cart/lines/${o.lineId}`, { quantity: 2 }, '/cart'); // the quantity it already has
    await postForm(o.agent, '/checkout/addresses', { ...ADDRESS, billing_name: 'Kim Other' }, '/checkout/addresses'); // not the country
    const [order] = await t.sql('select type, number from orders where id = $1', [o.id]);
    expect(order).toEqual({ type: 'order', number: o.number });
  });
});

/**
 * The order went back to being a cart, with the reason in its history; it no longer has its order number (a checkout
 * POST makes the cart an order again at once, with the next number; a basket change leaves it a cart).
 */
async function expectDowngraded(o: InCheckout, reason: string) {
  const [order] = await t.sql<{ type: string; number: string }>('select type, number from orders where id = $1', [o.id]);
  expect(order.number).not.toBe(o.number);
  const history = await t.sql<{ event: string; message: string }>(
    `select event, message from order_state_history where order_id = $1 and event = 'downgraded' order by id`, [o.id]);
  expect(history).toHaveLength(1);
  expect(history[0].message).toMatch(new RegExp(`^Order ${o.number} went back to cart CART\\d+: ${reason}\\.$`));
}
