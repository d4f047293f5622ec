import type TestAgent from 'supertest/lib/agent';
import { APPROVED_CARD, addToBasket, checkoutToReview, methodIds, place } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, stockAndPrice, type TestApp } from '../helpers/test-app';

/**
 * Staff may rename, recolour and reorder every state: behaviour keys on roles, so the main scenario of every flow
 * (order with shipping, cancel and statistics; return with restock and refund; quote offer, accept and reject;
 * company cart approval) runs unchanged after every seeded state got a new name, colour and position.
 */
let t: TestApp;
let staff: TestAgent;
const today = new Date().toISOString().slice(0, 10);
beforeAll(async () => {
  t = await startTestApp();
  await stockAndPrice(t, ['P-1030', 'P-1031'], 10000, 2500);
  await t.sql(`update flow_states set name = 'Zustand ' || id || ' ' || reverse(name), color = '#' || lpad(to_hex(id * 99991 % 16777216), 6, '0'),
    sort_order = 100 - sort_order`);
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

const roleId = async (type: string, role: string, flow?: string) =>
  (await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = $1 and s.role = $2 and ($3::text is null or f.name = $3) order by f.is_default desc limit 1`,
    [type, role, flow ?? null]))[0].id as number;
const roleOf = async (table: 'orders' | 'returns', number: string) =>
  (await t.sql(`select s.role from ${table} r join flow_states s on s.id = r.state_id where r.number = $1`, [number]))[0]?.role as string;
const ordersCounted = async () => (await t.services.statistics.report({ from: today, to: today, interval: 'day', shopId: 'SHOP1' })).totals.orders;

async function moveAsStaff(base: string, number: string, stateId: number) {
  const [{ version }] = await t.sql('select version from orders where number = $1', [number]);
  const res = await postForm(staff, `${base}/${number}/state`, { stateId, version, message: '' }, `${base}/${number}`);
  expect(res.status).toBe(303);
}

async function shopperOrder(): Promise<{ customer: TestAgent; number: string }> {
  const customer = newAgent(t);
  await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
  await addToBasket(t, customer, 'P-1030', 2);
  const number = await checkoutToReview(t, customer);
  expect((await place(customer, number)).status).toBe(303);
  return { customer, number };
}

describe('every seeded state renamed, recoloured and reordered', () => {
  it('orders ship and complete, returns restock and refund, and a cancelled order leaves the statistics', async () => {
    const { customer, number } = await shopperOrder();
    expect(await roleOf('orders', number)).toBe('new');
    expect((await postForm(staff, `/admin/orders/${number}/capture`, {}, `/admin/orders/${number}`)).status).toBe(303);
    const [received, picked] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.is_default and f.type = 'order' and s.role = 'processing' order by s.id`);
    await moveAsStaff('/admin/orders', number, received.id);
    await moveAsStaff('/admin/orders', number, picked.id);
    await moveAsStaff('/admin/orders', number, await roleId('order', 'shipped'));

    const [line] = await t.sql(`select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [number]);
    const filed = await postForm(customer, '/customer-center/returns', { orderNumber: number, reason: 'Wrong item', comment: '', resolution: 'refund', [`line_${line.id}`]: 1 },
      `/customer-center/returns/new?order=${number}`);
    expect(filed.status).toBe(303);
    const rma = /(RMA\d+)/.exec(filed.headers.location)![1];
    expect((await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`)).status).toBe(303);
    const [location] = await t.sql(`select id from stock_locations where name = 'Main warehouse'`);
    expect((await postForm(staff, `/admin/returns/${rma}/receive`, { locationId: location.id }, `/admin/returns/${rma}`)).status).toBe(303);
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '125', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(303);
    expect(await roleOf('returns', rma)).toBe('refunded');
    const [order] = await t.sql('select refunded_minor from orders where number = $1', [number]);
    expect(order.refunded_minor).toBe('12500');
    await moveAsStaff('/admin/orders', number, await roleId('order', 'completed'));

    const cancelled = await shopperOrder();
    const counted = await ordersCounted();
    expect((await postForm(staff, `/admin/orders/${cancelled.number}/cancel`, { confirmed: '1' }, `/admin/orders/${cancelled.number}`)).status).toBe(303);
    expect(await roleOf('orders', cancelled.number)).toBe('cancelled');
    expect(await ordersCounted()).toBe(counted - 1);
  });

  it('quotes are offered, accepted into an order, rejected, and expire', async () => {
    const requestQuote = async () => {
      const customer = newAgent(t);
      await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
      await t.sql(`update orders set deleted = true, basket_status = null where user_id = (select id from users where email = 'shopper@orderflow.test') and basket_status = 'basket'`);
      await addToBasket(t, customer, 'P-1031', 2);
      await checkoutToReview(t, customer);
      const res = await postForm(customer, '/checkout/quote', { customerComment: '' }, '/checkout/review');
      const number = /(QUOTE\d+)/.exec(res.headers.location)![1];
      expect(await roleOf('orders', number)).toBe('requested');
      expect((await postForm(staff, `/admin/quotes/${number}/offer`, {}, `/admin/quotes/${number}`)).status).toBe(303);
      expect(await roleOf('orders', number)).toBe('offered');
      return { customer, number };
    };

    const accepted = await requestQuote();
    const token = await csrfToken(accepted.customer, `/customer-center/quotes/${accepted.number}`);
    const { paymentMethodId } = await methodIds(t);
    const res = await accepted.customer.post(`/customer-center/quotes/${accepted.number}/accept`).type('form').send({ _csrf: token, paymentMethodId, ...APPROVED_CARD });
    expect(res.status).toBe(303);
    const [order] = await t.sql(`select o.type, s.role from orders o join flow_states s on s.id = o.state_id where o.quote_number = $1`, [accepted.number]);
    expect(order).toEqual({ type: 'order', role: 'new' });

    const rejected = await requestQuote();
    expect((await postForm(rejected.customer, `/customer-center/quotes/${rejected.number}/reject`, { reason: 'Too expensive' }, `/customer-center/quotes/${rejected.number}`)).status).toBe(303);
    expect(await roleOf('orders', rejected.number)).toBe('rejected');

    const expiring = await requestQuote();
    await t.sql(`update orders set quote_expires_on = current_date - 1 where number = $1`, [expiring.number]);
    expect(await t.services.quotes.expireDue(new Date())).toContain(expiring.number);
    expect(await roleOf('orders', expiring.number)).toBe('expired');
  });

  it('a company cart is submitted, approved by staff and then checked out', async () => {
    const bea = newAgent(t);
    await login(bea, 'buyer1@acme.test', 'buyer-pass-1');
    // Without a spend limit every cart of hers waits for approval (the demo's limit would let a small cart through).
    await t.sql(`update users set spend_limit_minor = null where email = 'buyer1@acme.test'`);
    await addToBasket(t, bea, 'P-1030');
    const [cart] = await t.sql(`select o.number from orders o join users u on u.id = o.user_id where u.email = 'buyer1@acme.test' and o.basket_status = 'basket'`);
    expect(await roleOf('orders', cart.number)).toBe('open');
    // The refusal and the basket name the state to reach as this shop named it (the approved-role one).
    const [approved] = await t.sql(`select s.name from flow_states s join flows f on f.id = s.flow_id where f.name = 'B2B cart approval' and s.role = 'approved'`);
    const refused = await bea.get('/checkout/addresses');
    expect(refused.status).toBe(409);
    expect(refused.text).toContain(`It must reach a state that allows ordering (“${approved.name}”) first.`);
    expect((await bea.get('/cart')).text).toContain(`it must reach a state that allows ordering (“${approved.name}”) first.`);
    const token = await csrfToken(bea, '/customer-center?CC=Carts');
    const submitted = await bea.post('/customer-center?CC=Carts').type('form')
      .send({ _csrf: token, CartID: cart.number, StateId: await roleId('cart', 'submitted', 'B2B cart approval') });
    expect(submitted.status).toBe(303);
    await moveAsStaff('/admin/carts', cart.number, await roleId('cart', 'approved', 'B2B cart approval'));
    expect(await roleOf('orders', cart.number)).toBe('approved');
    const number = await checkoutToReview(t, bea);
    expect((await place(bea, number)).status).toBe(303);
    expect(await roleOf('orders', number)).toBe('new');
  });
});
