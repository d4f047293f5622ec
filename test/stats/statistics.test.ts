import type TestAgent from 'supertest/lib/agent';
import { csvCell, toCsv } from '../../src/exports/csv';
import { isoWeekLabel } from '../../src/stats/statistics.service';
import { formatDecimal } from '../../src/shared/money';
import { formatMoney } from '../../src/shared/money';
import { login, newAgent, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';
import { parse } from 'csv-parse/sync';

let t: TestApp;
let staff: TestAgent;
let seq = 0;
const SHOP = 'STATS';

beforeAll(async () => {
  t = await startTestApp();
  // A shop of its own, so only the orders this file creates are counted.
  await t.sql(`insert into shops (id, name, currency_code, currency_name, currency_rate) values ($1, 'Stats Shop', 'EUR', 'Euro', 7.46)`, [SHOP]);
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

async function orderState(name: string): Promise<number> {
  const [row] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default and s.name = $1`, [name]);
  return row.id;
}

interface Placed { at: string; incl: number; excl: number; state?: string; shop?: string; type?: string; completed?: boolean; deleted?: boolean }

/** Writes an order straight into the database, the way a placed order is stored. */
async function insertOrder(o: Placed): Promise<void> {
  seq++;
  await t.sql(
    `insert into orders (number, shop_id, type, completed, completed_at, deleted, currency_code, currency_name, currency_rate,
       total_minor, total_excl_vat_minor, vat_minor, state_id, created_at)
     values ($1, $2, $3, $4, $5, $6, 'EUR', 'Euro', 1, $7, $8, $9, $10, $5)`,
    [`STAT${seq}`, o.shop ?? SHOP, o.type ?? 'order', o.completed ?? true, o.at, o.deleted ?? false, o.incl, o.excl, o.incl - o.excl,
      await orderState(o.state ?? 'New')],
  );
}

/** Counted: completed orders of the shop, in the range, not in an excluded state. */
const COUNTED: Placed[] = [
  { at: '2025-01-01T00:00:00Z', incl: 12500, excl: 10000 },
  { at: '2025-01-01T23:59:59Z', incl: 2500, excl: 2000, state: 'Shipped' },
  { at: '2025-01-05T12:00:00Z', incl: 1000, excl: 800 },                 // Sunday: still ISO week 1
  { at: '2025-01-06T08:00:00Z', incl: 6250, excl: 5000, state: 'Completed' }, // Monday: week 2
  { at: '2025-02-28T18:30:00Z', incl: 99999, excl: 80000 },
  { at: '2025-03-31T23:59:59.999Z', incl: 101, excl: 81 },
];
/** Not counted. */
const LEFT_OUT: Placed[] = [
  { at: '2025-01-02T10:00:00Z', incl: 50000, excl: 40000, state: 'Cancelled' },   // excluded from statistics
  { at: '2025-01-02T10:00:00Z', incl: 70000, excl: 56000, completed: false },     // not placed
  { at: '2025-01-02T10:00:00Z', incl: 30000, excl: 24000, deleted: true },
  { at: '2025-01-02T10:00:00Z', incl: 20000, excl: 16000, type: 'quote' },
  { at: '2025-01-02T10:00:00Z', incl: 10000, excl: 8000, shop: 'SHOP1' },         // another shop
  { at: '2024-12-31T23:59:59Z', incl: 40000, excl: 32000 },                      // before the range
  { at: '2025-04-01T00:00:00Z', incl: 40000, excl: 32000 },                      // after the range
];

function sum(orders: Placed[]) {
  return { orders: orders.length, incl: orders.reduce((a, o) => a + o.incl, 0), excl: orders.reduce((a, o) => a + o.excl, 0) };
}

/** The download read as RFC 4180 (csv-parse, strict about quotes): records end with CRLF. */
const parseCsv = (text: string): string[][] => parse(text, { record_delimiter: '\r\n' });

const Q = `from=2025-01-01&to=2025-03-31&shop=${SHOP}`;

describe('statistics', () => {
  beforeAll(async () => {
    for (const o of [...COUNTED, ...LEFT_OUT]) await insertOrder(o);
  });

  it('sums revenue incl. and excl. VAT and counts orders per day, leaving out excluded states, other shops, carts, quotes and deleted orders', async () => {
    const res = await staff.get(`/admin/statistics?${Q}&interval=day`).expect(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    const csv = parseCsv((await staff.get(`/admin/statistics?${Q}&interval=day&format=csv`).expect(200)).text);
    const rows = csv.slice(1);
    expect(rows).toHaveLength(90); // every day of the range, empty ones too
    const byDay = new Map(rows.map((r) => [r[0], r]));
    for (const day of ['2025-01-01', '2025-01-05', '2025-01-06', '2025-02-28', '2025-03-31', '2025-01-02']) {
      const expected = sum(COUNTED.filter((o) => o.at.startsWith(day)));
      const r = byDay.get(day)!;
      expect({ day, orders: Number(r[4]), excl: r[5], vat: r[6], incl: r[7] }).toEqual({
        day, orders: expected.orders, excl: formatDecimal(expected.excl), vat: formatDecimal(expected.incl - expected.excl), incl: formatDecimal(expected.incl),
      });
    }
    // The page shows the same totals as the orders counted by SQL.
    const all = sum(COUNTED);
    const [db] = await t.sql(
      `select count(*)::int as n, sum(total_minor)::bigint as incl from orders o left join flow_states s on s.id = o.state_id
       where o.shop_id = $1 and o.type = 'order' and o.completed and not o.deleted and not coalesce(s.exclude_from_statistics, false)
         and o.completed_at >= '2025-01-01T00:00:00Z' and o.completed_at < '2025-04-01T00:00:00Z'`, [SHOP]);
    expect({ n: db.n, incl: Number(db.incl) }).toEqual({ n: all.orders, incl: all.incl });
    expect(res.text).toContain(`data-testid="stats-total-orders">${all.orders}<`);
    expect(res.text).toContain(formatMoney(all.incl, 'EUR'));
    expect(res.text).toContain(formatMoney(all.excl, 'EUR'));
    expect(res.text).toContain('<caption');
  });

  it('groups by ISO week (Monday to Sunday) and by month', async () => {
    const weeks = parseCsv((await staff.get(`/admin/statistics?${Q}&interval=week&format=csv`).expect(200)).text).slice(1);
    expect(weeks[0].slice(0, 2)).toEqual(['2024-12-30', '2025-W01']);
    expect(weeks[weeks.length - 1].slice(0, 2)).toEqual(['2025-03-31', '2025-W14']);
    expect(weeks).toHaveLength(14);
    const w1 = sum(COUNTED.slice(0, 3));
    expect([Number(weeks[0][4]), weeks[0][7]]).toEqual([w1.orders, formatDecimal(w1.incl)]);
    expect([Number(weeks[1][4]), weeks[1][7]]).toEqual([1, formatDecimal(6250)]);

    const months = parseCsv((await staff.get(`/admin/statistics?${Q}&interval=month&format=csv`).expect(200)).text).slice(1);
    expect(months.map((m) => m.slice(0, 2))).toEqual([['2025-01-01', '2025-01'], ['2025-02-01', '2025-02'], ['2025-03-01', '2025-03']]);
    const jan = sum(COUNTED.filter((o) => o.at.startsWith('2025-01')));
    expect(months.map((m) => Number(m[4]))).toEqual([jan.orders, 1, 1]);
    expect(months.map((m) => m[5])).toEqual([formatDecimal(jan.excl), formatDecimal(80000), formatDecimal(81)]);
    const total = months.reduce((a, m) => a + Math.round(Number(m[7]) * 100), 0);
    expect(total).toBe(sum(COUNTED).incl);
  });

  it('follows the current state: moving an order into an excluded state takes it out of the figures', async () => {
    await insertOrder({ at: '2025-05-10T10:00:00Z', incl: 5000, excl: 4000 });
    const before = parseCsv((await staff.get(`/admin/statistics?from=2025-05-10&to=2025-05-10&shop=${SHOP}&format=csv`)).text);
    expect(before[1][4]).toBe('1');
    await t.sql(`with moved as (update orders set state_id = $1 where number = $2 returning id)
      insert into order_state_history (order_id, to_state_id, event, actor_kind, source) select id, $1, 'state_changed', 'system', 'system' from moved`, [await orderState('Cancelled'), `STAT${seq}`]);
    const after = parseCsv((await staff.get(`/admin/statistics?from=2025-05-10&to=2025-05-10&shop=${SHOP}&format=csv`)).text);
    expect(after[1].slice(4)).toEqual(['0', '0.00', '0.00', '0.00']);
  });

  it('downloads an RFC 4180 CSV that parses back and cannot run formulas in a spreadsheet', async () => {
    await t.sql(`update shops set name = $1 where id = $2`, ['=HYPERLINK("http://evil.test","Stats, Shop")', SHOP]);
    const res = await staff.get(`/admin/statistics?${Q}&interval=month&format=csv`).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv; charset=utf-8/);
    expect(res.headers['content-disposition']).toBe(`attachment; filename="statistics-${SHOP}-2025-01-01-2025-03-31-month.csv"`);
    expect(res.text.endsWith('\r\n')).toBe(true);
    expect(res.text.split('\r\n')[0]).toBe('period_start,period,shop,currency,orders,revenue_excl_vat,vat,revenue_incl_vat');
    expect(res.text).toContain(`"'=HYPERLINK(""http://evil.test"",""Stats, Shop"")"`);
    const records = parseCsv(res.text);
    expect(records.every((r) => r.length === 8)).toBe(true);
    expect(records[1][2]).toBe(`'=HYPERLINK("http://evil.test","Stats, Shop")`);
    await t.sql(`update shops set name = 'Stats Shop' where id = $1`, [SHOP]);

    expect(csvCell('+SUM(A1)')).toBe(`'+SUM(A1)`);
    expect(csvCell('-1+1')).toBe(`'-1+1`);
    expect(csvCell('@cmd')).toBe(`'@cmd`);
    expect(csvCell('\tx')).toBe(`'\tx`);
    expect(csvCell('a\nb')).toBe('"a\nb"');
    expect(csvCell(12)).toBe('12');
    expect(csvCell({ decimal: '1234.50' })).toBe('1234.50');
    expect(toCsv([['a', 'b'], ['1', '"q"']])).toBe('a,b\r\n1,"""q"""\r\n');
    expect(formatDecimal(5)).toBe('0.05');
    expect(formatDecimal(123450)).toBe('1234.50');
    expect(isoWeekLabel('2024-12-30')).toBe('2025-W01');
    expect(isoWeekLabel('2020-12-28')).toBe('2020-W53');
    expect(isoWeekLabel('2021-01-04')).toBe('2021-W01');
  });

  it('draws the chart with Chart.js served by the app, from an external script (the CSP allows only our own scripts)', async () => {
    const page = await staff.get(`/admin/statistics?${Q}&interval=month`).expect(200);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
    const scripts = [...page.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((m) => /src="([^"]+)"/.exec(m[1])?.[1])).toEqual(expect.arrayContaining(['/admin/statistics/chart.umd.js', '/public/js/stats.js']));
    for (const m of scripts) {
      expect(m[2].trim()).toBe(''); // no inline code
      expect(/src="([^"]+)"/.exec(m[1])![1]).toMatch(/^\/(?!\/)/);
    }
    const m = /data-chart="([^"]+)"/.exec(page.text)!;
    const data = JSON.parse(m[1].replace(/&quot;/g, '"').replace(/&amp;/g, '&'));
    expect(data.labels).toEqual(['2025-01', '2025-02', '2025-03']);
    expect(data.orders).toEqual([4, 1, 1]);
    const lib = await staff.get('/admin/statistics/chart.umd.js').expect(200);
    expect(lib.headers['content-type']).toMatch(/javascript/);
    expect(lib.text.length).toBeGreaterThan(100000);
    expect((await staff.get('/public/js/stats.js').expect(200)).text).toContain('new window.Chart');
  });

  it('refuses a bad range with a 422 and a message', async () => {
    const backwards = await staff.get(`/admin/statistics?from=2025-03-01&to=2025-02-01`);
    expect(backwards.status).toBe(422);
    expect(backwards.text).toContain('on or after the “From” date');
    const long = await staff.get(`/admin/statistics?from=2022-01-01&to=2025-01-01&format=csv`);
    expect(long.status).toBe(422);
    expect(long.text).toContain('at most 3 years');
    expect((await staff.get(`/admin/statistics?from=2022-01-01&to=2024-12-31&interval=month`)).status).toBe(200);
    const notADate = await staff.get(`/admin/statistics?from=2025-02-30&to=2025-03-01`);
    expect(notADate.status).toBe(422);
    expect(notADate.text).toContain('not a real date');
    expect((await staff.get(`/admin/statistics?from=yesterday`)).status).toBe(422);
    expect((await staff.get(`/admin/statistics?${Q}&interval=year`)).status).toBe(422);
    expect((await staff.get(`/admin/statistics?from=2025-01-01&from=2025-01-02`)).status).toBe(422);
    const shop = await staff.get(`/admin/statistics?from=2025-01-01&to=2025-01-31&shop=NOPE`);
    expect(shop.status).toBe(422);
    expect(shop.text).toContain('choose a shop');
    // Without a range: the last 30 days of the first shop.
    const plain = await staff.get('/admin/statistics').expect(200);
    const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(plain.text.slice(plain.text.indexOf('data-testid="stats-table"')))![1];
    expect((body.match(/<th scope="row"/g) ?? []).length).toBe(30);
  });

  it('is for staff only: a shopper gets 403, a guest is sent to log in', async () => {
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    const refused = await shopper.get(`/admin/statistics?${Q}`);
    expect(refused.status).toBe(403);
    expect(refused.text).toContain('for shop staff only');
    expect((await shopper.get(`/admin/statistics?${Q}&format=csv`)).status).toBe(403);
    expect((await shopper.get('/admin/statistics/chart.umd.js')).status).toBe(403);
    const guest = await newAgent(t).get('/admin/statistics');
    expect(guest.status).toBe(302);
    expect(guest.headers.location).toBe('/login?next=%2Fadmin%2Fstatistics');
  });
});
