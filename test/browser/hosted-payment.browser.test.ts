/**
 * A guest pays on the hosted payment page (the sandbox provider's page) in a real browser, as a person would: a
 * declined card sends them back to the review step with the reason, a 3-D Secure card asks for the code, an approved
 * payment lands on the receipt. The webhook goes over real HTTP to the app, racing the shopper's redirect back.
 */
import type { Browser } from 'playwright-core';
import type { TestApp } from '../helpers/test-app';
import { fillBillingAddress, methodsToReview, searchAndAdd, startBrowserApp, submit, textOf, trackedPage, visible, type BrowserApp } from '../helpers/browser';

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
beforeAll(async () => { ({ t, browser, baseUrl } = app = await startBrowserApp()); }, 60_000);
afterAll(async () => { await app?.close(); });

it('a guest pays on the hosted payment page: declined, then 3-D Secure, then the receipt', async () => {
  for (const width of [1280, 375]) {
    const context = await browser.newContext({ viewport: { width, height: 900 } });
    const failures: string[] = [];
    const page = await trackedPage(context, failures);
    await page.goto(`${baseUrl}/`);
    await searchAndAdd(page, baseUrl, 'Espresso beans 1 kg');
    await page.getByRole('button', { name: 'Go to checkout' }).click();
    await fillBillingAddress(page, baseUrl, { name: 'Kim Customer', company: '', street: 'Main Street 1', zip: '2100', city: 'Copenhagen', email: 'kim@example.test' });
    await methodsToReview(page, baseUrl, 'Sandbox Pay');
    const number = await page.locator('input[name="orderNumber"]').inputValue();

    // Off to the provider's page; a declined card comes back to the review step with the reason.
    await submit(page, page.getByRole('button', { name: /^Pay and place order/ }), /\/sandbox-pay\/SBH-/);
    await visible(page.getByRole('heading', { name: /^Pay / }));
    if (width === 375) await page.screenshot({ path: 'test-results/hosted-payment-page-375.png', fullPage: true });
    await page.getByLabel('Card number').fill('4000 0000 0000 0002');
    await page.getByLabel('Expiry (MM/YY)').fill('12/39');
    await page.getByLabel('Security code').fill('123');
    await submit(page, page.getByRole('button', { name: /^Pay / }), `${baseUrl}/checkout/review`);
    expect(await textOf(page.getByRole('alert'))).toContain('Your payment was not accepted: The card was declined by the bank.');

    // Again, with the 3-D Secure test card: the bank asks for the code.
    await submit(page, page.getByRole('button', { name: /^Pay and place order/ }), /\/sandbox-pay\/SBH-/);
    await page.getByLabel('Card number').fill('4000 0000 0000 3220');
    await page.getByLabel('Expiry (MM/YY)').fill('12/39');
    await page.getByLabel('Security code').fill('123');
    await submit(page, page.getByRole('button', { name: /^Pay / }), /\/sandbox-pay\/SBH-/);
    await visible(page.getByRole('heading', { name: '3-D Secure' }));
    await page.getByLabel('Confirmation code').fill('1234');
    await submit(page, page.getByRole('button', { name: 'Confirm payment' }), `${baseUrl}/checkout/receipt/${number}`);
    await visible(page.getByRole('heading', { name: /Thank you/ }));
    if (width === 375) await page.screenshot({ path: 'test-results/hosted-payment-receipt-375.png', fullPage: true });

    const [order] = await t.sql(`select completed, payment_status, card_last4 from orders where number = $1`, [number]);
    expect(order).toEqual({ completed: true, payment_status: 'authorized', card_last4: '3220' });
    const [{ n }] = await t.sql(`select count(*)::int as n from payment_transactions where order_id = (select id from orders where number = $1) and operation = 'authorize' and success`, [number]);
    expect(n).toBe(1);
    expect(failures).toEqual([]);
    await context.close();
  }
}, 180_000);
