/**
 * Accessibility in a real browser: axe-core (through @axe-core/playwright) checks the pages shoppers and staff use,
 * and no page may have a violation of impact "serious" or "critical" (moderate and minor ones are left to judgement).
 * The data is built the way people build it: a shopper searches, fills a basket, names a cart and checks out by card
 * on the pages (with a wrong e-mail on the way, so an addresses page showing a validation error is checked too);
 * a quote request and an unfinished checkout come from the HTTP helpers; staff log in from the admin link.
 * Each test collects the problems of all its pages first and then fails once, listing every one of them with
 * the page, the rule id, its impact, what it asks for and the selectors of the elements that break it.
 */
import AxeBuilder from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { login, newAgent, postForm, type TestApp } from '../helpers/test-app';
import { addToBasket, checkoutToReview } from '../helpers/shopping';
import {
  fillBillingAddress, logIn, searchAndAdd, startBrowserApp, submit, textOf, trackedPage, visible, type BrowserApp,
} from '../helpers/browser';

const SHOPPER = { email: 'shopper@orderflow.test', password: 'shopper-pass-1' };
const ADMIN = { email: 'admin@orderflow.test', password: 'admin-pass-1' };
const PRODUCT = 'Espresso beans 1 kg'; // P-1001, group "Coffee & Tea"
const QUOTE_PRODUCT = 'P-1040'; // Thermos 1 l
const UNFINISHED_PRODUCT = 'P-1043'; // Head torch

/** The impacts that fail the test. */
const BLOCKING = new Set(['serious', 'critical']);
/** Elements listed per violation in a failure (the rest are counted). */
const MAX_NODES = 8;
/** The forms the server refuses on purpose answer 422, which Chromium reports on the console. */
const REFUSED_FORM = /console: Failed to load resource: the server responded with a status of 422/;

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
const contexts: BrowserContext[] = [];
/** What should never happen in any page (script errors, console errors, 404s, 5xx), from trackedPage. */
const failures: string[] = [];
let guest: Page, shopper: Page, staff: Page;
let orderNumber = '';

beforeAll(async () => {
  ({ t, browser, baseUrl } = app = await startBrowserApp());
  await t.sql('update stock_levels set quantity = 1000 where product_id in (select id from products where name = $1 or number = any($2))',
    [PRODUCT, [QUOTE_PRODUCT, UNFINISHED_PRODUCT]]);
  guest = await newPerson('guest');
  shopper = await newPerson('shopper');
  staff = await newPerson('staff');
}, 60_000);

afterAll(async () => {
  for (const c of contexts.splice(0)) await c.close().catch(() => undefined);
  await app?.close();
});

async function newPerson(who: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  return trackedPage(context, failures, who);
}

/**
 * Runs axe on the page as it is now and adds a readable entry for each serious or critical violation to `problems`.
 * Legacy mode runs axe.run() in the page itself (the pages have no frames; the default mode opens and fills an extra
 * blank page for every run), and only violations are aggregated in full, which saves most of axe's time.
 */
async function audit(page: Page, name: string, problems: string[]): Promise<void> {
  const results = await new AxeBuilder({ page }).setLegacyMode(true).options({ resultTypes: ['violations'] }).analyze();
  for (const v of results.violations) {
    if (!v.impact || !BLOCKING.has(v.impact)) continue;
    const nodes = v.nodes.slice(0, MAX_NODES).map((n) => {
      const why = (n.failureSummary ?? '').split('\n').map((l) => l.trim()).filter((l) => l && !/^Fix (any|all)/.test(l)).join('; ');
      return `      ${n.target.map(String).join(' >>> ')}${why ? ` — ${why.length > 200 ? `${why.slice(0, 200)}…` : why}` : ''}`;
    });
    if (v.nodes.length > MAX_NODES) nodes.push(`      … and ${v.nodes.length - MAX_NODES} more`);
    problems.push([`${name} (${page.url().replace(baseUrl, '')}): ${v.id} [${v.impact}] ${v.help} (${v.helpUrl})`, ...nodes].join('\n'));
  }
}

/** Opens a path (it must answer 2xx) and audits it. */
async function visit(page: Page, path: string, name: string, problems: string[]): Promise<void> {
  const res = await page.goto(`${baseUrl}${path}`);
  expect(res?.status()).toBeLessThan(300);
  await audit(page, name, problems);
}

