/**
 * Order import benchmark, run by hand: `npx tsx bench/import.bench.ts` (IMPORT_ORDERS=100000 by default).
 *
 * Writes an order CSV with IMPORT_ORDERS orders (1–3 lines each) to a temp file, boots a fresh `orderflow_import_bench`
 * database (dropped and recreated each run) on DATABASE_URL's server or the app's embedded PostgreSQL, migrates and
 * seeds it, then imports the file through ImportService as a stream, as `npm run import` does. Prints orders/s and
 * the peak resident memory (sampled every 50 ms), and checks the result: every order imported once, with its lines,
 * and a second import of the first 1,000 orders changes nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { initOrm, migrate, provideDatabase } from '../src/db/database';
import { withDatabase } from '../src/db/embedded-postgres';
import { seedDemoData } from '../src/db/seed';
import { ImportService } from '../src/integration/import.service';

const ORDERS = Number(process.env.IMPORT_ORDERS ?? 100_000);
const DB = 'orderflow_import_bench';
const HEADER = 'channel,external_id,created_at,customer_email,billing_name,billing_address,billing_zip,billing_city,billing_country,state_name,product_number,product_name,quantity,unit_price_minor,vat_rate_bp,shipping_fee_minor,payment_fee_minor,currency_code';

async function writeCsv(file: string, orders: number): Promise<number> {
  const out = fs.createWriteStream(file);
  let lines = 0;
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await write(HEADER + '\r\n');
  for (let i = 1; i <= orders; i++) {
    const n = 1 + (i % 3);
    const day = String(1 + (i % 28)).padStart(2, '0');
    let chunk = '';
    for (let l = 0; l < n; l++) {
      chunk += `Marketplace,MP-${i},2026-02-${day}T12:00:00Z,buyer${i}@example.test,"Buyer ${i}, Ltd","Street ${i}",2100,Copenhagen,DK,${i % 10 === 0 ? 'Shipped' : ''},`
        + `P-${1000 + ((i + l) % 40)},"Product ""${l}""",${1 + l},${1000 + (i % 5000)},2500,4900,0,DKK\r\n`;
      lines++;
    }
    await write(chunk);
  }
  await new Promise<void>((r) => out.end(() => r()));
  return lines;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const db = config.databaseUrl ? { url: config.databaseUrl, embedded: undefined } : await provideDatabase(config);
  const admin = new pg.Client({ connectionString: withDatabase(db.url, 'postgres') });
  await admin.connect();
  await admin.query(`drop database if exists ${DB} with (force)`);
  await admin.query(`create database ${DB}`);
  await admin.end();
  const orm = await initOrm(withDatabase(db.url, DB), { poolMax: 2 });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'import-bench-')), 'orders.csv');
  try {
    await migrate(orm);
    await seedDemoData(orm.em.fork());
    const t0 = Date.now();
    const rows = await writeCsv(file, ORDERS);
    console.log(`Wrote ${ORDERS} orders (${rows} rows, ${(fs.statSync(file).size / 1e6).toFixed(1)} MB) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    let peak = process.memoryUsage().rss;
    const rssBefore = peak;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
    const started = Date.now();
    let lastPrint = 0;
    const report = await new ImportService().importStream(orm.em, fs.createReadStream(file, { highWaterMark: 256 * 1024 }), {
      format: 'csv', filename: 'bench.csv', via: 'cli',
      onProgress: (p) => { if (Date.now() - lastPrint > 5000) { lastPrint = Date.now(); console.log(`  ${p.imported} imported, ${Math.round(p.imported / ((Date.now() - started) / 1000))} orders/s`); } },
    });
    const seconds = (Date.now() - started) / 1000;
    clearInterval(sampler);
    console.log(`\nImport: ${report.status} — ${report.message}`);
    console.log(`${ORDERS} orders in ${seconds.toFixed(1)} s = ${Math.round(report.imported / seconds)} orders/s`);
    console.log(`RSS before ${(rssBefore / 1e6).toFixed(0)} MB, peak ${(peak / 1e6).toFixed(0)} MB`);

    const [check] = await orm.em.fork().execute(`select count(*)::int as orders, count(distinct number)::int as numbers,
      (select count(*)::int from order_lines l join orders o on o.id = l.order_id where o.imported) as lines from orders where imported`);
    console.log(`Check: ${check.orders} imported orders, ${check.numbers} distinct numbers, ${check.lines} lines (expected ${ORDERS} / ${ORDERS} / ${rows})`);
    const again = await new ImportService().importStream(orm.em, (async function* () {
      const all = fs.readFileSync(file, 'utf8').split('\r\n');
      yield all.slice(0, 2001).join('\r\n') + '\r\n';
    })(), { format: 'csv', filename: 'again.csv', via: 'cli' });
    console.log(`Re-import of the first rows: ${again.message}`);
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    await orm.close();
    await db.embedded?.stop();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
