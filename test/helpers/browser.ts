/**
 * Shared pieces of the browser tests (Debian's chromium through playwright-core against the real app):
 * the app on an ephemeral port with a browser, locator helpers, a page that records what should never happen,
 * and the story steps the test files have in common (log in, search and add a product, the checkout forms).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { startTestApp, type TestApp } from './test-app';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];

export interface BrowserApp {
  t: TestApp;
  baseUrl: string;
  browser: Browser;
  /** Closes the browser, the HTTP server (and its open connections) and the test app, in that order. */
  close(): Promise<void>;
}

/** The real app (see startTestApp) listening on an ephemeral port of 127.0.0.1, and chromium launched. */
export async function startBrowserApp(): Promise<BrowserApp> {
  let t: TestApp | undefined;
  let server: Server | undefined;
  let browser: Browser | undefined;
  const close = async () => {
    await browser?.close();
    if (server) {
      const s = server;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
    await t?.close();
  };
  try {
    const app = t = await startTestApp();
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.app.listen(0, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    return { t: app, baseUrl, browser, close };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}

/** Waits until the locator shows a visible element (each page is server-rendered, so this is quick). */
export async function visible(locator: Locator): Promise<void> {
  await locator.first().waitFor({ state: 'visible' });
}

export async function textOf(locator: Locator): Promise<string> {
  await visible(locator);
  return ((await locator.first().textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

/**
 * A new page (10 s default timeout) that records what should never happen into `failures`: script errors,
 * console errors, 404s and, unless `serverErrors` is false, 5xx responses. `who` (if given) prefixes each entry.
 */
export async function trackedPage(context: BrowserContext, failures: string[], who?: string, { serverErrors = true } = {}): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const prefix = who === undefined ? '' : `${who}: `;
  page.on('pageerror', (e) => failures.push(`${prefix}page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') failures.push(`${prefix}console: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() === 404 || (serverErrors && r.status() >= 500)) failures.push(`${prefix}${r.status()}: ${r.url()}`); });
  return page;
}

/**
 * Clicks a submit button and waits for the page the server answers with (every form here posts and redirects).
 * It waits for a new document, not just for the URL: several forms redirect back to the page they are on.
 */
export async function submit(page: Page, button: Locator, url: string | RegExp): Promise<void> {
  const navigated = page.waitForEvent('framenavigated', (frame) => frame === page.mainFrame());
  await button.click();
  await navigated;
  await page.waitForURL(url, { waitUntil: 'load' });
}

/** Logs in from the header's "Log in" link; staff land on the admin dashboard (`/admin`), customers on the catalog (`/`). */
export async function logIn(page: Page, baseUrl: string, email: string, password: string, landing: string): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Log in' }).click();
  await page.waitForURL(`${baseUrl}/login`);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await submit(page, page.getByRole('main').getByRole('button', { name: 'Log in' }), `${baseUrl}${landing}`);
  await visible(page.getByRole('button', { name: 'Log out' }));
}

/**
 * Finds a product with the catalog search of the page that is open (so paging and sort order do not matter),
 * adds it and waits for the basket to list it.
 */
export async function searchAndAdd(page: Page, baseUrl: string, productName: string): Promise<void> {
  await page.getByRole('search').getByLabel('Search by name or number').fill(productName);
  await page.getByRole('search').getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/\/\?q=/);
  await page.getByRole('button', { name: `Add ${productName} to basket` }).click();
  await page.waitForURL(`${baseUrl}/cart`);
  // Not the "Added to your basket." flash: the app redirects before the session (and its flash) is saved,
  // so the flash is sometimes missing. The basket itself is the reliable evidence.
  await visible(page.getByRole('table').getByRole('link', { name: productName, exact: true }));
}

export interface BillingAddress { name: string; company: string; street: string; zip: string; city: string; email: string }

/** Checkout step 1: waits for the addresses page and fills the billing address (in Denmark). Does not submit. */
export async function fillBillingAddress(page: Page, baseUrl: string, a: BillingAddress): Promise<void> {
  await page.waitForURL(`${baseUrl}/checkout/addresses`);
  const billing = page.getByRole('group', { name: 'Billing address' });
  await billing.getByLabel('Full name').fill(a.name);
  await billing.getByLabel('Company').fill(a.company);
  await billing.getByLabel('Street address').fill(a.street);
  await billing.getByLabel('Postal code').fill(a.zip);
  await billing.getByLabel('City').fill(a.city);
  await billing.getByLabel('Country').selectOption({ label: 'Denmark' });
  await billing.getByLabel('E-mail').fill(a.email);
}

/** From the filled addresses page through checkout step 2 (standard delivery, the given payment) to the review page. */
export async function methodsToReview(page: Page, baseUrl: string, payment: 'Card' | 'Invoice' | 'Sandbox Pay'): Promise<void> {
  await submit(page, page.getByRole('button', { name: 'Continue to shipping and payment' }), `${baseUrl}/checkout/methods`);
  await page.getByRole('radio', { name: /^Standard delivery/ }).check();
  await page.getByRole('radio', { name: new RegExp(`^${payment}\\b`) }).check();
  await submit(page, page.getByRole('button', { name: 'Continue to review' }), `${baseUrl}/checkout/review`);
}