/** Fails with every problem listed, one violation per paragraph. */
function expectNone(problems: string[]): void {
  expect(`${problems.length} serious or critical axe violation(s)\n${problems.join('\n')}`).toBe('0 serious or critical axe violation(s)\n');
}

describe('accessibility (axe-core): no serious or critical violations', () => {
  it('log-in (also the one staff get from the admin) and register, also with the errors the server found', async () => {
    const problems: string[] = [];
    await visit(guest, '/login', 'login', problems);
    await visit(guest, '/register', 'register', problems);
    await guest.goto(`${baseUrl}/admin/orders`);
    await guest.waitForURL(/\/login\?next=/);
    await visible(guest.getByRole('heading', { level: 1, name: 'Log in' }));
    await audit(guest, 'admin login', problems);

    // A register form the server refuses: the browser lets the short password through, the server does not.
    await guest.goto(`${baseUrl}/register`);
    await guest.getByLabel('Full name').fill('Alex Example');
    await guest.getByLabel('E-mail').fill('alex@example.test');
    await guest.getByLabel(/^Password/).fill('short');
    await submit(guest, guest.getByRole('main').getByRole('button', { name: 'Create account' }), `${baseUrl}/register`);
    await visible(guest.locator('.field-error'));
    await visible(guest.getByRole('alert'));
    await audit(guest, 'register refused', problems);
    expectNone(problems);
  }, 120_000);

  it('storefront (catalog, group, search, product, basket, carts) and checkout (addresses, with an error, methods, review, receipt)', async () => {
    const problems: string[] = [];
    await logIn(shopper, baseUrl, SHOPPER.email, SHOPPER.password, '/');
    await audit(shopper, 'catalog', problems);
    await shopper.getByRole('complementary', { name: 'Product groups' }).getByRole('link', { name: 'Coffee & Tea' }).click();
    await shopper.waitForURL(/\?group=coffee$/);
    await audit(shopper, 'product group', problems);
    await shopper.getByRole('search').getByLabel('Search by name or number').fill('espresso');
    await submit(shopper, shopper.getByRole('search').getByRole('button', { name: 'Search' }), /q=espresso/);
    await audit(shopper, 'search results', problems);
    await shopper.getByRole('link', { name: PRODUCT, exact: true }).click();
    await shopper.waitForURL(/\/products\/P-\d+$/);
    await audit(shopper, 'product page', problems);
    await shopper.goto(`${baseUrl}/`);
    await searchAndAdd(shopper, baseUrl, PRODUCT);
    await audit(shopper, 'basket', problems);

    // The customer center's carts with a filled basket and a second, named cart.
    await shopper.goto(`${baseUrl}/customer-center?CC=Carts`);
    await shopper.getByLabel('New cart name').fill('Office coffee');
    await submit(shopper, shopper.getByRole('button', { name: 'Create cart' }), `${baseUrl}/customer-center?CC=Carts`);
    await visible(shopper.getByRole('heading', { name: /^Office coffee/ }));
    await audit(shopper, 'customer center carts', problems);

    // Checkout: an e-mail the browser accepts but the server does not, then the steps through to the receipt.
    await shopper.goto(`${baseUrl}/cart`);
    await shopper.getByRole('button', { name: 'Go to checkout' }).click();
    await fillBillingAddress(shopper, baseUrl, { name: 'Kim Customer', company: '', street: 'Main Street 1', zip: '2100', city: 'Copenhagen', email: 'kim@example' });
    await audit(shopper, 'checkout addresses', problems);
    await submit(shopper, shopper.getByRole('button', { name: 'Continue to shipping and payment' }), `${baseUrl}/checkout/addresses`);
    await visible(shopper.locator('.field-error'));
    await audit(shopper, 'checkout addresses with an error', problems);
    await shopper.getByRole('group', { name: 'Billing address' }).getByLabel('E-mail').fill('kim@example.test');
    await submit(shopper, shopper.getByRole('button', { name: 'Continue to shipping and payment' }), `${baseUrl}/checkout/methods`);
    await audit(shopper, 'checkout methods', problems);
    await shopper.getByRole('radio', { name: /^Standard delivery/ }).check();
    await shopper.getByRole('radio', { name: /^Card\b/ }).check();
    await submit(shopper, shopper.getByRole('button', { name: 'Continue to review' }), `${baseUrl}/checkout/review`);
    await audit(shopper, 'checkout review', problems);
    await shopper.getByLabel('Name on card').fill('Kim Customer');
    await shopper.getByLabel('Card number').fill('4242 4242 4242 4242');
    await shopper.getByLabel('Expiry').fill('12/39');
    await shopper.getByLabel('Security code').fill('123');
    await submit(shopper, shopper.getByRole('button', { name: /^Place order/ }), /\/checkout\/receipt\/ORDER\d+$/);
    orderNumber = await textOf(shopper.getByTestId('order-number'));
    expect(orderNumber).toMatch(/^ORDER\d+$/);
    await audit(shopper, 'checkout receipt', problems);
    expectNone(problems);
  }, 120_000);

  it('customer center: orders, one order, quotes, returns', async () => {
    expect(orderNumber).not.toBe('');
    // A quote request by the same shopper (through the HTTP helpers), so the quotes list has a row.
    const agent = newAgent(t);
    await login(agent, SHOPPER.email, SHOPPER.password);
    await addToBasket(t, agent, QUOTE_PRODUCT);
    await checkoutToReview(t, agent);
    expect((await postForm(agent, '/checkout/quote', { customerComment: 'Ten of them, please.' }, '/checkout/review')).status).toBe(303);

    const problems: string[] = [];
    await visit(shopper, '/customer-center?CC=Orders', 'customer center orders', problems);
    await shopper.getByRole('link', { name: orderNumber, exact: true }).click();
    await shopper.waitForURL(`${baseUrl}/customer-center/orders/${orderNumber}`);
    await audit(shopper, 'customer center order details', problems);
    await visit(shopper, '/customer-center?CC=Quotes', 'customer center quotes', problems);
    await visible(shopper.getByRole('table').getByRole('row').nth(1).getByRole('link'));
    await visit(shopper, '/customer-center?CC=Returns', 'customer center returns', problems);
    expectNone(problems);
  }, 120_000);

  it('staff: log-in from the admin link, the order list with filters, an order', async () => {
    expect(orderNumber).not.toBe('');
    // A guest checkout that stops at the review step: an order that is not completed, for the "not completed" filter.
    const unfinished = newAgent(t);
    await addToBasket(t, unfinished, UNFINISHED_PRODUCT);
    await checkoutToReview(t, unfinished);

    const problems: string[] = [];
    await staff.goto(`${baseUrl}/admin/orders`);
    await staff.waitForURL(/\/login\?next=/);
    await staff.getByLabel('E-mail').fill(ADMIN.email);
    await staff.getByLabel('Password').fill(ADMIN.password);
    await submit(staff, staff.getByRole('main').getByRole('button', { name: 'Log in' }), `${baseUrl}/admin/orders`);
    await visible(staff.getByTestId(`row-${orderNumber}`));
    await audit(staff, 'admin orders', problems);
    await visit(staff, '/admin/orders?apply=1&preset=&progress=not_completed&capture=&imported=no&sort=number&dir=asc', 'admin orders: not completed, sorted', problems);
    await visible(staff.locator('.not-completed-tag'));
    await visit(staff, '/admin/orders?apply=1&search=Main%20Street&searchIn=all&progress=completed', 'admin orders: all-fields search', problems);
    await visit(staff, '/admin/orders?apply=1&search=nobody%40example.test&searchIn=customer', 'admin orders: nothing matches', problems);
    await staff.getByRole('button', { name: 'Reset', exact: true }).click();
    await staff.waitForURL(`${baseUrl}/admin/orders`);
    await staff.getByRole('link', { name: orderNumber, exact: true }).click();
    await staff.waitForURL(`${baseUrl}/admin/orders/${orderNumber}`);
    await audit(staff, 'admin order details', problems);
    await visit(staff, '/admin/products', 'admin products', problems);
    await visit(staff, '/admin/products/P-1001', 'admin product', problems);
    await visit(staff, '/admin/products/new', 'admin new product', problems);
    expectNone(problems);

    expect(failures.filter((f) => !REFUSED_FORM.test(f))).toEqual([]);
  }, 120_000);
});
