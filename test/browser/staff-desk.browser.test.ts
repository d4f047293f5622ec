/**
 * The staff desk of issue 16 in a real browser: the details page in the seeds' shape at 1280 and 375 px, a refused
 * action shown next to its control with the typed amount kept, confirmations (a dialog with JavaScript, a page
 * without), the print view's toolbar, and a declined card that returns to the review step with the comment kept.
 */
import type { Browser, Page } from 'playwright-core';
import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { newAgent, type TestApp } from '../helpers/test-app';
import { fillBillingAddress, logIn, methodsToReview, searchAndAdd, startBrowserApp, submit, textOf, trackedPage, visible, type BrowserApp } from '../helpers/browser';

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
beforeAll(async () => { ({ t, browser, baseUrl } = app = await startBrowserApp()); }, 60_000);
afterAll(async () => { await app?.close(); });

/** A card order placed over HTTP (set-up), `quantity` × P-1050 with stock topped up. */
async function cardOrder(quantity = 1): Promise<string> {
  await t.sql(`update stock_levels set quantity = greatest(quantity, 1000) where product_id = (select id from products where number = 'P-1050')`);
  const agent = newAgent(t);
  await addToBasket(t, agent, 'P-1050', quantity);
  const number = await checkoutToReview(t, agent, { payment: 'CARD' });
  if ((await place(agent, number)).status !== 303) throw new Error(`placing ${number} failed`);
  return number;
}

async function staffPage(failures: string[], options: { width?: number; javaScript?: boolean } = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: 900 }, javaScriptEnabled: options.javaScript ?? true });
  const page = await trackedPage(context, failures, 'staff', { serverErrors: true });
  await logIn(page, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');
  return page;
}

const row = async (number: string) => (await t.sql(
  `select o.captured_minor::int as captured, o.refunded_minor::int as refunded, o.payment_status, o.stock_reserved, s.name as state
   from orders o left join flow_states s on s.id = o.state_id where o.number = $1`, [number]))[0];

