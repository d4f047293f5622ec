/**
 * Export settings in the admin: on/off, folder, an uploaded XSL stylesheet (refused with the parser's message when
 * broken), and the exported XML mailed through the outbox with the file attached.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type TestAgent from 'supertest/lib/agent';
import { AutoExportWorker } from '../../src/exports/auto-export.worker';
import { parseXmlDocument } from '../../src/shared/xml-read';
import { placeGuestOrder } from '../helpers/shopping';
import { csrfToken, postForm, staffAgent, startTestApp, type TestApp, waitFor } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
let root: string;
beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-export-settings-'));
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

const PAGE = '/admin/settings/export';
const GOOD_XSL = '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
  + '<xsl:template match="/"><erp-order><number><xsl:value-of select="orders/order/@id"/></number></erp-order></xsl:template></xsl:stylesheet>';
const BROKEN_XSL = '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">\n<xsl:template match="/"><erp-order></xsl:template>\n</xsl:stylesheet>';

/** Posts the settings form as a browser does (multipart, with or without a file). */
async function saveSettings(form: Record<string, string>, file?: { name: string; content: string }) {
  const req = staff.post(PAGE).field('_csrf', await csrfToken(staff, PAGE));
  for (const [k, v] of Object.entries(form)) req.field(k, v);
  if (file) req.attach('xsl', Buffer.from(file.content), { filename: file.name, contentType: 'application/xml' });
  return req;
}
const stored = async () => (await t.sql('select enabled, folder, xsl_file_name, xsl_source, notify_email from export_settings'))[0];

describe('export settings page', () => {
  it('shows the environment defaults and refuses a broken stylesheet with the parser’s message, saving nothing', async () => {
    const page = await staff.get(PAGE).expect(200);
    expect(page.text).toContain('Enable order exports to XML');
    expect(page.text).toContain(path.resolve('.data/exports'));
    const before = await stored();

    const res = await saveSettings({ enabled: 'on', folder: path.join(root, 'typed'), notifyEmail: 'erp@example.test' }, { name: 'broken.xsl', content: BROKEN_XSL });
    expect(res.status).toBe(422);
    expect(res.text).toMatch(/id="f-xsl-error">“broken.xsl” cannot be used. It is not well-formed XML: line 2, column \d+: unexpected close tag \(erp-order is not closed\)/);
    expect(res.text).toContain('value="erp@example.test"');
    expect(await stored()).toEqual(before);

    const unsupported = await saveSettings({ enabled: 'on' }, { name: 'odd.xsl', content: GOOD_XSL.replace('<erp-order>', '<erp-order><xsl:frobnicate/>') });
    expect(unsupported.status).toBe(422);
    expect(unsupported.text).toContain('The XSLT processor refused it: Unknown XSLT instruction');
  });

  it('refuses a folder the app cannot write to', async () => {
    const file = path.join(root, 'a-file');
    fs.writeFileSync(file, 'x');
    const res = await saveSettings({ enabled: 'on', folder: path.join(file, 'sub') });
    expect(res.status).toBe(422);
    expect(res.text).toContain('id="f-folder-error">Output folder');
    expect(res.text).toContain('cannot be used as the export folder');
    // Where Node's own recursive mkdir would spin forever (a parent that cannot hold folders): refused at once.
    const proc = await saveSettings({ enabled: 'on', folder: '/proc/orderflow-export/out' });
    expect(proc.status).toBe(422);
    expect(proc.text).toContain('/proc/orderflow-export/out cannot be used as the export folder: no folder can be made there.');
  });

  it('saves a good stylesheet, folder and address; the worker writes through the XSL and mails the XML via the outbox', async () => {
    const folder = path.join(root, 'out');
    const res = await saveSettings({ enabled: 'on', folder, notifyEmail: 'erp@example.test' }, { name: 'erp.xsl', content: GOOD_XSL });
    expect(res.status).toBe(303);
    expect(await stored()).toEqual({ enabled: true, folder, xsl_file_name: 'erp.xsl', xsl_source: GOOD_XSL, notify_email: 'erp@example.test' });
    expect((await staff.get(PAGE)).text).toContain('In use: <strong>erp.xsl</strong>');

    const number = await placeGuestOrder(t, 'P-1020');
    // EXPORT_DIR would be this folder; the staff setting wins.
    const worker = new AutoExportWorker(t.orm, { exportDir: path.join(root, 'env-default'), outbox: t.services.outbox });
    while ((await worker.runDue()) > 0);
    const file = fs.readFileSync(path.join(folder, `${number}.xml`), 'utf8');
    expect(file).toContain(`<erp-order><number>${number}</number></erp-order>`);
    expect(fs.existsSync(path.join(root, 'env-default'))).toBe(false);

    const [queued] = await t.sql(`select to_address, subject from outbox_messages where subject = $1`, [`Order ${number} exported`]);
    expect(queued).toEqual({ to_address: 'erp@example.test', subject: `Order ${number} exported` });
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Order ${number} exported`));
    expect(mail.to).toContain('erp@example.test');
    expect(mail.attachments).toHaveLength(1);
    expect(mail.attachments[0]).toMatchObject({ filename: `${number}.xml`, contentType: 'application/xml' });
    const attached = parseXmlDocument(mail.attachments[0].content.toString('utf8'));
    expect(attached).toEqual({ name: 'erp-order', attrs: {}, text: '', children: [{ name: 'number', attrs: {}, text: number, children: [] }] });
  });

  it('when switched off, nothing is written; turned on again, the waiting orders are exported', async () => {
    const folder = path.join(root, 'paused');
    expect((await postForm(staff, PAGE, { folder }, PAGE)).status).toBe(303);
    expect((await stored()).enabled).toBe(false);
    const number = await placeGuestOrder(t, 'P-1021');
    const worker = new AutoExportWorker(t.orm, { exportDir: folder, outbox: t.services.outbox });
    expect(await worker.runDue()).toBe(0);
    expect(fs.existsSync(path.join(folder, `${number}.xml`))).toBe(false);

    expect((await postForm(staff, PAGE, { enabled: 'on', folder, removeXsl: 'on' }, PAGE)).status).toBe(303);
    expect(await stored()).toMatchObject({ enabled: true, xsl_file_name: '', xsl_source: null, notify_email: '' });
    while ((await worker.runDue()) > 0);
    expect(fs.readFileSync(path.join(folder, `${number}.xml`), 'utf8')).toContain(`<order id="${number}">`);
  });
});
