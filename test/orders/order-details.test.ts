import { placeGuestOrder } from '../helpers/shopping';
import { staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

describe('staff order details', () => {
  it('shows order data, currency, transaction and miscellaneous details of a placed card order', async () => {
    const number = await placeGuestOrder(t, 'P-1015');
    const [o] = await t.sql(`select * from orders where number = $1`, [number]);
    expect(o.completed).toBe(true);
    expect(o.card_last4).toBe('4242');
    const staff = await staffAgent(t);
    const res = await staff.get(`/admin/orders/${number}`);
    expect(res.status).toBe(200);
    const dd = (testId: string) => {
      const m = new RegExp(`data-testid="${testId}">([\\s\\S]*?)</dd>`).exec(res.text);
      if (!m) throw new Error(`no ${testId} on the details page`);
      return m[1].trim();
    };
    const vatGroup = o.totals.vatGroups[0];
    expect(dd('order-vat')).toContain(`${vatGroup.rateBp / 100}%`);
    expect(dd('order-shop')).toBe('Orderflow Demo Shop');
    expect(o.ip).not.toBe('');
    expect(dd('order-ip')).toBe(o.ip);
    expect(dd('order-checkout-step')).toBe(o.checkout_step);
    expect(dd('order-exported')).toBe('No');
    expect(dd('order-voucher')).toBe('—');
    expect(dd('currency-name')).toBe('Danish krone');
    expect(Number(dd('currency-rate'))).toBe(1);
    expect(dd('currency-code')).toBe('DKK');
    expect(o.transaction_number).not.toBe('');
    expect(dd('tx-number')).toBe(o.transaction_number);
    expect(dd('payment-status')).toBe('authorized');
    expect(dd('order-context')).toBe('Storefront');
    expect(dd('tx-card-type')).toBe(o.card_type);
    expect(dd('tx-card-number')).toBe('•••• 4242');
    expect(res.text).not.toMatch(/4242 ?4242/);
    expect(dd('price-calculation-date')).toBe(new Date(o.price_calculation_date).toISOString().slice(0, 16).replace('T', ' '));
    expect(dd('completion-date')).toBe(new Date(o.completed_at).toISOString().slice(0, 16).replace('T', ' '));
    expect(dd('customer-link')).toContain(`href="/admin/orders?apply=1&amp;search=kim%40example.test&amp;searchIn=customer"`);
    const list = await staff.get('/admin/orders?apply=1&search=kim%40example.test&searchIn=customer');
    expect(list.status).toBe(200);
    expect(list.text).toContain(number);
  });
});
