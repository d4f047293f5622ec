/**
 * Export settings in a real browser: staff open Settings → Export, upload a broken XSL stylesheet and see the
 * parser's message next to the file field (what they typed kept), then upload a good one and see it saved.
 * Screenshots at 1280 and 375 px go to test-results/ for looking at.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { TestApp } from '../helpers/test-app';
import { logIn, startBrowserApp, submit, textOf, trackedPage, visible, type BrowserApp } from '../helpers/browser';

let app: BrowserApp, t: TestApp, browser: Browser, baseUrl: string, root: string;
beforeAll(async () => {
  ({ t, browser, baseUrl } = app = await startBrowserApp());
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-xsl-'));
}, 60_000);
afterAll(async () => {
  await app?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const SHOTS = path.resolve('test-results');

describe('export settings, in a browser', () => {
  it('a broken stylesheet is refused with the parser’s message; a good one is saved', async () => {
    const failures: string[] = [];
    const broken = path.join(root, 'broken.xsl');
    fs.writeFileSync(broken, '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">\n<xsl:template match="/"><out></xsl:template>\n</xsl:stylesheet>');
    const good = path.join(root, 'erp.xsl');
    fs.writeFileSync(good, '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/"><out><xsl:value-of select="orders/order/@id"/></out></xsl:template></xsl:stylesheet>');
    const folder = path.join(root, 'exports');

    for (const width of [1280, 375]) {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await trackedPage(context, failures, `${width}px`, { serverErrors: true });
      await logIn(page, baseUrl, 'admin@orderflow.test', 'admin-pass-1', '/admin');
      await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Export' }).click();
      await page.waitForURL(`${baseUrl}/admin/settings/export`);
      await visible(page.getByRole('heading', { name: 'Automatic XML export' }));

      await page.getByLabel('Output folder').fill(folder);
      await page.getByLabel('E-mail the exported XML to').fill('erp@example.test');
      await page.getByLabel('Upload a stylesheet (.xsl)').setInputFiles(broken);
      await submit(page, page.getByRole('button', { name: 'Save export settings' }), `${baseUrl}/admin/settings/export`);
      const error = await textOf(page.locator('#f-xsl-error'));
      expect(error).toMatch(/^“broken.xsl” cannot be used. It is not well-formed XML: line 2, column \d+: unexpected close tag \(out is not closed\)/);
      expect(await page.getByLabel('Upload a stylesheet (.xsl)').getAttribute('aria-invalid')).toBe('true');
      expect(await page.getByLabel('Output folder').inputValue()).toBe(folder);
      expect(await page.getByLabel('E-mail the exported XML to').inputValue()).toBe('erp@example.test');
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, `export-settings-error-${width}.png`), fullPage: true });

      await page.getByLabel('Upload a stylesheet (.xsl)').setInputFiles(good);
      await submit(page, page.getByRole('button', { name: 'Save export settings' }), `${baseUrl}/admin/settings/export`);
      expect(await textOf(page.locator('#f-xsl-current'))).toMatch(/^In use: erp.xsl, uploaded \d{4}-\d{2}-\d{2}\.$/);
      expect(await page.locator('#f-xsl-error').count()).toBe(0);
      expect(await page.getByLabel('Output folder').inputValue()).toBe(folder);
      await page.screenshot({ path: path.join(SHOTS, `export-settings-${width}.png`), fullPage: true });
      await context.close();
    }
    const [row] = await t.sql('select folder, xsl_file_name, notify_email from export_settings');
    expect(row).toEqual({ folder, xsl_file_name: 'erp.xsl', notify_email: 'erp@example.test' });
    // The refused upload answers 422, which Chromium reports on the console; anything else is a failure.
    expect(failures.filter((f) => !f.endsWith('status of 422 (Unprocessable Entity)'))).toEqual([]);
  });
});
