import { addToBasket, checkoutToReview, upcomingOrderNumber } from '../helpers/shopping';
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
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    expect((await postForm(shopper, '/admin/shop-settings', FORM)).status).toBe(403);
  });
});
