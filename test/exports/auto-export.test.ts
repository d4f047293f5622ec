/**
 * Automatic XML export: a placed order queues an export job in the placing transaction; the export worker writes
 * `<exportDir>/<ORDERNUMBER>.xml` (one well-formed file per order, written atomically), marks the order exported,
 * retries a failed export with backoff without losing the order, and two workers never write a file twice.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { loadConfig } from '../../src/config';
import { initOrm } from '../../src/db/database';
import { requeueOrderExports, XslNotUsable } from '../../src/exports/auto-export.service';
import { AutoExportWorker } from '../../src/exports/auto-export.worker';
import { addToBasket, checkoutToReview, DECLINED_CARD, place, placeGuestOrder } from '../helpers/shopping';
import { newAgent, startTestApp, type TestApp } from '../helpers/test-app';
import { parseXmlDocument } from '../../src/shared/xml-read';

let t: TestApp;
let root: string;
beforeAll(async () => {
  t = await startTestApp();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-export-'));
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

interface JobRow { order_id: number; number: string; status: string; attempts: number; last_error: string; due_later: boolean; exported: boolean; file_name: string | null }

async function job(number: string): Promise<JobRow | undefined> {
  const [r] = await t.sql<JobRow>(
    `select j.order_id::int, o.number, j.status, j.attempts, j.last_error, j.next_attempt_at > now() as due_later, o.exported, j.file_name
     from order_export_jobs j join orders o on o.id = j.order_id where o.number = $1`, [number]);
  return r;
}

let dirs = 0;
const freshDir = () => path.join(root, `out-${++dirs}`);
const worker = (exportDir: string, orm: MikroORM = t.orm) => new AutoExportWorker(orm, { exportDir });
const xmlFiles = (dir: string) => fs.readdirSync(dir).sort();

/** The XML declaration first, then well-formed XML 1.0 as the app's strict reader (saxes) sees it: one root, nesting, attributes, entities, characters. */
function assertWellFormed(xml: string): void {
  expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')).toBe(true);
  expect(() => parseXmlDocument(xml)).not.toThrow();
}

