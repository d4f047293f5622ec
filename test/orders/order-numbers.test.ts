import type TestAgent from 'supertest/lib/agent';
import { addToBasket, placeGuestOrder, startCheckout, upcomingOrderNumber } from '../helpers/shopping';
import { csrfToken, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Order numbers come from a sequence per shop (src/orders/order-numbers.ts): no checkout waits for another to take
 * its number, staff still choose the next number, prefix and padding, and every shop numbers its own orders.
 */
let t: TestApp;
let staff: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
  await t.sql(`update stock_levels set quantity = 10000 where product_id in (select id from products where number in ('P-1010', 'P-1042'))`);
});
afterAll(async () => { await t.close(); });

const SETTINGS = { name: 'Orderflow Demo Shop', orderPrefix: 'ORDER', orderNumberPadding: 0, cartPrefix: 'CART' };

async function basketsOf(count: number): Promise<TestAgent[]> {
  const agents: TestAgent[] = [];
  for (let i = 0; i < count; i++) {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1010');
    agents.push(agent);
  }
  return agents;
}

async function orderNumberOf(agent: TestAgent): Promise<string> {
  const page = await agent.get('/checkout/addresses').expect(200);
  return /Order ((?:ORDER|WEB-|B2B)\d+)/.exec(page.text)![1];
}

describe('order numbers', () => {
  it('many checkouts of one shop started at once all get distinct numbers, and the next one follows them', async () => {
    const next = await upcomingOrderNumber(t);
    const agents = await basketsOf(24);
    const started = await Promise.all(agents.map((agent) => postForm(agent, '/checkout', {}, '/cart')));
    expect(started.map((r) => r.status)).toEqual(agents.map(() => 303));
    const numbers = await Promise.all(agents.map(orderNumberOf));
    expect(new Set(numbers).size).toBe(24);
    expect(numbers.map((n) => Number(n.slice('ORDER'.length))).sort((a, b) => a - b)).toEqual(agents.map((_, i) => next + i));
    expect(await upcomingOrderNumber(t)).toBe(next + 24);
  });

  it('staff set the next number, prefix and padding: the page shows it and the next checkout takes it', async () => {
    expect((await postForm(staff, '/admin/shop-settings', { ...SETTINGS, orderPrefix: 'WEB-', orderNextNumber: 77000, orderNumberPadding: 8 }, '/admin/shop-settings')).status).toBe(303);
    expect((await staff.get('/admin/shop-settings')).text).toMatch(/name="orderNextNumber"[^>]*value="77000"/);
    const [first, second] = await basketsOf(2);
    await startCheckout(first);
    expect(await orderNumberOf(first)).toBe('WEB-00077000');
    // The page shows the number the next checkout gets, not a stored copy.
    expect((await staff.get('/admin/shop-settings')).text).toMatch(/name="orderNextNumber"[^>]*value="77001"/);
    await startCheckout(second);
    expect(await orderNumberOf(second)).toBe('WEB-00077001');
    // A number lower than the next is refused while the prefix stays; a new prefix may start lower.
    const lower = await postForm(staff, '/admin/shop-settings', { ...SETTINGS, orderPrefix: 'WEB-', orderNextNumber: 77001, orderNumberPadding: 8 }, '/admin/shop-settings');
    expect(lower.status).toBe(422);
    expect(lower.text).toContain('must be 77002 or higher');
    expect((await postForm(staff, '/admin/shop-settings', { ...SETTINGS, orderPrefix: 'B2B', orderNextNumber: 5, orderNumberPadding: 3 }, '/admin/shop-settings')).status).toBe(303);
    const [third] = await basketsOf(1);
    await startCheckout(third);
    expect(await orderNumberOf(third)).toBe('B2B005');
    // Saving the other settings leaves the numbering as it is.
    expect((await postForm(staff, '/admin/shop-settings', { ...SETTINGS, name: 'Renamed shop', orderPrefix: 'B2B', orderNextNumber: 6, orderNumberPadding: 3 }, '/admin/shop-settings')).status).toBe(303);
    expect(await upcomingOrderNumber(t)).toBe(6);
    await postForm(staff, '/admin/shop-settings', { ...SETTINGS, orderNextNumber: 1_000_000 }, '/admin/shop-settings');
  });

  it('a shop created later numbers its own orders from 1001 with its own prefix, whatever its id', async () => {
    // An id no SQL identifier could hold as it is: the shop's sequence is named from it safely.
    const id = `Outlet "2"; drop table orders; -- ${'x'.repeat(80)}`;
    await t.sql(`insert into shops (id, name, currency_code, currency_name, order_prefix, order_number_padding) values ($1, 'Outlet', 'DKK', 'Danish krone', 'OUT-', 5)`, [id]);
    expect(await upcomingOrderNumber(t, id)).toBe(1001);
    const shopOne = await upcomingOrderNumber(t);

    // An order of the first shop, exported as XML and imported as the new shop's (the XML carries the shop id).
    const number = await placeGuestOrder(t, 'P-1042');
    const token = await csrfToken(staff, '/admin/orders?apply=1');
    const xml = (await staff.post('/admin/orders/export-xml').type('form').send(`_csrf=${encodeURIComponent(token)}&numbers=${number}`)).text;
    const outletXml = xml.replace('<shopId>SHOP1</shopId>', `<shopId>${id.replace(/"/g, '&quot;')}</shopId>`);
    expect(outletXml).not.toBe(xml);
    const importToken = await csrfToken(staff, '/admin/orders/import');
    const res = await staff.post('/admin/orders/import?channel=Outlet').set('Content-Type', 'application/xml').set('X-CSRF-Token', importToken)
      .set('Accept', 'application/json').send(outletXml);
    expect(res.body).toMatchObject({ status: 'finished', imported: 1, failed: 0 });
    const [outletOrder] = await t.sql(`select number, shop_id from orders where imported and channel = 'Outlet'`);
    expect(outletOrder).toEqual({ number: 'OUT-01001', shop_id: id });
    expect(await upcomingOrderNumber(t, id)).toBe(1002);
    // The first shop's numbering moved only by its own placed order.
    expect(await upcomingOrderNumber(t)).toBe(shopOne + 1);
  });

  it('the database keeps numbers positive: a next number below 1 is refused', async () => {
    await expect(t.sql(`select setval(order_numbers, 0, false) from shops where id = 'SHOP1'`)).rejects.toThrow(/out of bounds/);
    const refused = await postForm(staff, '/admin/shop-settings', { ...SETTINGS, orderNextNumber: 0 }, '/admin/shop-settings');
    expect(refused.status).toBe(422);
  });
});
