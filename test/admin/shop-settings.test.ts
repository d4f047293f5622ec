import { addToBasket, checkoutToReview, startCheckout, upcomingOrderNumber } from '../helpers/shopping';
import { login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const FORM = { name: 'Orderflow Demo Shop', orderPrefix: 'WEB-', orderNextNumber: 5000, orderNumberPadding: 6, cartPrefix: 'CART' };

describe('shop settings', () => {
  it('lets staff set the order prefix, next number and padding; the next checkout uses them', async () => {
    const staff = await staffAgent(t);
    expect((await postForm(staff, '/admin/shop-settings', FORM, '/admin/shop-settings')).status).toBe(303);
    await t.sql(`update stock_levels set quantity = 100 where product_id = (select id from products where number = 'P-1015')`);
    const shopper = newAgent(t);
    await addToBasket(t, shopper, 'P-1015');
    expect(await checkoutToReview(t, shopper)).toBe('WEB-005000');
    expect(await upcomingOrderNumber(t)).toBe(5001);
    // The form shows the true next number: the one the shop's next checkout gets.
    expect((await staff.get('/admin/shop-settings').expect(200)).text).toMatch(/name="orderNextNumber"[^>]*value="5001"/);
  });

  it('never reuses order numbers and explains bad input with 422, saving nothing', async () => {
    const staff = await staffAgent(t);
    const settings = async () => ({ ...(await t.sql<{ order_prefix: string; order_number_padding: number }>(`select order_prefix, order_number_padding from shops`))[0], next: await upcomingOrderNumber(t) });
    const before = await settings();
    const lower = await postForm(staff, '/admin/shop-settings', { ...FORM, orderPrefix: before.order_prefix, orderNextNumber: before.next - 1 }, '/admin/shop-settings');
    expect(lower.status).toBe(422);
    expect(lower.text).toContain('never reused');
    const bad = await postForm(staff, '/admin/shop-settings', { ...FORM, orderPrefix: 'web <x>', orderNumberPadding: 40 }, '/admin/shop-settings');
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('capital letters');
    expect(bad.text).toContain('value="web &lt;x&gt;"');
    expect(await settings()).toEqual(before);
    // Order, cart and quote numbers must be told apart: no same prefix, none another plus digits.
    for (const [orderPrefix, cartPrefix, field] of [['CART', 'CART', 'cartPrefix'], ['WEB', 'WEB1', 'cartPrefix'], ['QUOTE', 'CART', 'orderPrefix']]) {
      const clash = await postForm(staff, '/admin/shop-settings', { ...FORM, orderPrefix, cartPrefix, orderNextNumber: before.next + 100 }, '/admin/shop-settings');
      expect({ orderPrefix, cartPrefix, status: clash.status }).toEqual({ orderPrefix, cartPrefix, status: 422 });
      expect(clash.text).toMatch(new RegExp(`id="f-${field}-error"|name="${field}"[^>]*aria-invalid="true"`));
    }
    expect(await settings()).toEqual(before);
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    expect((await postForm(shopper, '/admin/shop-settings', FORM)).status).toBe(403);
  });

  it('skips a number an order already has: a prefix brought back does not stop the checkout that reaches one', async () => {
    const staff = await staffAgent(t);
    await t.sql(`update stock_levels set quantity = 100 where product_id = (select id from products where number = 'P-1015')`);
    const checkout = async () => {
      const shopper = newAgent(t);
      await addToBasket(t, shopper, 'P-1015');
      return checkoutToReview(t, shopper);
    };
    const save = (orderPrefix: string, orderNextNumber: number) =>
      postForm(staff, '/admin/shop-settings', { ...FORM, orderPrefix, orderNextNumber, orderNumberPadding: 4 }, '/admin/shop-settings');
    expect((await save('OLD-', 7000)).status).toBe(303);
    expect([await checkout(), await checkout()]).toEqual(['OLD-7000', 'OLD-7001']);
    // Another prefix for a while, then the old one again from a number that is still free.
    expect((await save('NEW-', 100)).status).toBe(303);
    expect((await save('OLD-', 6999)).status).toBe(303);
    expect(await checkout()).toBe('OLD-6999');
    expect(await checkout()).toBe('OLD-7002');
    expect(await upcomingOrderNumber(t)).toBe(7003);
  });

  it('gives checkouts that run while staff raise the next number distinct numbers, the raised one honoured', async () => {
    const staff = await staffAgent(t);
    await t.sql(`update stock_levels set quantity = 100 where product_id = (select id from products where number = 'P-1015')`);
    const [{ order_prefix: prefix }] = await t.sql<{ order_prefix: string }>(`select order_prefix from shops`);
    const shoppers = [];
    for (let i = 0; i < 12; i++) {
      const shopper = newAgent(t);
      await addToBasket(t, shopper, 'P-1015');
      shoppers.push(shopper);
    }
    const raised = (await upcomingOrderNumber(t)) + 40;
    const [saved, ...started] = await Promise.all([
      postForm(staff, '/admin/shop-settings', { ...FORM, orderPrefix: prefix, orderNextNumber: raised, orderNumberPadding: 4 }, '/admin/shop-settings'),
      ...shoppers.map((shopper) => startCheckout(shopper).then((res) => res.status, (e: Error) => e.message)),
    ]);
    expect(saved.status).toBe(303);
    expect(started).toEqual(shoppers.map(() => 303));
    const numbers = (await t.sql<{ number: string }>(`select number from orders where type = 'order' and number like $1`, [`${prefix}%`])).map((r) => r.number);
    expect(new Set(numbers).size).toBe(numbers.length);
    const after = newAgent(t);
    await addToBasket(t, after, 'P-1015');
    expect(Number((await checkoutToReview(t, after)).slice(prefix.length))).toBeGreaterThanOrEqual(raised);
  });
});