describe('automatic XML export of completed orders', () => {
  it('placing an order queues one export job in the same transaction; a declined placement queues none', async () => {
    const number = await placeGuestOrder(t, 'P-1050');
    expect(await job(number)).toMatchObject({ status: 'queued', attempts: 0, last_error: '', exported: false, due_later: false });

    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1050');
    const declined = await checkoutToReview(t, agent);
    expect((await place(agent, declined, DECLINED_CARD)).status).not.toBe(303);
    expect(await job(declined)).toBeUndefined();
  });

  it('the worker writes exactly one well-formed XML file per order and marks the orders exported', async () => {
    await t.sql(`update order_export_jobs set status = 'done', exported_at = now()`); // earlier tests' jobs are not ours
    const numbers = [await placeGuestOrder(t, 'P-1050'), await placeGuestOrder(t, 'P-1013')];
    const dir = freshDir(); // does not exist yet: the worker creates it

    expect(await worker(dir).runDue()).toBe(2);

    expect(xmlFiles(dir)).toEqual(numbers.map((n) => `${n}.xml`).sort()); // and no temp files left behind
    for (const number of numbers) {
      const xml = fs.readFileSync(path.join(dir, `${number}.xml`), 'utf8');
      assertWellFormed(xml);
      expect(xml).toMatch(/<orders exportedAt="[^"]+" count="1">/);
      expect(xml.match(/<order id="/g)).toHaveLength(1);
      expect(xml).toContain(`<order id="${number}">`);
      expect(xml).toMatch(/<totalInclVat>\d+\.\d\d<\/totalInclVat>/);
      expect(await job(number)).toMatchObject({ status: 'done', attempts: 1, last_error: '', exported: true, file_name: `${number}.xml` });
    }
    expect(await worker(dir).runDue()).toBe(0); // nothing due any more: no second write
  });

  it('a folder that cannot be written keeps the job queued with its error and retries later; after the fix the retry writes it', async () => {
    const number = await placeGuestOrder(t, 'P-1050');
    const blocked = path.join(root, 'not-a-folder');
    fs.writeFileSync(blocked, 'a file where the export folder should be');

    expect(await worker(blocked).runDue()).toBe(0);
    const failed = (await job(number))!;
    expect(failed).toMatchObject({ status: 'queued', attempts: 1, exported: false, due_later: true });
    expect(failed.last_error).toMatch(/EEXIST|ENOTDIR|not a directory|file already exists/i);
    // Not due yet (backoff): another run does not touch it.
    expect(await worker(blocked).runDue()).toBe(0);
    expect((await job(number))!.attempts).toBe(1);

    // Staff fix the folder; the backoff has passed.
    fs.rmSync(blocked);
    fs.mkdirSync(blocked);
    await t.sql(`update order_export_jobs set next_attempt_at = now() where order_id = $1`, [failed.order_id]);
    expect(await worker(blocked).runDue()).toBe(1);
    expect(await job(number)).toMatchObject({ status: 'done', attempts: 2, last_error: '', exported: true });
    expect(xmlFiles(blocked)).toEqual([`${number}.xml`]);
    assertWellFormed(fs.readFileSync(path.join(blocked, `${number}.xml`), 'utf8'));
  });

  it('two workers (two connection pools, like two processes) at once write each file exactly once', async () => {
    await t.sql(`update order_export_jobs set status = 'done', exported_at = now() where status = 'queued'`);
    const numbers: string[] = [];
    for (let i = 0; i < 6; i++) numbers.push(await placeGuestOrder(t, i % 2 ? 'P-1013' : 'P-1050'));
    const dir = freshDir();
    const otherOrm = await initOrm(t.orm.config.getClientUrl(), { poolMax: 4 });
    const renames = jest.spyOn(fsp, 'rename');
    try {
      const [a, b] = await Promise.all([worker(dir).runDue(), worker(dir, otherOrm).runDue()]);
      expect(a + b).toBe(6);
      const targets = renames.mock.calls.map(([, to]) => path.basename(String(to))).sort();
      expect(targets).toEqual(numbers.map((n) => `${n}.xml`).sort()); // each file renamed into place once
    } finally {
      renames.mockRestore();
      await otherOrm.close();
    }
    expect(xmlFiles(dir)).toEqual(numbers.map((n) => `${n}.xml`).sort());
    for (const number of numbers) expect(await job(number)).toMatchObject({ status: 'done', attempts: 1, exported: true });
  });

  it('on demand, selected orders are queued again and their files rewritten', async () => {
    const number = await placeGuestOrder(t, 'P-1050');
    const dir = freshDir();
    expect(await worker(dir).runDue()).toBeGreaterThanOrEqual(1);
    fs.rmSync(path.join(dir, `${number}.xml`));
    const { order_id } = (await job(number))!;

    const em = t.orm.em.fork();
    await em.transactional((tx) => requeueOrderExports(tx, [order_id, order_id]));
    expect(await job(number)).toMatchObject({ status: 'queued', exported: true });
    expect(await worker(dir).runDue()).toBe(1);
    expect(fs.existsSync(path.join(dir, `${number}.xml`))).toBe(true);
    expect(await job(number)).toMatchObject({ status: 'done', attempts: 2 });
  });

  it('EXPORT_XSL: each file goes through the stylesheet; a missing or broken stylesheet is refused at start', async () => {
    const config = loadConfig({ EXPORT_XSL: '/etc/orderflow/erp.xsl', EXPORT_DIR: '/srv/exports' });
    expect(config).toMatchObject({ exportDir: '/srv/exports', exportXslPath: '/etc/orderflow/erp.xsl' });
    expect(loadConfig({})).toMatchObject({ exportDir: '.data/exports', exportXslPath: undefined });
    expect(() => new AutoExportWorker(t.orm, config)).toThrow(XslNotUsable);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xsl-'));
    const broken = path.join(dir, 'broken.xsl');
    fs.writeFileSync(broken, '<xsl:stylesheet');
    expect(() => new AutoExportWorker(t.orm, { exportDir: dir, exportXslPath: broken })).toThrow(/cannot be used/);

    const xsl = path.join(dir, 'erp.xsl');
    fs.writeFileSync(xsl, '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
      + '<xsl:template match="/"><erp-order><number><xsl:value-of select="orders/order/@id"/></number></erp-order></xsl:template></xsl:stylesheet>');
    const number = await placeGuestOrder(t, 'P-1020');
    const out = path.join(dir, 'out');
    fs.mkdirSync(out);
    const w = new AutoExportWorker(t.orm, { exportDir: out, exportXslPath: xsl });
    while ((await w.runDue()) > 0);
    expect(fs.readFileSync(path.join(out, `${number}.xml`), 'utf8')).toContain(`<erp-order><number>${number}</number></erp-order>`);
  });
});
