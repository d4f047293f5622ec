/**
 * The staff order desk in a real browser (Debian's chromium through playwright-core) against the real app:
 *   a customer places an order by card (over HTTP, as set-up) → staff logs in, filters the order list by state and
 *   searches for the customer → opens the order → captures part of the amount on the payment box → ships part of it
 *   with a tracking number on the shipments box → edits the order (one more unit) → compares version 1 with the
 *   current order on the history / compare page.
 * Locators are accessible ones (role, label), so the test also proves every control it uses has a name.
 */
import type { Browser } from 'playwright-core';
import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { newAgent, type TestApp } from '../helpers/test-app';
import { logIn, startBrowserApp, submit, textOf, trackedPage, visible, type BrowserApp } from '../helpers/browser';

const CUSTOMER = 'Desk Story Customer';
const BEANS = 'Espresso beans 1 kg';
const INFUSER = 'Tea infuser';

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
beforeAll(async () => { ({ t, browser, baseUrl } = app = await startBrowserApp()); }, 60_000);
afterAll(async () => { await app?.close(); });

async function productNumber(name: string): Promise<string> {
  const [p] = await t.sql<{ number: string }>('select number from products where name = $1', [name]);
  await t.sql('update stock_levels set quantity = greatest(quantity, 1000) where product_id = (select id from products where number = $1)', [p.number]);
  return p.number;
}

/** The customer's part, over HTTP: 3 × beans and 1 × tea infuser, paid by card (authorized, not captured). */
async function placeCardOrder(beans: string, infuser: string): Promise<string> {
  const agent = newAgent(t);
  await addToBasket(t, agent, beans, 3);
  await addToBasket(t, agent, infuser, 1);
  const number = await checkoutToReview(t, agent, { payment: 'CARD', address: { billing_name: CUSTOMER, billing_email: 'desk.story@example.test' } });
  const res = await place(agent, number);
  if (res.status !== 303) throw new Error(`placing ${number} failed: ${res.status}`);
  return number;
}

