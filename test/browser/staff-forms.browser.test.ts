/**
 * Issue 16's staff forms in a real browser: the quote page's state control and the quote list's bulk state change,
 * a refused quote save and a refused "Additional information" save shown on their own page — the message by the
 * field, the typed values kept, the first marked field focused — never the storefront's error page.
 */
import type { Browser, Page } from 'playwright-core';
import { addToBasket, checkoutToReview, placeGuestOrder } from '../helpers/shopping';
import { login, newAgent, postForm, staffAgent, stockAndPrice, type TestApp } from '../helpers/test-app';
import { logIn, startBrowserApp, submit, textOf, trackedPage, visible, type BrowserApp } from '../helpers/browser';

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
beforeAll(async () => {
  ({ t, browser, baseUrl } = app = await startBrowserApp());
  await stockAndPrice(t, ['P-1010', 'P-1011'], 10000, 2500);
}, 60_000);
afterAll(async () => { await app?.close(); });

/** A quote the demo shopper asks for over HTTP (set-up). */
async function requestQuote(productNumber: string): Promise<string> {
  const customer = newAgent(t);
  await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
  await t.sql(`update orders set deleted = true, basket_status = null where user_id = (select id from users where email = 'shopper@orderflow.test') and basket_status = 'basket'`);
  await addToBasket(t, customer, productNumber, 4);
  await checkoutToReview(t, customer);
  const res = await postForm(customer, '/checkout/quote', { customerComment: 'A better price for 4?' }, '/checkout/review');
  return /\/customer-center\/quotes\/(QUOTE\d+)/.exec(res.headers.location)![1];
}

async function staffPage(failures: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await trackedPage(context, failures, 'staff');
  await logIn(page, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');
  return page;
}

const stateOf = async (number: string) => (await t.sql(`select s.name from orders o join flow_states s on s.id = o.state_id where o.number = $1`, [number]))[0].name;
const focusedId = (page: Page) => page.evaluate<string>("document.activeElement ? document.activeElement.id : ''");

describe('staff forms, in a browser', () => {
  it('quotes: the state control on the quote page, a refused save with what was typed, bulk state change on the list', async () => {
    const failures: string[] = [];
    const first = await requestQuote('P-1010');
    const second = await requestQuote('P-1011');
    const page = await staffPage(failures);

    await page.goto(`${baseUrl}/admin/quotes`);
    await submit(page, page.getByRole('link', { name: first, exact: true }), `${baseUrl}/admin/quotes/${first}`);
    await page.getByLabel('State (flow → state)').selectOption({ label: 'Quote flow → In review' });
    await page.getByLabel(/^Note with the state change/).fill('Looking at the price');
    await submit(page, page.getByRole('button', { name: 'Save state' }), `${baseUrl}/admin/quotes/${first}`);
    expect(await textOf(page.getByRole('heading', { level: 1 }))).toContain('In review');
    expect(await stateOf(first)).toBe('In review');

    // A discount larger than the goods: refused by the Save button, everything typed still there, the field focused.
    await page.getByLabel('Order discount excl. VAT').fill('99999');
    await page.getByLabel('Message to the customer').fill('Our best price');
    await submit(page, page.getByRole('button', { name: 'Save as new version' }), `${baseUrl}/admin/quotes/${first}`);
    await visible(page.getByTestId('refused-save'));
    expect(await textOf(page.getByTestId('refused-save'))).toContain('less than 0');
    expect(await page.getByLabel('Order discount excl. VAT').inputValue()).toBe('99999');
    expect(await page.getByLabel('Message to the customer').inputValue()).toBe('Our best price');
    expect(await focusedId(page)).toBe('orderDiscount');
    expect(await page.getByText('Continue shopping').count()).toBe(0);
    await page.getByLabel('Order discount excl. VAT').fill('10');
    await submit(page, page.getByRole('button', { name: 'Save as new version' }), `${baseUrl}/admin/quotes/${first}`);
    await visible(page.getByText(`${first} saved as a new version.`));

    // The list: both selected, one state for both; each gets its own result line.
    await page.goto(`${baseUrl}/admin/quotes`);
    await page.getByLabel(`Select ${first}`).check();
    await page.getByLabel(`Select ${second}`).check();
    await page.getByLabel('Change state to').selectOption({ label: 'Quote flow → Rejected' });
    await submit(page, page.getByRole('button', { name: 'Change state' }), `${baseUrl}/admin/quotes/bulk-state`);
    expect(await textOf(page.getByTestId(`bulk-${first}`))).toContain('Moved');
    expect(await textOf(page.getByTestId(`bulk-${second}`))).toContain('Moved');
    expect([await stateOf(first), await stateOf(second)]).toEqual(['Rejected', 'Rejected']);
    await page.context().close();
    // The refused save answered 422; nothing else failed.
    expect(failures.filter((f) => !/status of 422 /.test(f))).toEqual([]);
  }, 90_000);

  it('Additional information: a wrong value is refused in the box on the order page, typed values kept; fixed, it saves', async () => {
    const failures: string[] = [];
    const staff = await staffAgent(t);
    for (const f of [
      { systemName: 'po_number', name: 'PO number', type: 'text', appliesTo: 'order' },
      { systemName: 'weight_kg', name: 'Weight (kg)', type: 'number', appliesTo: 'order' },
    ]) expect((await postForm(staff, '/admin/settings/order-fields', f, '/admin/settings/order-fields')).status).toBe(303);
    const number = await placeGuestOrder(t, 'P-1010');
    const page = await staffPage(failures);
    await page.goto(`${baseUrl}/admin/orders/${number}`);
    const box = page.getByTestId('additional-information');
    await box.getByLabel('PO number').fill('PO-4711');
    await box.getByLabel('Weight (kg)').fill('heavy');
    await submit(page, box.getByRole('button', { name: 'Save additional information' }), `${baseUrl}/admin/orders/${number}/edit/fields`);
    // Still the order's page in the admin layout, the message by the field, both values as typed, the field focused.
    await visible(page.getByRole('region', { name: `Tools for ${number}` }));
    await visible(box.getByTestId('refused-fields'));
    expect(await textOf(box.locator('#f-order_field_weight_kg-error'))).toContain('Weight (kg) must be a number');
    expect(await box.getByLabel('PO number').inputValue()).toBe('PO-4711');
    expect(await box.getByLabel('Weight (kg)').inputValue()).toBe('heavy');
    expect(await focusedId(page)).toBe('f-order_field_weight_kg');
    expect(await page.getByText('Continue shopping').count()).toBe(0);

    await box.getByLabel('Weight (kg)').fill('12.5');
    await submit(page, box.getByRole('button', { name: 'Save additional information' }), new RegExp(`/admin/orders/${number}#additional-information$`));
    await visible(page.getByText(`${number}: additional information saved as version`));
    expect((await t.sql('select custom_fields from orders where number = $1', [number]))[0].custom_fields).toEqual({ po_number: 'PO-4711', weight_kg: '12.5' });
    await page.context().close();
    expect(failures.filter((f) => !/status of 422 /.test(f))).toEqual([]);
  }, 90_000);
});
