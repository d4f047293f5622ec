/**
 * The catalog desk in a real browser (Debian's chromium through playwright-core) against the real app: staff find a
 * product, get a refused edit back in context and fix it, upload an image, adjust stock, add dated prices (one refused
 * for overlapping), and the shop and the basket show the dated price, also as of a staff context date.
 * Locators are accessible ones (role, label), so the test also proves every control it uses has a name.
 */
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import { type TestApp } from '../helpers/test-app';
import { logIn, startBrowserApp, submit, textOf, trackedPage, visible, type BrowserApp } from '../helpers/browser';

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string;
beforeAll(async () => { ({ t, browser, baseUrl } = app = await startBrowserApp()); }, 60_000);
afterAll(async () => { await app?.close(); });

const day = (offset: number) => new Date(Date.now() + offset * 86400_000).toISOString().slice(0, 10);

describe('catalog desk in a browser', () => {
  it('staff edit a product (a refusal shown in context), upload its image, adjust stock and add dated prices the shop honours', async () => {
    await t.sql('update shops set allow_context_dates = true');
    await t.sql(`update stock_levels set quantity = 0 where product_id = (select id from products where number = 'P-1017')
      and location_id = (select id from stock_locations where name = 'Store Copenhagen')`);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const failures: string[] = [];
    const page = await trackedPage(context, failures);
    await logIn(page, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');

    // Find the product.
    await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Products' }).click();
    await page.waitForURL(`${baseUrl}/admin/products`);
    await page.getByRole('search').getByLabel('Search by name or number').fill('pour-over');
    await submit(page, page.getByRole('search').getByRole('button', { name: 'Search' }), /q=pour-over/);
    await submit(page, page.getByRole('link', { name: 'P-1017' }), `${baseUrl}/admin/products/P-1017`);

    // A price the form cannot take: the message sits next to the field, the typed values stay.
    const details = page.getByTestId('product-form');
    await details.getByLabel('Name').fill('Pour-over kettle 1 l');
    await details.getByLabel('Price excl. VAT (DKK)').fill('99.999');
    await submit(page, details.getByRole('button', { name: 'Save product' }), `${baseUrl}/admin/products/P-1017`);
    expect(await textOf(page.getByTestId('refused-product'))).toContain('Please check price');
    expect(await textOf(page.locator('#price-error'))).toBe('Price excl. VAT (DKK) must be an amount like 125.50 (“99.999” is not)');
    expect(await page.getByTestId('product-form').getByLabel('Name').inputValue()).toBe('Pour-over kettle 1 l');
    expect(await page.getByTestId('product-form').getByLabel('Price excl. VAT (DKK)').inputValue()).toBe('99.999');
    // Fixed, it saves.
    await page.getByTestId('product-form').getByLabel('Price excl. VAT (DKK)').fill('100.00');
    await submit(page, page.getByTestId('product-form').getByRole('button', { name: 'Save product' }), `${baseUrl}/admin/products/P-1017`);
    await visible(page.getByText('Product P-1017 saved.'));
    await visible(page.getByRole('heading', { level: 1, name: 'P-1017 · Pour-over kettle 1 l' }));

    // An image: uploaded, resized, shown with its alt text.
    const picture = await sharp({ create: { width: 1200, height: 900, channels: 3, background: '#468' } }).png().toBuffer();
    const imageForm = page.getByTestId('image-form');
    await imageForm.getByLabel('Replace the image').setInputFiles({ name: 'kettle.png', mimeType: 'image/png', buffer: picture });
    await imageForm.getByLabel(/^Alt text/).fill('A blue kettle');
    await submit(page, imageForm.getByRole('button', { name: 'Upload image' }), /\/admin\/products\/P-1017/);
    const shown = page.getByRole('img', { name: 'A blue kettle' });
    await visible(shown);
    // Loaded and decoded by the browser, at the size the server made.
    expect(await shown.evaluate((img) => { const i = img as unknown as { naturalWidth: number; naturalHeight: number }; return [i.naturalWidth, i.naturalHeight]; })).toEqual([640, 480]);

    // Stock: 7 received into the store; the movement lists it.
    const stockForm = page.getByTestId('stock-form');
    await stockForm.getByLabel('Location').selectOption({ label: 'Store Copenhagen' });
    await stockForm.getByLabel('Change by').fill('7');
    await stockForm.getByLabel('Reason').selectOption({ label: 'Goods received' });
    await stockForm.getByLabel('Note').fill('Delivery 12');
    await submit(page, stockForm.getByRole('button', { name: 'Adjust stock' }), /\/admin\/products\/P-1017/);
    await visible(page.getByText('Stock adjusted; the location now holds 7.'));
    expect(await textOf(page.getByTestId('stock-movement'))).toMatch(/Store Copenhagen \+7 7 Goods received – Delivery 12 Ada Admin/);

    // Dated prices: one for this week, one refused for overlapping it, one in the future.
    const priceForm = page.getByTestId('price-form');
    await priceForm.getByLabel('Valid from').fill(day(-1));
    await priceForm.getByLabel(/^Valid to/).fill(day(5));
    await priceForm.getByLabel('Price excl. VAT (DKK)').fill('80');
    await submit(page, priceForm.getByRole('button', { name: 'Add dated price' }), /\/admin\/products\/P-1017/);
    await visible(page.getByText('Dated price added.'));
    await page.getByTestId('price-form').getByLabel('Valid from').fill(day(5));
    await page.getByTestId('price-form').getByLabel('Price excl. VAT (DKK)').fill('70');
    await submit(page, page.getByTestId('price-form').getByRole('button', { name: 'Add dated price' }), /\/admin\/products\/P-1017/);
    expect(await textOf(page.getByTestId('refused-prices'))).toBe(`This period overlaps a dated price that is already there (${day(-1)} – ${day(5)}). Change or remove that one first.`);
    expect(await page.getByTestId('price-form').getByLabel('Valid from').inputValue()).toBe(day(5));
    expect(await page.getByTestId('price-form').getByLabel('Price excl. VAT (DKK)').inputValue()).toBe('70');
    await page.getByTestId('price-form').getByLabel('Valid from').fill(day(6));
    await submit(page, page.getByTestId('price-form').getByRole('button', { name: 'Add dated price' }), /\/admin\/products\/P-1017/);
    expect(await page.getByTestId('dated-price').count()).toBe(2);

    // The shop today: this week's price (80.00 + 25 % VAT) and the image.
    await submit(page, page.getByRole('link', { name: 'View in shop' }), `${baseUrl}/products/P-1017`);
    expect(await textOf(page.getByTestId('price-incl'))).toBe('100.00 DKK');
    await visible(page.getByRole('img', { name: 'A blue kettle' }));
    await submit(page, page.getByRole('button', { name: 'Add to basket' }), /\/products\/P-1017|\/cart/);
    await page.goto(`${baseUrl}/cart`);
    await visible(page.getByRole('table').getByRole('img', { name: 'A blue kettle' }));
    expect(await textOf(page.locator('td[data-label="Unit price incl. VAT"]'))).toBe('100.00 DKK');

    // As of a later day (context date): the future price, on the product page and in the basket.
    await page.goto(`${baseUrl}/products/P-1017?OrderTime=${day(10).slice(5, 7)}/${day(10).slice(8, 10)}/${day(10).slice(0, 4)}`);
    expect(await textOf(page.getByTestId('context-date'))).toContain(`Prices as of ${day(10)}`);
    expect(await textOf(page.getByTestId('price-incl'))).toBe('87.50 DKK');
    await page.goto(`${baseUrl}/cart`);
    expect(await textOf(page.locator('td[data-label="Unit price incl. VAT"]'))).toBe('87.50 DKK');

    // The two refusals answer 422 and 409 on purpose (Chromium logs each as a failed load); nothing else may fail.
    expect(failures.filter((f) => !/status of (422|409) /.test(f))).toEqual([]);
    expect(failures).toHaveLength(2);
    await context.close();
  }, 90_000);
});