describe('the staff order desk, in a browser', () => {
  it('staff filters the list, opens a card order, captures part, ships part with tracking, edits it and compares versions', async () => {
    const failures: string[] = [];
    const beans = await productNumber(BEANS);
    const infuser = await productNumber(INFUSER);
    const number = await placeCardOrder(beans, infuser);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const staff = await trackedPage(context, failures, 'staff');

    // 1. Log in and open the order list from the admin navigation.
    await logIn(staff, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');
    await staff.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Orders' }).click();
    await staff.waitForURL(`${baseUrl}/admin/orders`);
    await visible(staff.getByRole('heading', { level: 1, name: 'Orders' }));

    // 2. Filter: state "New", completed, and an exact search of the customer fields for the billing name.
    await staff.getByRole('group', { name: 'State' }).getByRole('checkbox', { name: 'New', exact: true }).check();
    await staff.getByLabel('Progress').selectOption({ label: 'Completed' });
    await staff.getByRole('searchbox', { name: 'Search for' }).fill(CUSTOMER);
    await staff.getByLabel('Search in').selectOption({ label: 'Customer fields (exact)' });
    await submit(staff, staff.getByRole('button', { name: 'Apply', exact: true }), /\/admin\/orders\?/);
    const list = staff.getByRole('table', { name: /^Orders/ });
    const rows = list.getByRole('row').filter({ has: staff.getByRole('checkbox', { name: /^Select / }) });
    await visible(list.getByRole('link', { name: number, exact: true }));
    expect(await rows.count()).toBe(1);
    expect(await staff.getByRole('group', { name: 'State' }).getByRole('checkbox', { name: 'New', exact: true }).isChecked()).toBe(true);

    // 3. Open the order.
    await list.getByRole('link', { name: number, exact: true }).click();
    await staff.waitForURL(`${baseUrl}/admin/orders/${number}`);
    await visible(staff.getByRole('heading', { level: 1, name: new RegExp(`^${number}\\b`) }));
    const payment = staff.getByRole('region', { name: 'Payment' });
    expect(await textOf(payment.getByTestId('capture-state'))).toBe('not captured');
    expect(await textOf(payment.getByTestId('payment-status'))).toBe('authorized');

    // 4. Capture part of the amount on the payment box.
    await payment.getByLabel(/^Capture part of the amount/).fill('50.00');
    await submit(staff, payment.getByRole('button', { name: 'Capture this amount' }), new RegExp(`/admin/orders/${number}`));
    expect(await textOf(payment.getByTestId('capture-state'))).toBe('split captured');
    expect(await textOf(payment.getByTestId('captured'))).toMatch(/^50[.,]00\b.*left to capture/);
    await visible(payment.getByRole('table').getByRole('row').filter({ hasText: /capture/ }).filter({ hasText: 'Approved' }));

    // 5. Ship part of it: 1 of the 3 bags of beans, not the infuser, with a tracking number.
    const shipments = staff.getByRole('region', { name: 'Shipments' });
    await shipments.getByLabel(new RegExp(`^Units of ${beans} to ship`)).fill('1');
    await shipments.getByLabel(new RegExp(`^Units of ${infuser} to ship`)).fill('0');
    await shipments.getByLabel(/^Tracking number/).fill('PKG-DESK-1');
    await submit(staff, shipments.getByRole('button', { name: 'Create shipment' }), new RegExp(`/admin/orders/${number}`));
    const shipment1 = shipments.getByRole('table', { name: `Shipments of ${number}` }).getByRole('row').filter({ has: staff.getByRole('link', { name: 'Shipment 1' }) });
    expect(await textOf(shipment1)).toContain(`1 × ${BEANS}`);
    expect(await textOf(shipment1)).toContain('PKG-DESK-1');
    expect(await textOf(shipment1)).not.toContain(INFUSER);
    // Still 2 beans and the infuser left to ship.
    expect(await shipments.getByLabel(new RegExp(`^Units of ${beans} to ship \\(at most 2\\)`)).inputValue()).toBe('2');

    // 6. Edit the order: one bag of beans fewer (2 instead of 3; a card order's total stays within its authorization).
    await staff.getByRole('region', { name: `Tools for ${number}` }).getByRole('link', { name: 'Edit order' }).click();
    await staff.waitForURL(`${baseUrl}/admin/orders/${number}/edit`);
    const beansLine = staff.getByRole('group', { name: new RegExp(`^${BEANS}`) });
    expect(await beansLine.getByLabel(/^Quantity/).inputValue()).toBe('3');
    await beansLine.getByLabel(/^Quantity/).fill('2');
    await staff.getByLabel('Note for the history (optional)').fill('Customer called: one bag fewer');
    await submit(staff, staff.getByRole('button', { name: /^Save as version 2$/ }), new RegExp(`/admin/orders/${number}`));

    // 7. History: two versions; compare version 1 with the current order.
    await staff.goto(`${baseUrl}/admin/orders/${number}`);
    await staff.getByRole('region', { name: 'Additional information' }).getByRole('link', { name: /^History \(2 versions\)/ }).click();
    await staff.waitForURL(`${baseUrl}/admin/orders/${number}/versions`);
    const versions = staff.getByRole('table', { name: `Versions of ${number}, newest first` });
    expect(await textOf(versions.getByRole('row').filter({ hasText: 'Version 2' }))).toContain('Customer called: one bag fewer');
    await versions.getByRole('link', { name: 'Compare version 1 with current' }).click();
    await staff.waitForURL(`${baseUrl}/admin/orders/${number}/versions/compare?version=1`);
    await visible(staff.getByRole('heading', { level: 1, name: `Compare ${number}: version 1 and now` }));
    expect(await textOf(staff.getByRole('status').filter({ hasText: /since version 1/ }))).toMatch(/^\d+ changes? since version 1/);
    const quantityRow = staff.getByRole('table', { name: `Line ${BEANS}` }).getByRole('row', { name: /^Quantity/ });
    expect(await textOf(quantityRow)).toMatch(/^Quantity 3 \w+ 2 \w+ Changed$/);

    // "Only show changes" keeps the beans line and hides the unchanged infuser line.
    await staff.getByRole('checkbox', { name: 'Only show changes' }).check();
    await submit(staff, staff.getByRole('button', { name: 'Compare', exact: true }), /only=changes/);
    await visible(staff.getByRole('table', { name: `Line ${BEANS}` }));
    expect(await staff.getByRole('table', { name: `Line ${INFUSER}` }).count()).toBe(0);

    // The database agrees with what the pages said.
    const [o] = await t.sql(`select captured_minor::int as captured, capture_state from orders where number = $1`, [number]);
    expect(o.captured).toBeGreaterThanOrEqual(5000);
    const [line] = await t.sql(`select quantity from order_lines l join orders o on o.id = l.order_id where o.number = $1 and l.product_number = $2`, [number, beans]);
    expect(line.quantity).toBe(2);

    await context.close();
    expect(failures).toEqual([]);
  }, 90_000);
});
