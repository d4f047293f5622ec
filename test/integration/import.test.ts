/**
 * Order import from other channels: staff upload the order CSV or this shop's XML export; each order keeps its
 * channel and external id, gets a number from the shop's numbering, and a second import of the same file changes
 * nothing. Bad rows are reported with their line numbers while the good orders go in.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type TestAgent from 'supertest/lib/agent';
import { readCsvRecords } from '../../src/integration/csv-orders';
import { readXmlOrders } from '../../src/integration/xml-orders';
import { placeGuestOrder, upcomingOrderNumber } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;

beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

const HEADER = 'channel,external_id,created_at,customer_email,billing_name,billing_address,billing_zip,billing_city,billing_country,delivery_name,delivery_address,delivery_zip,delivery_city,delivery_country,state_name,product_number,product_name,quantity,unit_price_minor,vat_rate_bp,shipping_fee_minor,payment_fee_minor,currency_code';
const row = (ext: string, o: Partial<Record<string, string | number>> = {}) => {
  const v = { channel: 'Marketplace', external_id: ext, created_at: '2026-03-01T10:00:00Z', customer_email: 'ann@example.test', billing_name: 'Ann Buyer',
    billing_address: 'Street 1', billing_zip: '2100', billing_city: 'Copenhagen', billing_country: 'DK', delivery_name: '', delivery_address: '', delivery_zip: '',
    delivery_city: '', delivery_country: '', state_name: '', product_number: 'P-1013', product_name: 'Thing', quantity: 2, unit_price_minor: 10000,
    vat_rate_bp: 2500, shipping_fee_minor: 4000, payment_fee_minor: 0, currency_code: 'DKK', ...o };
  return HEADER.split(',').map((c) => { const s = String(v[c as keyof typeof v]); return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; }).join(',');
};
const csv = (...rows: string[]) => [HEADER, ...rows].join('\r\n') + '\r\n';

async function upload(agent: TestAgent, body: string, type = 'text/csv', query = '') {
  const token = await csrfToken(agent, '/admin/orders/import');
  return agent.post(`/admin/orders/import${query}`).set('Content-Type', type).set('X-CSRF-Token', token).set('Accept', 'application/json').send(body);
}

async function imported(app: TestApp, channel: string, ext: string) {
  return app.sql(`select * from orders where imported and channel = $1 and integration_order_id = $2`, [channel, ext]);
}

describe('CSV import', () => {
  it('imports orders (raw upload) with totals from priceOrder, a new order number, completed, default state; the imported filter finds them', async () => {
    const before = await upcomingOrderNumber(t);
    const body = csv(row('MP-1'), row('MP-1', { product_number: 'P-1042', product_name: 'Other, "quoted"', quantity: 1, unit_price_minor: 5000, vat_rate_bp: 0 }),
      row('MP-2', { delivery_name: 'Dina', delivery_address: 'Harbour 9', delivery_zip: '8000', delivery_city: 'Aarhus', delivery_country: 'DK' }));
    const res = await upload(staff, body);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'finished', imported: 2, alreadyImported: 0, failed: 0 });
    const [o1] = await imported(t, 'Marketplace', 'MP-1');
    expect(o1).toMatchObject({ type: 'order', completed: true, capture_state: 'not_supported', checkout_step: 'confirmation', billing_name: 'Ann Buyer', billing_email: 'ann@example.test', delivery_same_as_billing: true, stock_reserved: false });
    expect(o1.number).toBe(`ORDER${before}`);
    // 2 × 100.00 at 25 % + 50.00 at 0 % + 40.00 shipping at 25 %: 250 + 50 + 50 = 350.00
    expect(Number(o1.total_minor)).toBe(35000);
    expect(Number(o1.subtotal_minor)).toBe(30000);
    expect(Number(o1.shipping_fee_minor)).toBe(4000);
    const lines = await t.sql(`select product_number, product_name, quantity, unit_price_minor, vat_rate_bp from order_lines where order_id = $1 order by id`, [o1.id]);
    expect(lines).toEqual([
      { product_number: 'P-1013', product_name: 'Thing', quantity: 2, unit_price_minor: '10000', vat_rate_bp: 2500 },
      { product_number: 'P-1042', product_name: 'Other, "quoted"', quantity: 1, unit_price_minor: '5000', vat_rate_bp: 0 },
    ]);
    const [state] = await t.sql(`select s.name from flow_states s where s.id = $1`, [o1.state_id]);
    expect(state.name).toBe('New');
    const [o2] = await imported(t, 'Marketplace', 'MP-2');
    expect(o2).toMatchObject({ delivery_same_as_billing: false, delivery_name: 'Dina', delivery_city: 'Aarhus' });
    const [history] = await t.sql(`select event, source from order_state_history where order_id = $1`, [o1.id]);
    expect(history).toEqual({ event: 'imported', source: 'backend' });
    // Imported orders take no stock: no stock movement references them.
    const list = await staff.get('/admin/orders?apply=1&imported=yes');
    expect(list.status).toBe(200);
    expect(list.text).toContain(o1.number);
    expect(list.text).toContain(o2.number);
    const page = await staff.get(res.body.location);
    expect(page.text).toMatch(/data-testid="import-imported">2</);
  });

  it('is idempotent: importing the same file again changes nothing and reports the orders as already imported', async () => {
    const body = csv(row('ID-1'), row('ID-2'));
    expect((await upload(staff, body)).body).toMatchObject({ imported: 2, alreadyImported: 0 });
    const [{ n: count }] = await t.sql(`select count(*)::int as n from orders`);
    const next = await upcomingOrderNumber(t);
    const again = await upload(staff, body);
    expect(again.body).toMatchObject({ status: 'finished', imported: 0, alreadyImported: 2, failed: 0 });
    expect((await t.sql(`select count(*)::int as n from orders`))[0].n).toBe(count);
    expect(await upcomingOrderNumber(t)).toBe(next);
    const page = await staff.get(again.body.location);
    expect(page.text).toMatch(/data-testid="import-already">2</);
    // The database refuses a duplicate too (partial unique index on channel + external id of imported orders).
    await expect(t.sql(`insert into orders (number, shop_id, type, currency_code, currency_name, currency_rate, imported, channel, integration_order_id)
      values ('DUP1', 'SHOP1', 'order', 'DKK', 'x', 1, true, 'Marketplace', 'ID-1')`)).rejects.toThrow(/orders_imported_channel_external_id/);
  });

  it('imports the good orders of a file with bad rows and reports every bad row with its line number; no order is half-imported', async () => {
    const body = csv(
      row('BAD-1'),                                             // line 2: fine
      row('BAD-2'), row('BAD-2', { quantity: 'two' }),          // lines 3–4: the second line is bad → the whole order is refused
      row('BAD-3', { currency_code: 'EUR' }),                   // line 5: not the shop's currency
      row('BAD-4', { customer_email: 'nope' }),                 // line 6
      `"Marketplace",BAD-5,only,three`,                         // line 7: wrong number of fields
      row('BAD-6', { billing_address: 'Line one\nLine two' }),  // lines 8–9: a quoted line break; fine
      row('BAD-7', { quantity: 200000 }),                       // line 10
    );
    const res = await upload(staff, body);
    expect(res.body).toMatchObject({ status: 'finished', imported: 2, failed: 5 });
    expect(await imported(t, 'Marketplace', 'BAD-2')).toHaveLength(0);
    expect((await imported(t, 'Marketplace', 'BAD-6'))[0].billing_address).toBe('Line one\nLine two');
    const errors = await t.sql(`select line, external_id, reason from import_run_errors where run_id = $1 order by line`, [res.body.runId]);
    expect(errors.map((e) => [e.line, e.external_id])).toEqual([[4, 'BAD-2'], [5, 'BAD-3'], [6, 'BAD-4'], [7, 'BAD-5'], [10, 'BAD-7']]);
    expect(errors[0].reason).toMatch(/quantity must be a whole number/);
    expect(errors[1].reason).toMatch(/currency EUR is not the shop's currency DKK/);
    const page = await staff.get(res.body.location);
    expect(page.text).toMatch(/data-testid="import-error">\s*<td class="num" data-label="Line">4<\/td>/);
    expect(page.text).toContain('Refused rows (5)');
  });

  it('puts an order in the state named in the file (any letter case); a state the shop does not know refuses that order', async () => {
    const res = await upload(staff, csv(row('ST-1', { state_name: 'Shipped' }), row('ST-2', { state_name: 'No such state' }), row('ST-3', { state_name: 'SHIPPED' }), row('ST-4', { state_name: ' cancelled ' })));
    // A shipped marketplace order imported as "New" could be fulfilled twice: it is refused, with the reason.
    expect(res.body).toMatchObject({ imported: 3, failed: 1 });
    const page = await staff.get(res.body.location);
    expect(page.text).toContain('state “No such state” is no state of the shop&#39;s order flows (give a role code — new, processing, shipped, completed, cancelled — or a state&#39;s name)');
    const states = await t.sql(`select o.integration_order_id as ext, s.name from orders o join flow_states s on s.id = o.state_id
      where o.channel = 'Marketplace' and o.integration_order_id in ('ST-1', 'ST-2', 'ST-3', 'ST-4') order by 1`);
    expect(states).toEqual([{ ext: 'ST-1', name: 'Shipped' }, { ext: 'ST-3', name: 'Shipped' }, { ext: 'ST-4', name: 'Cancelled' }]);
  });

  it('takes a state by its stable role code too, so a file keeps working after staff rename the state', async () => {
    const [shipped] = await t.sql(`select s.id, s.name from flow_states s join flows f on f.id = s.flow_id
      where f.type = 'order' and f.is_default and s.role = 'shipped'`);
    await t.sql('update flow_states set name = $2 where id = $1', [shipped.id, 'Versendet']);
    try {
      const res = await upload(staff, csv(row('ROLE-1', { state_name: 'shipped' }), row('ROLE-2', { state_name: 'Versendet' })));
      expect(res.body).toMatchObject({ imported: 2, failed: 0 });
      const states = await t.sql(`select o.integration_order_id as ext, o.state_id from orders o
        where o.channel = 'Marketplace' and o.integration_order_id in ('ROLE-1', 'ROLE-2') order by 1`);
      expect(states).toEqual([{ ext: 'ROLE-1', state_id: shipped.id }, { ext: 'ROLE-2', state_id: shipped.id }]);
    } finally {
      await t.sql('update flow_states set name = $2 where id = $1', [shipped.id, shipped.name]);
    }
  });

  it('accepts pasted content without JavaScript (urlencoded form field "content")', async () => {
    const res = await postForm(staff, '/admin/orders/import', { content: csv(row('PASTE-1')), channel: '' }, '/admin/orders/import');
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/admin\/orders\/import\/runs\/\d+$/);
    expect(await imported(t, 'Marketplace', 'PASTE-1')).toHaveLength(1);
    const page = await staff.get('/admin/orders/import');
    expect(page.text).toContain('name="content"');
    expect(page.text).toContain('src="/admin/orders/import/upload.js"');
  });

  it('is for staff only: a shopper gets 403, a guest is sent to log in', async () => {
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    expect((await shopper.get('/admin/orders/import')).status).toBe(403);
    const token = await csrfToken(shopper, '/');
    const res = await shopper.post('/admin/orders/import').set('Content-Type', 'text/csv').set('X-CSRF-Token', token).send(csv(row('EVIL-1')));
    expect(res.status).toBe(403);
    expect(await imported(t, 'Marketplace', 'EVIL-1')).toHaveLength(0);
    expect((await newAgent(t).get('/admin/orders/import')).status).toBe(302);
  });
});

describe('XML round trip', () => {
  it('an order exported as XML and imported into an empty database is the same order', async () => {
    const number = await placeGuestOrder(t, 'P-1042');
    await t.sql(`update orders set customer_comment = 'Ring twice <b>&</b> "thanks"', delivery_same_as_billing = false, delivery_name = 'Dina Delivery',
      delivery_address = 'Harbour 9', delivery_zip = '8000', delivery_city = 'Aarhus', delivery_country = 'DK' where number = $1`, [number]);
    const token = await csrfToken(staff, '/admin/orders?apply=1');
    const exported = await staff.post('/admin/orders/export-xml').type('form').send(`_csrf=${encodeURIComponent(token)}&numbers=${number}`);
    expect(exported.status).toBe(200);

    const t2 = await startTestApp();
    try {
      const staff2 = newAgent(t2);
      await login(staff2, 'admin@orderflow.test', 'admin-pass-1');
      const res = await upload(staff2, exported.text, 'application/xml');
      expect(res.body).toMatchObject({ status: 'finished', imported: 1, failed: 0 });
      const cols = `billing_name, billing_company, billing_address, billing_address2, billing_zip, billing_city, billing_country, billing_region, billing_phone,
        billing_email, delivery_same_as_billing, delivery_name, delivery_address, delivery_zip, delivery_city, delivery_country, customer_comment, voucher_code,
        currency_code, shipping_fee_minor, payment_fee_minor, discount_minor, subtotal_minor, total_excl_vat_minor, vat_minor, total_minor, totals,
        completed, created_at, completed_at, transaction_number, (select code from shipping_methods m where m.id = shipping_method_id) as shipping,
        (select code from payment_methods m where m.id = payment_method_id) as payment, (select name from flow_states s where s.id = state_id) as state`;
      const lineCols = `product_number, product_name, unit, quantity, unit_price_minor, vat_rate_bp, discount_minor`;
      const [a] = await t.sql(`select ${cols} from orders where number = $1`, [number]);
      const [b] = await t2.sql(`select ${cols}, number, imported, channel, integration_order_id, capture_state from orders where imported and integration_order_id = $1`, [number]);
      expect(b).toMatchObject({ ...a, imported: true, channel: 'shop:SHOP1', integration_order_id: number, capture_state: 'not_supported' });
      expect(b.number).toMatch(/^ORDER\d+$/);
      const la = await t.sql(`select ${lineCols} from order_lines where order_id = (select id from orders where number = $1) order by id`, [number]);
      const lb = await t2.sql(`select ${lineCols} from order_lines where order_id = (select id from orders where number = $1) order by id`, [b.number]);
      expect(lb).toEqual(la);
      // The same file again: nothing changes.
      expect((await upload(staff2, exported.text, 'application/xml')).body).toMatchObject({ imported: 0, alreadyImported: 1 });
    } finally {
      await t2.close();
    }
  });

  it('finds the state\'s flow by its code after staff renamed it, also when another flow now has the old name', async () => {
    const number = await placeGuestOrder(t, 'P-1042');
    const token = await csrfToken(staff, '/admin/orders?apply=1');
    const exported = await staff.post('/admin/orders/export-xml').type('form').send(`_csrf=${encodeURIComponent(token)}&numbers=${number}`);
    expect(exported.text).toContain('<state flow="Standard order flow" flowCode="standard-order">New</state>');
    const [{ id: standard }] = await t.sql(`select id from flows where code = 'standard-order'`);
    await t.sql(`update flows set name = 'Parcels' where id = $1`, [standard]);
    const [{ id: other }] = await t.sql(`insert into flows (type, name) values ('order', 'Standard order flow') returning id`);
    await t.sql(`insert into flow_states (flow_id, name, role, color, sort_order) values ($1, 'New', 'new', '#2563eb', 0)`, [other]);
    try {
      const file = exported.text.replace(`<order id="${number}">`, `<order id="${number}-RENAMED">`);
      expect((await upload(staff, file, 'application/xml')).body).toMatchObject({ imported: 1, failed: 0 });
      const [o] = await t.sql(`select s.flow_id, s.name from orders o join flow_states s on s.id = o.state_id
        where o.imported and o.integration_order_id = $1`, [`${number}-RENAMED`]);
      expect(o).toEqual({ flow_id: standard, name: 'New' });
    } finally {
      await t.sql(`update flows set name = 'Standard order flow (staff)' where id = $1`, [other]);
      await t.sql(`update flows set name = 'Standard order flow' where id = $1`, [standard]);
    }
  });

  it('reports a malformed order element with its line and imports the others', async () => {
    const number = await placeGuestOrder(t, 'P-1042');
    const token = await csrfToken(staff, '/admin/orders?apply=1');
    const xml = (await staff.post('/admin/orders/export-xml').type('form').send(`_csrf=${encodeURIComponent(token)}&numbers=${number}`)).text;
    // The order twice: first a copy with a bad quantity (line 3), then the original (imported as channel XmlTest).
    const broken = xml.replace(/<order id="[^"]+">[\s\S]*?<\/order>/, (m) => `${m.replace(/<quantity>\d+<\/quantity>/, '<quantity>x</quantity>').replace(`id="${number}"`, 'id="BROKEN-1"')}\n  ${m}`);
    const res = await upload(staff, broken, 'application/xml', '?channel=XmlTest');
    expect(res.body).toMatchObject({ imported: 1, failed: 1 });
    expect(await imported(t, 'XmlTest', number)).toHaveLength(1);
    const errors = await t.sql(`select line, external_id, reason from import_run_errors where run_id = $1`, [res.body.runId]);
    expect(errors).toEqual([{ line: 3, external_id: 'BROKEN-1', reason: expect.stringMatching(/quantity must be a whole number/) }]);
  });
  it('reads CDATA, comments and namespace prefixes as XML does, and stops at the first malformed element with its line and column, keeping the orders before it', async () => {
    const number = await placeGuestOrder(t, 'P-1042');
    const token = await csrfToken(staff, '/admin/orders?apply=1');
    const xml = (await staff.post('/admin/orders/export-xml').type('form').send(`_csrf=${encodeURIComponent(token)}&numbers=${number}`)).text;
    const order = /  <order id="[^"]+">[\s\S]*?<\/order>/.exec(xml)![0];
    const good = order.replace('<customerComment/>', '<customerComment><![CDATA[Ring at </order> & <b>back</b>, Søren]]></customerComment>')
      .replace(/^  <order /, '  <of:order ').replace(/<\/order>$/, '</of:order>');
    const broken = order.replace(`id="${number}"`, 'id="BROKEN-2"').replace('</quantity>', '</quantitty>');
    const after = order.replace(`id="${number}"`, 'id="AFTER-2"');
    const file = ['<?xml version="1.0" encoding="UTF-8"?>', '<of:orders xmlns:of="urn:orderflow:orders">', '  <!-- <order id="NOT-AN-ORDER"> -->', good, broken, after, '</of:orders>', ''].join('\n');
    const brokenLine = 4 + good.split('\n').length;
    const quantityLine = brokenLine + broken.split('\n').findIndex((l) => l.includes('</quantitty>'));

    const res = await upload(staff, file, 'application/xml', '?channel=XmlTest2');
    expect(res.body).toMatchObject({ imported: 1, failed: 1 });
    const [o] = await imported(t, 'XmlTest2', number);
    expect(o.customer_comment).toBe('Ring at </order> & <b>back</b>, Søren');
    expect(await imported(t, 'XmlTest2', 'AFTER-2')).toHaveLength(0);
    const errors = await t.sql(`select line, external_id, reason from import_run_errors where run_id = $1`, [res.body.runId]);
    expect(errors).toEqual([{ line: brokenLine, external_id: 'BROKEN-2',
      reason: expect.stringMatching(new RegExp(`^malformed XML at line ${quantityLine}, column \\d+: unexpected close tag \\(quantity is not closed\\); the rest of the file was not read$`)) }]);

    // Read as a stream, one byte at a time (characters split across chunks), it gives the same items.
    const read = async (chunks: Buffer[]) => { const out = []; for await (const i of readXmlOrders((async function* () { yield* chunks; })())) out.push(i); return out; };
    const bytes = Buffer.from(file);
    expect(await read([...bytes].map((b) => Buffer.from([b])))).toEqual(await read([bytes]));
  });

  it('refuses a file that is not an order export, and one that ends inside an order, with the line', async () => {
    const items = async (text: string) => { const out = []; for await (const i of readXmlOrders((async function* () { yield text; })())) out.push(i); return out; };
    expect(await items('<?xml version="1.0"?>\n<invoices><order id="X"/></invoices>')).toEqual([{ kind: 'error', line: 1, externalId: '', reason: 'not an order export: no <orders> element' }]);
    expect(await items('')).toEqual([{ kind: 'error', line: 1, externalId: '', reason: 'not an order export: no <orders> element' }]);
    expect(await items('<orders>\n\n  <order id="CUT-1">\n    <lines>')).toEqual([{ kind: 'error', line: 3, externalId: 'CUT-1', reason: 'the file ends inside an <order> element' }]);
  });
});

describe('CLI', () => {
  it('imports a file from disk with progress, using DATABASE_URL', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'import-'));
    const file = path.join(dir, 'orders.csv');
    fs.writeFileSync(file, csv(row('CLI-1'), row('CLI-2'), row('CLI-3', { quantity: 0 })));
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'src/integration/import-cli.ts', file, '--channel', 'Ignored'], {
        cwd: path.resolve(__dirname, '../..'), env: { ...process.env, DATABASE_URL: String(t.orm.config.get('clientUrl')) },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(out.stdout).toMatch(/3 orders read: 2 imported, 0 already imported, 1 refused/);
    expect(out.stderr).toMatch(/line 4 \(CLI-3\): quantity must be a whole number/);
    expect(out.code).toBe(2);
    const [o] = await imported(t, 'Marketplace', 'CLI-1');
    expect(o).toBeTruthy();
    const [h] = await t.sql(`select source, actor_kind from order_state_history where order_id = $1`, [o.id]);
    expect(h).toEqual({ source: 'system', actor_kind: 'system' });
  }, 60000);
});

describe('RFC 4180 reader', () => {
  it('reads quoted fields, doubled quotes, line breaks and CRLF split across chunks', async () => {
    const text = 'a,"b ""x"", y"\r\n"line\r\nbreak",\r\nlast,row';
    async function* chunks() { for (const c of text) yield Buffer.from(c); }
    const out = [];
    for await (const r of readCsvRecords(chunks())) out.push(r);
    expect(out).toEqual([{ line: 1, fields: ['a', 'b "x", y'] }, { line: 2, fields: ['line\r\nbreak', ''] }, { line: 4, fields: ['last', 'row'] }]);
  });

  it('counts lines over blank lines and mixed line endings, and reports an unclosed quote at the line its record starts on, after the records before it', async () => {
    const text = '\uFEFFa,b\n\r\n"x\ny",5" screen\rc,"open\nmore';
    const out: unknown[] = [];
    await expect((async () => { for await (const r of readCsvRecords((async function* () { yield Buffer.from(text); })())) out.push(r); })())
      .rejects.toMatchObject({ line: 5, message: 'the file ends inside a quoted field' });
    expect(out).toEqual([{ line: 1, fields: ['a', 'b'] }, { line: 3, fields: ['x\ny', '5" screen'] }]);
  });

  it('refuses a file whose last order has an unclosed quote with its line, and imports the orders before it', async () => {
    const res = await upload(staff, csv(row('Q-1'), row('Q-2')).replace(/DKK\r\n$/, '"DKK\r\n'));
    expect(res.body).toMatchObject({ status: 'finished', imported: 1, failed: 1 });
    expect(await imported(t, 'Marketplace', 'Q-1')).toHaveLength(1);
    const errors = await t.sql(`select line, reason from import_run_errors where run_id = $1`, [res.body.runId]);
    expect(errors).toEqual([{ line: 3, reason: 'the file ends inside a quoted field' }]);
  });
});
