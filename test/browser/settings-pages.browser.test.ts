/**
 * The settings pages added for staff roles, mail templates and taxes on one line, at 1280 and 375 px: each renders
 * without script errors or missing assets, and nothing is wider than the screen. Screenshots go to test-results/.
 */
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { logIn, startBrowserApp, submit, trackedPage, visible, type BrowserApp } from '../helpers/browser';

let app: BrowserApp, browser: Browser, baseUrl: string;
beforeAll(async () => { ({ browser, baseUrl } = app = await startBrowserApp()); }, 60_000);
afterAll(async () => { await app?.close(); });

const PAGES: [string, string, string][] = [
  ['staff-roles', '/admin/settings/staff-roles', 'Edit and delete permissions'],
  ['mail-template-new', '/admin/settings/mail-templates/new', 'New mail template'],
  ['shop-settings', '/admin/shop-settings', 'Shop settings'],
];

describe('new settings pages, in a browser', () => {
  it('render at 1280 and 375 px without errors or sideways scrolling', async () => {
    const failures: string[] = [];
    for (const width of [1280, 375]) {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await trackedPage(context, failures, `${width}px`);
      await logIn(page, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');
      for (const [name, url, heading] of PAGES) {
        await page.goto(`${baseUrl}${url}`);
        await visible(page.getByRole('heading', { name: heading }));
        if (name === 'mail-template-new') {
          await submit(page, page.getByRole('button', { name: 'Preview with the sample order' }), `${baseUrl}/admin/settings/mail-templates`);
          await visible(page.locator('iframe.mail-preview'));
        }
        const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
        expect({ name, width, overflow }).toEqual({ name, width, overflow: 0 });
        await page.screenshot({ path: path.resolve('test-results', `${name}-${width}.png`), fullPage: true });
      }
      await context.close();
    }
    expect(failures).toEqual([]);
  });
});
