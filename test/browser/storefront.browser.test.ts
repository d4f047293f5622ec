/**
 * One shopper story in a real browser (Debian's chromium through playwright-core) against the real app:
 * catalog → basket → login (the anonymous basket is merged) → checkout → receipt → receipt e-mail.
 * Locators are accessible ones (role, label), so the test also proves every control it uses has a name.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { startTestApp, waitFor, type TestApp } from '../helpers/test-app';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];

let t: TestApp;
let server: Server;
let browser: Browser;
let baseUrl: string;

beforeAll(async () => {
  t = await startTestApp();
  server = await new Promise<Server>((resolve, reject) => {
    const s = t.app.listen(0, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await t?.close();
});

/** Waits until the locator shows a visible element (each page is server-rendered, so this is quick). */
async function visible(locator: Locator): Promise<void> {
  await locator.first().waitFor({ state: 'visible' });
}

async function textOf(locator: Locator): Promise<string> {
  await visible(locator);
  return ((await locator.first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

/** Finds a product with the catalog search (so paging and sort order do not matter) and adds it. */
async function addFromCatalog(page: Page, productName: string): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByRole('search').getByLabel('Search by name or number').fill(productName);
  await page.getByRole('search').getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/\/\?q=/);
  await page.getByRole('button', { name: `Add ${productName} to basket` }).click();
  await page.waitForURL(`${baseUrl}/cart`);
  // Not the "Added to your basket." flash: the app redirects before the session (and its flash) is saved,
  // so the flash is sometimes missing. The basket itself is the reliable evidence.
  await visible(page.getByRole('table').getByRole('link', { name: productName, exact: true }));
}

describe('storefront in a browser', () => {
  it('an anonymous shopper fills a basket, logs in, checks out by card and gets a receipt page and e-mail', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const failures: string[] = [];
    page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') failures.push(`console: ${m.text()}`); });
    page.on('response', (r) => { if (r.status() === 404) failures.push(`404: ${r.url()}`); });

    // The catalog, as an anonymous visitor.
    await page.goto(`${baseUrl}/`);
    expect(await page.title()).toMatch(/^Products/);
    expect(await textOf(page.getByTestId('mini-cart-count'))).toBe('0');
    await visible(page.getByRole('link', { name: 'Log in' }));
    await visible(page.getByRole('heading', { level: 1, name: 'All products' }));
    const first = 'Espresso beans 1 kg';
    const second = 'Chef knife 20 cm';

    // Two different products, each with its own button.
    await addFromCatalog(page, first);
    expect(await textOf(page.getByTestId('mini-cart-count'))).toBe('1');
    await addFromCatalog(page, second);
    expect(await textOf(page.getByTestId('mini-cart-count'))).toBe('2');
    await visible(page.getByRole('link', { name: 'Basket, 2 items' }));
    const basket = page.getByRole('table');
    await visible(basket.getByRole('link', { name: first }));
    await visible(basket.getByRole('link', { name: second }));

    // Log in: the anonymous basket becomes the shopper's basket.
    await page.getByRole('link', { name: 'Log in' }).click();
    await page.waitForURL(`${baseUrl}/login`);
    await page.getByLabel('E-mail').fill('shopper@orderflow.test');
    await page.getByLabel('Password').fill('shopper-pass-1');
    await page.getByRole('main').getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${baseUrl}/`);
    await visible(page.getByRole('button', { name: 'Log out' }));
    await visible(page.getByRole('navigation', { name: 'Account' }).getByText('Sam Shopper'));
    expect(await textOf(page.getByTestId('mini-cart-count'))).toBe('2');

    await page.getByRole('link', { name: /^Basket, 2 items/ }).click();
    await page.waitForURL(`${baseUrl}/cart`);
    await visible(page.getByRole('heading', { name: 'Your basket' }));
    await visible(basket.getByRole('link', { name: first }));
    await visible(basket.getByRole('link', { name: second }));
    expect(await page.getByRole('spinbutton', { name: `Quantity of ${first}` }).inputValue()).toBe('1');
    expect(await page.getByRole('spinbutton', { name: `Quantity of ${second}` }).inputValue()).toBe('1');

    // Checkout step 1: the billing address.
    await page.getByRole('link', { name: 'Go to checkout' }).click();
    await page.waitForURL(`${baseUrl}/checkout/addresses`);
    const billing = page.getByRole('group', { name: 'Billing address' });
    await billing.getByLabel('Full name').fill('Kim Customer');
    await billing.getByLabel('Company').fill('');
    await billing.getByLabel('Street address').fill('Main Street 1');
    await billing.getByLabel('Postal code').fill('2100');
    await billing.getByLabel('City').fill('Copenhagen');
    await billing.getByLabel('Country').selectOption({ label: 'Denmark' });
    await billing.getByLabel('E-mail').fill('kim@example.test');
    expect(await page.getByRole('checkbox', { name: 'Deliver to the billing address' }).isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Continue to shipping and payment' }).click();

    // Step 2: shipping and payment.
    await page.waitForURL(`${baseUrl}/checkout/methods`);
    await page.getByRole('radio', { name: /^Standard delivery/ }).check();
    await page.getByRole('radio', { name: /^Card\b/ }).check();
    await page.getByRole('button', { name: 'Continue to review' }).click();

    // Step 3: review, card details, place the order.
    await page.waitForURL(`${baseUrl}/checkout/review`);
    const items = page.getByRole('table').first();
    expect(await textOf(items)).toContain(first);
    expect(await textOf(items)).toContain(second);
    expect(await textOf(page.getByRole('main'))).toContain('Standard delivery · Card');
    await page.getByLabel('Name on card').fill('Kim Customer');
    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByLabel('Expiry').fill('12/39');
    await page.getByLabel('Security code').fill('123');
    await page.getByRole('button', { name: /^Place order/ }).click();

    // The receipt.
    await page.waitForURL(/\/checkout\/receipt\/ORDER\d+$/);
    await visible(page.getByRole('heading', { name: 'Thank you for your order' }));
    const number = (await page.getByTestId('order-number').textContent())?.trim() ?? '';
    expect(number).toMatch(/^ORDER\d+$/);
    expect(page.url()).toBe(`${baseUrl}/checkout/receipt/${number}`);
    expect(await textOf(page.getByRole('main'))).toContain('Visa ending 4242');
    expect(await textOf(page.getByTestId('mini-cart-count'))).toBe('0');

    // The receipt e-mail leaves through the outbox to the test SMTP server.
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Order confirmation ${number}`));
    expect(mail.to).toBe('kim@example.test');
    expect(mail.text).toContain(first);
    expect(mail.text).toContain(second);

    expect(failures).toEqual([]);
    await context.close();
  }, 60_000);
});
