import type TestAgent from 'supertest/lib/agent';
import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { login, newAgent, postForm, startTestApp, stockAndPrice, type TestApp } from '../helpers/test-app';

/**
 * A company's cart approval (the seeds' "B2B cart approval" flow: New → Submitted for approval → Approved): Bea
 * (buyer1) has a spend limit of 250.00 DKK; Ben (buyer2) approves. An approval covers the cart as it was approved.
 */
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await stockAndPrice(t, ['P-1040', 'P-1041'], 8000, 2500); // 100.00 DKK incl. VAT each
});
afterAll(async () => { await t.close(); });

const CC = '/customer-center?CC=Carts';

async function buyer(email: string, password: string): Promise<TestAgent> {
  const agent = newAgent(t);
  await login(agent, email, password);
  await t.sql(`update orders set deleted = true, basket_status = null where user_id = (select id from users where email = $1) and not completed`, [email]);
  return agent;
}

async function stateOf(number: string): Promise<{ name: string; is_default: boolean }> {
  const [row] = await t.sql('select s.name, s.is_default from orders o join flow_states s on s.id = o.state_id where o.number = $1', [number]);
  return row as { name: string; is_default: boolean };
}

/** Moves a cart with the customer center's ChangeDraftStatusForm, as the buyer's browser posts it. */
async function moveCart(agent: TestAgent, number: string, stateName: string) {
  const [state] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.code = 'b2b-cart-approval' and s.name = $1`, [stateName]);
  const res = await postForm(agent, CC, { CartID: number, StateId: state.id }, CC);
  expect(res.status).toBe(303);
}

describe('cart approval', () => {
  it('sends an approved cart that changes back to its starting state: the approval does not cover what is added after it', async () => {
    const bea = await buyer('buyer1@acme.test', 'buyer-pass-1');
    const ben = await buyer('buyer2@acme.test', 'buyer-pass-2');
    await addToBasket(t, bea, 'P-1040', 3); // 300.00 DKK: above Bea's limit
    const number = /Basket (CART\d+)/.exec((await bea.get('/cart')).text)![1];
    await moveCart(bea, number, 'Submitted for approval');
    await moveCart(ben, number, 'Approved');
    expect((await bea.get('/cart')).text).toContain('Go to checkout');

    await addToBasket(t, bea, 'P-1041', 20); // 2,000.00 DKK more
    expect(await stateOf(number)).toEqual({ name: 'New', is_default: true });
    const [entry] = await t.sql(`select h.message, h.actor_kind from order_state_history h join orders o on o.id = h.order_id where o.number = $1 and h.event = 'state_reset'`, [number]);
    expect(entry).toEqual({ message: `Cart ${number} changed (line added) while “Approved”: back to “New”.`, actor_kind: 'customer' });
    const basket = await bea.get('/cart');
    expect(basket.text).toContain('This cart is “New” and cannot be checked out yet: its total is above your spend limit of 250.00 DKK, so it must reach');
    expect(basket.text).not.toContain('Go to checkout');
    expect((await postForm(bea, '/checkout', {}, '/cart')).status).toBe(409);

    // A quantity changed on an approved cart does the same.
    await moveCart(bea, number, 'Submitted for approval');
    await moveCart(ben, number, 'Approved');
    const lineId = /action="\/cart\/lines\/(\d+)"/.exec((await bea.get('/cart')).text)![1];
    expect((await postForm(bea, `/cart/lines/${lineId}`, { quantity: 4 }, '/cart')).status).toBe(303);
    expect((await stateOf(number)).name).toBe('New');
  });

  it("shows an approved cart's order with its progress since it was placed, not the cart states before it", async () => {
    const bea = await buyer('buyer1@acme.test', 'buyer-pass-1');
    const ben = await buyer('buyer2@acme.test', 'buyer-pass-2');
    await addToBasket(t, bea, 'P-1040', 3);
    const cart = /Basket (CART\d+)/.exec((await bea.get('/cart')).text)![1];
    await moveCart(bea, cart, 'Submitted for approval');
    await moveCart(ben, cart, 'Approved');
    const number = await checkoutToReview(t, bea, { payment: 'INVOICE' });
    expect((await place(bea, number, {})).status).toBe(303);
    const page = await bea.get(`/customer-center/orders/${number}`).expect(200);
    const timeline = /data-testid="timeline">([\s\S]*?)<\/ol>/.exec(page.text)![1].replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    expect(timeline).toContain('Order placed');
    expect(timeline).not.toContain('Approved');
    expect(timeline).not.toContain('Submitted for approval');
  });

  it('lets a buyer check out a new cart within the spend limit from the basket page, as checkout itself does', async () => {
    const bea = await buyer('buyer1@acme.test', 'buyer-pass-1');
    await addToBasket(t, bea, 'P-1040', 2); // 200.00 DKK: within the limit, no approval needed
    const basket = await bea.get('/cart');
    expect((await stateOf(/Basket (CART\d+)/.exec(basket.text)![1])).name).toBe('New');
    expect(basket.text).toContain('Go to checkout');
    expect(basket.text).not.toContain('data-testid="not-orderable"');
    expect((await postForm(bea, '/checkout', {}, '/cart')).status).toBe(303);
  });

  it('keeps an order checked out without approval within the spend limit with its shipping and fees, or refuses to place it', async () => {
    const bea = await buyer('buyer1@acme.test', 'buyer-pass-1');
    await addToBasket(t, bea, 'P-1041', 2); // 200.00 DKK of goods: within the 250.00 limit
    // Express (123.75 incl. VAT) and the invoice fee (25.00) bring it to 348.75: above the limit, and nobody approved it.
    const number = await checkoutToReview(t, bea, { shipping: 'EXPRESS', payment: 'INVOICE' });
    const refused = await place(bea, number, {});
    expect(refused.status).toBe(409);
    expect(refused.text).toMatch(/data-testid="refused-place">With shipping and payment your order comes to 348.75 DKK, above your spend limit of 250.00 DKK, and it has not been approved\./);
    expect(await t.sql('select 1 from orders where number = $1 and completed', [number])).toHaveLength(0);
    // Standard delivery (48.75 incl. VAT) and card (no fee): 248.75, within the limit.
    const within = await checkoutToReview(t, bea, { shipping: 'STANDARD', payment: 'CARD' });
    expect((await place(bea, within)).status).toBe(303);
    expect(await t.sql('select total_minor::int as total from orders where number = $1 and completed', [within])).toEqual([{ total: 24875 }]);
  });
});
