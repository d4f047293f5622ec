/**
 * One shopper story in a real browser (Debian's chromium through playwright-core) against the real app:
 * catalog → basket → login (the anonymous basket is merged) → checkout → receipt → receipt e-mail.
 * Locators are accessible ones (role, label), so the test also proves every control it uses has a name.
 */
import type { Browser, Page } from 'playwright-core';
import { waitFor, type TestApp } from '../helpers/test-app';
import { fillBillingAddress, searchAndAdd, startBrowserApp, textOf, trackedPage, visible, type BrowserApp } from '../helpers/browser';

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
beforeAll(async () => { ({ t, browser, baseUrl } = app = await startBrowserApp()); }, 60_000);
afterAll(async () => { await app?.close(); });

/** Finds a product with the catalog search (so paging and sort order do not matter) and adds it. */
async function addFromCatalog(page: Page, productName: string): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await searchAndAdd(page, baseUrl, productName);
}

describe('storefront in a browser', () => {
  it('an anonymous shopper fills a basket, logs in, checks out by card and gets a receipt page and e-mail', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const failures: string[] = [];
    // Only 404s among the responses, as this test has always checked.
    const page = await trackedPage(context, failures, undefined, { serverErrors: false });

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

    // Log in from the basket page: the anonymous basket becomes the shopper's basket, and the shopper is back on it.
    await page.getByRole('link', { name: 'Log in' }).click();
    await page.waitForURL(`${baseUrl}/login?next=%2Fcart`);
    await page.getByLabel('E-mail').fill('shopper@orderflow.test');
    await page.getByLabel('Password').fill('shopper-pass-1');
    await page.getByRole('main').getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${baseUrl}/cart`);
    await visible(page.getByRole('button', { name: 'Log out' }));
    await visible(page.getByRole('navigation', { name: 'Account' }).getByText('Sam Shopper'));
    expect(await textOf(page.getByTestId('mini-cart-count'))).toBe('2');
    await visible(page.getByRole('heading', { name: 'Your basket' }));
    await visible(basket.getByRole('link', { name: first }));
    await visible(basket.getByRole('link', { name: second }));
    expect(await page.getByRole('spinbutton', { name: `Quantity of ${first}` }).inputValue()).toBe('1');
    expect(await page.getByRole('spinbutton', { name: `Quantity of ${second}` }).inputValue()).toBe('1');

    // Checkout step 1: the billing address.
    await page.getByRole('button', { name: 'Go to checkout' }).click();
    await fillBillingAddress(page, baseUrl, { name: 'Kim Customer', company: '', street: 'Main Street 1', zip: '2100', city: 'Copenhagen', email: 'kim@example.test' });
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
    // A comment typed before applying a voucher (a form of its own, so the page reloads) is still there after it.
    await page.getByLabel('Comment to the shop (optional)').fill('Please ring the bell');
    await page.getByLabel('Voucher code').fill('WELCOME10');
    await page.getByRole('button', { name: 'Apply voucher' }).click();
    await page.waitForURL(`${baseUrl}/checkout/review`);
    await visible(page.getByText('Voucher applied.'));
    expect(await page.getByLabel('Comment to the shop (optional)').inputValue()).toBe('Please ring the bell');
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
    const [placed] = await t.sql('select customer_comment, voucher_code from orders where number = $1', [number]);
    expect(placed).toEqual({ customer_comment: 'Please ring the bell', voucher_code: 'WELCOME10' });

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
