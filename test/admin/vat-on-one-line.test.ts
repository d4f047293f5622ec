/**
 * "Taxes in backend": with the shop setting on, VAT is one line (the sum) instead of one per rate on the staff order
 * details, the print view and the order confirmation mail; off, one line per rate as before.
 */
import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { newAgent, postForm, staffAgent, startTestApp, stockAndPrice, type TestApp, waitFor } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  // 100.00 at 25 % and 100.00 at 12 %: VAT 25.00 + 12.00 (+ the shipping fee's VAT at the shop's rate).
  await stockAndPrice(t, ['P-1015'], 10000, 2500);
  await stockAndPrice(t, ['P-1001'], 10000, 1200);
});
afterAll(async () => { await t.close(); });

async function twoRateOrder(): Promise<string> {
  const shopper = newAgent(t);
  await addToBasket(t, shopper, 'P-1015');
  await addToBasket(t, shopper, 'P-1001');
  const number = await checkoutToReview(t, shopper);
  expect((await place(shopper, number)).status).toBe(303);
  return number;
}

const setOneLine = async (on: boolean) => {
  const staff = await staffAgent(t);
  const form = { name: 'Orderflow Demo Shop', orderPrefix: 'ORDER', orderNextNumber: 900000 + Number(on), orderNumberPadding: 0, cartPrefix: 'CART', ...(on ? { vatOnOneLine: 'on' } : {}) };
  expect((await postForm(staff, '/admin/shop-settings', form, '/admin/shop-settings')).status).toBe(303);
  return staff;
};
const vatRows = (html: string) => [...html.matchAll(/<tr><th scope="row">(VAT[^<]*)<\/th><td>([^<]*)<\/td><\/tr>/g)].map((m) => `${m[1]} = ${m[2]}`);

describe('taxes on one line', () => {
  it('off: one VAT line per rate; on: one VAT line with the sum, on details, print and the confirmation mail', async () => {
    const before = await twoRateOrder();
    const staff = await setOneLine(false);
    const perRate = vatRows((await staff.get(`/admin/orders/${before}`).expect(200)).text);
    // 25 % of 100.00 + the 39.00 shipping fee, and 12 % of 100.00.
    expect(perRate).toEqual(['VAT 25% of 139.00 DKK = 34.75 DKK', 'VAT 12% of 100.00 DKK = 12.00 DKK']);
    await t.worker.sendDue();
    const firstMail = await waitFor(() => t.mails.find((m) => m.subject === `Order confirmation ${before}`));
    expect(firstMail.text).toContain('VAT 25%: 34.75 DKK\nVAT 12%: 12.00 DKK');

    await setOneLine(true);
    const details = (await staff.get(`/admin/orders/${before}`).expect(200)).text;
    expect(vatRows(details)).toEqual(['VAT = 46.75 DKK']);
    expect(details).toContain('data-testid="order-vat">VAT: 46.75 DKK<br>');
    const print = await postForm(staff, '/admin/orders/print', { numbers: before }, '/admin/orders');
    expect(vatRows(print.text)).toEqual(['VAT = 46.75 DKK']);

    const after = await twoRateOrder();
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Order confirmation ${after}`));
    expect(mail.text).toContain('\nVAT: 46.75 DKK\n');
    expect(mail.text).not.toMatch(/VAT \d+%/);
  });
});