describe('the staff desk, in a browser', () => {
  it('details: toolbar on top, then two columns of boxes at 1280 px and one column at 375 px', async () => {
    const failures: string[] = [];
    const number = await cardOrder();
    for (const width of [1280, 375]) {
      const page = await staffPage(failures, { width });
      await page.goto(`${baseUrl}/admin/orders/${number}`);
      const toolbar = await page.getByRole('region', { name: `Tools for ${number}` }).boundingBox();
      const orderData = await page.getByRole('region', { name: 'Order data' }).boundingBox();
      const payment = await page.getByRole('region', { name: 'Payment' }).boundingBox();
      const lines = await page.getByRole('region', { name: 'Lines' }).boundingBox();
      expect(toolbar!.y).toBeLessThan(orderData!.y);
      if (width === 1280) {
        expect(Math.abs(orderData!.y - payment!.y)).toBeLessThan(2); // side by side
        expect(payment!.x).toBeGreaterThan(orderData!.x + orderData!.width);
      } else {
        expect(payment!.y).toBeGreaterThan(orderData!.y + orderData!.height); // stacked
      }
      expect(lines!.y).toBeGreaterThan(payment!.y);
      // Nothing sticks out sideways on a phone.
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(width);
      await page.context().close();
    }
    expect(failures).toEqual([]);
  }, 90_000);

  it('a refused refund shows its message next to the refund form on the order page, the typed amount kept; then it works', async () => {
    const failures: string[] = [];
    const number = await cardOrder();
    const page = await staffPage(failures);
    await page.goto(`${baseUrl}/admin/orders/${number}`);
    await submit(page, page.getByRole('region', { name: `Tools for ${number}` }).getByRole('button', { name: /^Capture full amount/ }), new RegExp(`/admin/orders/${number}$`));
    const payment = page.getByRole('region', { name: 'Payment' });
    expect(await textOf(payment.getByTestId('payment-status'))).toBe('captured');

    const amount = payment.getByLabel(/^Amount to refund/);
    expect(await amount.inputValue()).toBe('');
    await amount.fill('99999');
    await submit(page, payment.getByRole('button', { name: 'Refund…' }), new RegExp(`/admin/orders/${number}/refund$`));
    expect(await textOf(page.getByRole('region', { name: 'Payment' }).getByRole('alert'))).toMatch(/^99,999\.00 DKK is more than can be refunded/);
    expect(await page.getByRole('region', { name: 'Payment' }).getByLabel(/^Amount to refund/).inputValue()).toBe('99999');
    await visible(page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Admin' }));
    expect(await page.getByText('Continue shopping').count()).toBe(0);

    // Corrected on the same page: the dialog states amount and order, and "Refund 10.00 DKK" does it.
    await page.getByRole('region', { name: 'Payment' }).getByLabel(/^Amount to refund/).fill('10');
    await page.getByRole('region', { name: 'Payment' }).getByRole('button', { name: 'Refund…' }).click();
    const dialog = page.getByRole('dialog', { name: `Refund 10.00 DKK on ${number}?` });
    await visible(dialog);
    expect(await textOf(dialog)).toContain('Stock does not change');
    await submit(page, dialog.getByRole('button', { name: 'Refund 10.00 DKK' }), new RegExp(`/admin/orders/${number}$`));
    expect(await row(number)).toMatchObject({ refunded: 1000, payment_status: 'partly_refunded' });
    await page.context().close();
    expect(failures.filter((f) => !f.includes('status of 409'))).toEqual([]); // the refusal itself answers 409
  }, 90_000);

  it('cancel asks first: a dialog with JavaScript ("No" changes nothing), a confirmation page without', async () => {
    const failures: string[] = [];
    const [withJs, withoutJs] = [await cardOrder(2), await cardOrder(1)];
    const page = await staffPage(failures);
    await page.goto(`${baseUrl}/admin/orders/${withJs}`);
    const cancel = page.getByRole('region', { name: `Tools for ${withJs}` }).getByRole('button', { name: 'Cancel order…' });
    await cancel.click();
    const dialog = page.getByRole('dialog', { name: `Cancel ${withJs}?` });
    expect(await textOf(dialog)).toMatch(/Back to stock: 2 × .+ to /);
    await dialog.getByRole('button', { name: 'No, go back' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(await row(withJs)).toMatchObject({ state: 'New', stock_reserved: true });
    await cancel.click();
    await submit(page, page.getByRole('dialog').getByRole('button', { name: `Cancel ${withJs}` }), new RegExp(`/admin/orders/${withJs}$`));
    expect(await row(withJs)).toMatchObject({ state: 'Cancelled', payment_status: 'cancelled', stock_reserved: false });
    await page.context().close();

    const plain = await staffPage(failures, { javaScript: false });
    await plain.goto(`${baseUrl}/admin/orders/${withoutJs}`);
    await submit(plain, plain.getByRole('region', { name: `Tools for ${withoutJs}` }).getByRole('button', { name: 'Cancel order…' }), new RegExp(`/admin/orders/${withoutJs}/cancel$`));
    await visible(plain.getByRole('heading', { level: 1, name: `Cancel ${withoutJs}?` }));
    expect(await row(withoutJs)).toMatchObject({ state: 'New' });
    await submit(plain, plain.getByRole('button', { name: `Cancel ${withoutJs}` }), new RegExp(`/admin/orders/${withoutJs}$`));
    expect(await row(withoutJs)).toMatchObject({ state: 'Cancelled' });
    await plain.context().close();
    expect(failures).toEqual([]);
  }, 90_000);

  it('prints an order from its page: the print view has Print, Refresh and Close (back to the order)', async () => {
    const failures: string[] = [];
    const number = await cardOrder();
    const page = await staffPage(failures);
    await page.goto(`${baseUrl}/admin/orders/${number}`);
    await submit(page, page.getByRole('link', { name: 'Print this order' }), /\/admin\/orders\/print\?/);
    const bar = page.getByRole('toolbar', { name: 'Print view' });
    await visible(bar.getByRole('button', { name: 'Print' }));
    await visible(page.getByRole('heading', { name: `Order ${number}` }));
    await submit(page, bar.getByRole('link', { name: 'Refresh' }), /\/admin\/orders\/print\?/);
    await submit(page, page.getByRole('toolbar', { name: 'Print view' }).getByRole('link', { name: 'Close' }), new RegExp(`/admin/orders/${number}$`));
    await page.context().close();
    expect(failures).toEqual([]);
  }, 60_000);

  it('a declined card returns to the review step with the message and the comment kept; another card then works', async () => {
    const failures: string[] = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await trackedPage(context, failures, 'shopper', { serverErrors: true });
    await t.sql(`update stock_levels set quantity = greatest(quantity, 1000) where product_id = (select id from products where number = 'P-1050')`);
    const [{ name }] = await t.sql<{ name: string }>(`select name from products where number = 'P-1050'`);
    await page.goto(`${baseUrl}/`);
    await searchAndAdd(page, baseUrl, name);
    await page.goto(`${baseUrl}/checkout/addresses`);
    await fillBillingAddress(page, baseUrl, { name: 'Dee Clined', company: '', street: 'Main Street 1', zip: '2100', city: 'Copenhagen', email: 'dee@example.test' });
    await methodsToReview(page, baseUrl, 'Card');
    await page.getByLabel('Comment to the shop (optional)').fill('Leave it with the neighbour');
    await page.getByLabel('Name on card').fill('Dee Clined');
    await page.getByLabel('Card number').fill('4000 0000 0000 0002');
    await page.getByLabel('Expiry (MM/YY)').fill('12/39');
    await page.getByLabel('Security code').fill('123');
    await submit(page, page.getByRole('button', { name: /^Place order/ }), `${baseUrl}/checkout/place`);
    expect(await textOf(page.getByTestId('refused-place'))).toContain('The card was declined by the bank.');
    expect(await page.getByLabel('Comment to the shop (optional)').inputValue()).toBe('Leave it with the neighbour');
    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByLabel('Expiry (MM/YY)').fill('12/39');
    await page.getByLabel('Security code').fill('123');
    await submit(page, page.getByRole('button', { name: /^Place order/ }), /\/checkout\/receipt\//);
    const number = page.url().split('/').pop()!;
    expect((await t.sql(`select completed, customer_comment from orders where number = $1`, [number]))[0]).toEqual({ completed: true, customer_comment: 'Leave it with the neighbour' });
    await context.close();
    expect(failures.filter((f) => !f.includes('status of 402'))).toEqual([]); // the declined card itself answers 402
  }, 60_000);
});
