/**
 * The staff order list: filters and presets, exact and all-fields search, remembered filters, chosen columns,
 * sorting, keyset paging, and print / shipping documents / XML export of selected orders.
 *
 * Orders for a scenario are cloned cheaply in SQL (`insert … select` from one order placed through the real
 * checkout) and parked in their own year, so each scenario filters down to exactly its own orders.
 */
import pg from 'pg';
import type TestAgent from 'supertest/lib/agent';
import { csvCell } from '../../src/exports/csv';
import { GLS_COLUMNS } from '../../src/exports/shipping-documents';
import { buildListQuery, DEFAULT_FILTER, filterConditions, presetRange, type DatePreset } from '../../src/orders/order-list-query';
import { addToBasket, placeGuestOrder } from '../helpers/shopping';
import { insertableColumns } from '../helpers/table-columns';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';
import { parse } from 'csv-parse/sync';
import { parseXmlDocument } from '../../src/shared/xml-read';

let t: TestApp;
let staff: TestAgent;
let source: string;

beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
  source = await placeGuestOrder(t, 'P-1042');
});
afterAll(async () => { await t.close(); });

// ---------------------------------------------------------------------------------------------------------
// Helpers

let cloneSeq = 0;
/**
 * Copies the placed order `count` times with new numbers (PREFIX-0001…) and its lines, in two statements.
 * `set` overrides columns with SQL expressions that may use g (1…count).
 */
async function clone(count: number, set: Record<string, string> = {}, from = source): Promise<string[]> {
  const prefix = `T${String(++cloneSeq).padStart(3, '0')}-`;
  const cols = await insertableColumns(t.sql, 'orders', ['id']);
  const exprs = cols.map((c) => set[c] ?? (c === 'number' ? `$2 || lpad(g::text, 4, '0')` : c === 'anonymous_token' ? 'null' : `o.${c}`));
  const made = await t.sql<{ id: string; number: string }>(
    `insert into orders (${cols.join(', ')}) select ${exprs.join(', ')} from orders o, generate_series(1, $3::int) g where o.number = $1
     returning id, number`, [from, prefix, count]);
  const lineCols = await insertableColumns(t.sql, 'order_lines', ['id', 'order_id']);
  await t.sql(`insert into order_lines (order_id, ${lineCols.join(', ')})
    select n.id, ${lineCols.map((c) => `l.${c}`).join(', ')} from order_lines l join orders s on s.id = l.order_id and s.number = $1
    cross join unnest($2::bigint[]) as n(id)`, [from, made.map((m) => m.id)]);
  return made.map((m) => m.number).sort();
}

const year = (y: number, extra = '') => `apply=1&dateFrom=${y}-01-01&dateTo=${y}-12-31${extra}`;
const at = (y: number) => `timestamptz '${y}-06-01 12:00:00+00' + g * interval '1 hour'`;
const numbersIn = (html: string) => [...html.matchAll(/data-testid="row-([A-Z0-9-]+)"/g)].map((m) => m[1]);
const list = async (query: string, agent = staff) => {
  const res = await agent.get(`/admin/orders?${query}`);
  expect(res.status).toBe(200);
  return res.text;
};
const listed = async (query: string) => numbersIn(await list(query)).sort();
const stateId = async (name: string) =>
  (await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = 'Standard order flow' and s.name = $1`, [name]))[0].id as number;
/** The href of a pager link (decoded), or null when it is not a link. */
const pagerLink = (html: string, label: string) => {
  const m = new RegExp(`<a href="\\?([^"]*)"[^>]*>[^<]*${label}`).exec(html.slice(html.indexOf('class="pager"')));
  return m ? m[1].replace(/&amp;/g, '&') : null;
};
async function postSelection(path: string, numbers: string[], agent = staff) {
  const token = await csrfToken(agent, '/admin/orders?apply=1');
  return agent.post(path).type('form').send(`_csrf=${encodeURIComponent(token)}${numbers.map((n) => `&numbers=${n}`).join('')}`);
}

// ---------------------------------------------------------------------------------------------------------

describe('date presets (pure, UTC, fixed clock)', () => {
  const wednesday = new Date('2026-11-25T10:30:00Z');
  it.each<[DatePreset, string, string]>([
    ['today', '2026-11-25', '2026-11-25'],
    ['yesterday', '2026-11-24', '2026-11-24'],
    ['this-week', '2026-11-23', '2026-11-25'],
    ['last-7-days', '2026-11-19', '2026-11-25'],
    ['this-month', '2026-11-01', '2026-11-25'],
    ['last-month', '2026-10-01', '2026-10-31'],
    ['this-year', '2026-01-01', '2026-11-25'],
  ])('%s on Wednesday 2026-11-25 is %s … %s', (preset, from, to) => {
    expect(presetRange(preset, wednesday)).toEqual({ from, to });
  });

  it('crosses month, year and week edges in UTC', () => {
    const newYear = new Date('2027-01-01T00:30:00Z');
    expect(presetRange('yesterday', newYear)).toEqual({ from: '2026-12-31', to: '2026-12-31' });
    expect(presetRange('last-month', newYear)).toEqual({ from: '2026-12-01', to: '2026-12-31' });
    expect(presetRange('this-week', newYear)).toEqual({ from: '2026-12-28', to: '2027-01-01' });
    expect(presetRange('last-7-days', new Date('2024-03-02T23:59:59Z'))).toEqual({ from: '2024-02-25', to: '2024-03-02' });
    expect(presetRange('last-month', new Date('2024-03-31T12:00:00Z'))).toEqual({ from: '2024-02-01', to: '2024-02-29' });
    expect(presetRange('this-week', new Date('2026-11-29T23:00:00Z'))).toEqual({ from: '2026-11-23', to: '2026-11-29' });
    expect(presetRange('this-week', new Date('2026-11-23T00:00:00Z'))).toEqual({ from: '2026-11-23', to: '2026-11-23' });
  });

  it('a chosen preset fills the date fields and filters on them', async () => {
    const [yesterdays] = await clone(1, { created_at: `now() - interval '1 day'` });
    const { from, to } = presetRange('yesterday', new Date());
    const page = await list('apply=1&preset=yesterday');
    expect(page).toContain(`name="dateFrom" value="${from}"`);
    expect(page).toContain(`name="dateTo" value="${to}"`);
    expect(page).toMatch(/<option value="yesterday" selected>Yesterday<\/option>/);
    expect(numbersIn(page)).toContain(yesterdays);
    expect(numbersIn(page)).not.toContain(source);
    expect(numbersIn(await list('apply=1&preset=today'))).toContain(source);
    expect(numbersIn(await list('apply=1&preset=today'))).not.toContain(yesterdays);
  });
});

describe('filters', () => {
  it('date from / to, both days included', async () => {
    const [a, b, c] = await clone(3, { created_at: `(array[timestamptz '2001-03-01 00:00:00+00', '2001-03-15 23:59:59.999+00', '2001-03-16 00:00:00+00'])[g]` });
    expect(await listed('apply=1&dateFrom=2001-03-01&dateTo=2001-03-15')).toEqual([a, b]);
    expect(await listed('apply=1&dateFrom=2001-03-16')).toContain(c);
    expect(await listed('apply=1&dateTo=2001-03-01')).toEqual([a]);
  });

  it('shop', async () => {
    await t.sql(`insert into shops (id, name, currency_code, currency_name) values ('SHOP2', 'Second shop', 'EUR', 'Euro')`);
    const [mine, other] = await clone(2, { created_at: at(2002), shop_id: `case when g = 1 then 'SHOP2' else o.shop_id end` });
    expect(await listed(year(2002, '&shop=SHOP2'))).toEqual([mine]);
    expect(await listed(year(2002))).toEqual([mine, other]);
    expect((await list(year(2002))).match(/<option value="SHOP2"/)).not.toBeNull();
  });

  it('state: several at once', async () => {
    const [n, r, p] = await clone(3, { created_at: at(2003), state_id: `(array[${await stateId('New')}, ${await stateId('Received')}, ${await stateId('Picked')}])[g]` });
    expect(await listed(year(2003, `&state=${await stateId('Received')}&state=${await stateId('Picked')}`))).toEqual([r, p]);
    expect(await listed(year(2003, `&state=${await stateId('New')}`))).toEqual([n]);
  });

  it('progress: completed / not completed, and not-completed orders are red and labelled', async () => {
    const [done, open] = await clone(2, { created_at: at(2004), completed: 'g = 1', completed_at: `case when g = 1 then o.completed_at end` });
    expect(await listed(year(2004, '&progress=completed'))).toEqual([done]);
    expect(await listed(year(2004, '&progress=not_completed'))).toEqual([open]);
    const page = await list(year(2004));
    expect(page).toMatch(new RegExp(`<tr class="not-completed" data-testid="row-${open}">.*?not completed</span>`, 's'));
    expect(page).toMatch(new RegExp(`<tr class="" data-testid="row-${done}">`));
  });

  it('capture state', async () => {
    const [nc, cap] = await clone(2, { created_at: at(2006), capture_state: `(array['not_captured', 'captured'])[g]` });
    expect(await listed(year(2006, '&capture=captured'))).toEqual([cap]);
    expect(await listed(year(2006, '&capture=not_captured'))).toEqual([nc]);
  });

  it('imported from an integration: yes / no', async () => {
    const [shop, imported] = await clone(2, { created_at: at(2007), imported: 'g = 2', channel: `case when g = 2 then 'Marketplace' end`, integration_order_id: `case when g = 2 then 'MP-778899' end` });
    expect(await listed(year(2007, '&imported=yes'))).toEqual([imported]);
    expect(await listed(year(2007, '&imported=no'))).toEqual([shop]);
    // The integration's own order id is found by the order id search.
    expect(await listed('apply=1&search=MP-778899&searchIn=id')).toEqual([imported]);
  });

  it('marks orders created by a recurring series with a clock icon that has a text alternative', async () => {
    const [series] = await t.sql(`insert into recurring_series (template_order_id, shop_id, interval_unit, interval_count, start_date, status, created_by_kind)
      select id, shop_id, 'month', 1, current_date, 'finished', 'staff' from orders where number = $1 returning id`, [source]);
    const [plain, recurring] = await clone(2, { created_at: at(2012), recurring_series_id: `case when g = 2 then ${series.id} end` });
    const page = await list(year(2012));
    expect(page).toMatch(new RegExp(`data-testid="row-${recurring}">.*?<span class="recurring-icon" role="img" aria-label="Recurring order"`, 's'));
    expect(page).not.toMatch(new RegExp(`data-testid="row-${plain}">[^]*?recurring-icon[^]*?data-testid="row-${recurring}"`));
  });

  it('refuses bad filter values with 422 and a clear message', async () => {
    const cases: [string, RegExp][] = [
      ['apply=1&dateFrom=2026-13-01', /Please check date from: is not a real date/],
      ['apply=1&dateTo=0000-01-01', /Please check date to: must be between 1900 and 2999/],
      ['apply=1&dateFrom=yesterday', /Please check date from: must be a date like 2026-11-24/],
      ['apply=1&dateFrom=2026-05-02&dateTo=2026-05-01', /Please check date to: must not be before the start date/],
      ['apply=1&preset=fortnight', /Please check preset: is not a known period/],
      ['apply=1&state=1%20or%201%3D1', /Please check state/],
      ['apply=1&progress=maybe', /Please check progress/],
      ['apply=1&capture=all', /Please check capture: is not a capture state/],
      ['apply=1&imported=perhaps', /Please check imported: must be yes or no/],
      ['apply=1&shop=%27%3B%20drop%20table%20orders%3B--', /Please check shop: is not a shop id/],
      ['apply=1&search=ab&searchIn=all', /Please check search: needs at least 3 characters to search all fields/],
      ['apply=1&sort=password_hash', /Please check sort: is not a column you can sort by/],
      ['apply=1&after=not%20a%20cursor', /Please check after/],
      ['apply=1&after=WyJ4IiwiMSJd', /This page link is not valid/],
    ];
    for (const [query, message] of cases) {
      const res = await staff.get(`/admin/orders?${query}`);
      expect([query, res.status]).toEqual([query, 422]);
      expect(res.text).toMatch(message);
    }
  });

  it('shows a refused filter on the list itself: the message by the filter form, what was typed kept, the last filter’s orders', async () => {
    const res = await staff.get('/admin/orders?apply=1&search=ab&searchIn=all&dateFrom=2026-05-02&dateTo=2026-05-01');
    expect(res.status).toBe(422);
    expect(res.text).toContain('data-testid="refused-filter"');
    expect(res.text).toMatch(/Please check .*/);
    expect(res.text).toMatch(/name="search" value="ab"/);
    expect(res.text).toMatch(/<option value="all" selected>/);
    expect(res.text).toMatch(/name="dateFrom" value="2026-05-02"/);
    expect(res.text).toContain('id="filter-form"');
    expect(res.text).toMatch(/<table/);
  });
});

describe('search', () => {
  it('finds an order by its exact order id (any letter case), and only that one', async () => {
    expect(await listed(`apply=1&search=${source}&searchIn=id`)).toEqual([source]);
    expect(await listed(`apply=1&search=${source.toLowerCase()}&searchIn=id`)).toEqual([source]);
    expect(await listed(`apply=1&search=${source.slice(0, -1)}&searchIn=id`)).toEqual([]);
  });

  it('finds orders by the exact customer e-mail, customer number or billing name; a fragment is not enough', async () => {
    const [byMail] = await clone(1, { billing_email: `'Exact.Person@Example.test'` });
    const [byCompany] = await clone(1, { company_id: `(select id from companies where customer_number = 'C-10001')` });
    expect(await listed('apply=1&search=exact.person%40example.test&searchIn=customer')).toEqual([byMail]);
    expect(await listed('apply=1&search=exact.person&searchIn=customer')).toEqual([]);
    expect(await listed('apply=1&search=C-10001&searchIn=customer')).toEqual([byCompany]);
    const byName = await listed('apply=1&search=kim%20customer&searchIn=customer');
    expect(byName).toEqual(expect.arrayContaining([source, byMail, byCompany]));
  });

  it('all fields: a street fragment, and a product name from the lines', async () => {
    const [street] = await clone(1, { billing_address: `'Blåbærvej 17'` });
    const [product] = await clone(1, {});
    await t.sql(`update order_lines set product_name = 'Zanzibar Teapot' where order_id = (select id from orders where number = $1)`, [product]);
    expect(await listed('apply=1&search=b%C3%A6rvej%2017&searchIn=all')).toEqual([street]);
    expect(await listed('apply=1&search=ZIBAR%20tea&searchIn=all')).toEqual([product]);
    expect(await listed('apply=1&search=b%C3%A6rvej&searchIn=id')).toEqual([]);
  });

  it('finds orders still in checkout as well as placed ones, in every search mode', async () => {
    const [placed, open] = await clone(2, { billing_address: `'Tyttebærvej 4'`, billing_email: `'Both.Kinds@Example.test'`,
      completed: 'g = 1', completed_at: `case when g = 1 then o.completed_at end` });
    await t.sql(`update order_lines set product_name = 'Lingonberry Jar' where order_id in (select id from orders where number in ($1, $2))`, [placed, open]);
    expect(await listed('apply=1&search=TYTTEB%C3%A6rvej&searchIn=all')).toEqual([placed, open]);
    expect(await listed('apply=1&search=lingonberry&searchIn=all')).toEqual([placed, open]);
    expect(await listed('apply=1&search=both.kinds%40example.test&searchIn=customer')).toEqual([placed, open]);
    expect(await listed(`apply=1&search=${open}&searchIn=id`)).toEqual([open]);
    expect(await listed('apply=1&search=lingonberry&searchIn=all&progress=not_completed')).toEqual([open]);
  });

  it('treats SQL and LIKE metacharacters as plain text in every field', async () => {
    const [odd] = await clone(1, { billing_address: `'100% O''Brien_Street'` });
    for (const searchIn of ['id', 'customer', 'all']) {
      expect(await listed(`apply=1&searchIn=${searchIn}&search=${encodeURIComponent(`' or '1'='1`)}`)).toEqual([]);
      expect(await listed(`apply=1&searchIn=${searchIn}&search=${encodeURIComponent('x); delete from orders; --')}`)).toEqual([]);
    }
    expect(await listed(`apply=1&searchIn=all&search=${encodeURIComponent('%%%')}`)).toEqual([]);
    expect(await listed(`apply=1&searchIn=all&search=${encodeURIComponent('___')}`)).toEqual([]);
    expect(await listed(`apply=1&searchIn=all&search=${encodeURIComponent("100% O'Brien_")}`)).toEqual([odd]);
    expect(await listed(`apply=1&searchIn=all&search=${encodeURIComponent('0%_o')}`)).toEqual([]);
    expect((await t.sql('select count(*)::int as n from orders'))[0].n).toBeGreaterThan(3);
  });

  it('uses the trigram and exact-match indexes (plans checked with sequential scans disabled)', async () => {
    // Enough rows, with statistics, that the planner's choice means something.
    await clone(3000, { created_at: at(2011), billing_email: `'bulk' || g || '@example.test'`, billing_name: `'Bulk ' || g`, billing_address: `'Bulk Road ' || g` });
    // VACUUM also moves the bulk-inserted entries out of the GIN pending lists, as autovacuum does in production.
    await t.sql('vacuum analyze orders');
    await t.sql('vacuum analyze order_lines');
    const client = new pg.Client({ connectionString: t.orm.config.get('clientUrl') });
    await client.connect();
    try {
      await client.query('set enable_seqscan = off');
      // The placed orders' arm of the list query (the list indexes hold placed orders only).
      const plan = async (search: string, searchIn: 'id' | 'customer' | 'all', arm?: number, progress = 'o.completed') => {
        const { where, params, anyOf } = filterConditions('order', { ...DEFAULT_FILTER, search, searchIn }, new Date());
        const alt = arm === undefined ? null : anyOf![arm];
        let i = 0;
        const sql = `explain select o.id from orders o where ${[...where, progress, ...(alt ? [alt.sql] : [])].join(' and ')}`.replace(/\?/g, () => `$${++i}`);
        const { rows } = await client.query(sql, [...params, ...(alt?.params ?? [])]);
        return rows.map((r) => r['QUERY PLAN']).join('\n');
      };
      expect(await plan('Main Street', 'all', 0)).toContain('Bitmap Index Scan on orders_list_search_trgm_idx');
      expect(await plan('Zanzibar', 'all', 1)).toContain('Bitmap Index Scan on order_lines_search_trgm_idx');
      const customer = await plan('kim@example.test', 'customer');
      for (const ix of ['orders_list_email_idx', 'orders_list_name_idx', 'orders_list_company_idx', 'orders_user_idx']) expect(customer).toContain(`Bitmap Index Scan on ${ix}`);
      const id = await plan(source, 'id');
      expect(id).toMatch(/Bitmap Index Scan on orders_(number_key|list_number_idx)\b/);
      expect(id).toContain('Bitmap Index Scan on orders_integration_order_id_idx');
      // The orders still in checkout: their own small index.
      expect(await plan('Main Street', 'all', 0, 'not o.completed')).toContain('orders_list_open_idx');
      // Sorted by total, the list walks the total index (placed orders) and the open index, on order_total_minor.
      const byTotal = buildListQuery({ type: 'order', filter: { ...DEFAULT_FILTER, sort: 'total' }, now: new Date() });
      let n = 0;
      const totalPlan = (await client.query(`explain ${byTotal.sql.replace(/\?/g, () => `$${++n}`)}`, byTotal.params)).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(totalPlan).toMatch(/Index (Only )?Scan Backward using orders_list_total_idx/);
      expect(totalPlan).toContain('orders_list_open_idx');
    } finally {
      await client.end();
    }
  });
});

describe('remembered filters and chosen columns, per staff user', () => {
  let colleague: TestAgent;
  beforeAll(async () => {
    await t.sql(`insert into users (email, password_hash, name, role) select 'colleague@orderflow.test', password_hash, 'Cole League', 'staff'
      from users where email = 'admin@orderflow.test'`);
    colleague = newAgent(t);
    await login(colleague, 'colleague@orderflow.test', 'admin-pass-1');
  });

  it('remembers the last applied filter until Reset', async () => {
    const [only] = await clone(1, { created_at: at(2008) });
    await list(year(2008, `&state=${await stateId('New')}`));
    const again = await staff.get('/admin/orders');
    expect(numbersIn(again.text)).toEqual([only]);
    expect(again.text).toContain('The filter you applied last time is in use.');
    expect(again.text).toContain('name="dateFrom" value="2008-01-01"');
    expect(again.text).toMatch(new RegExp(`value="${await stateId('New')}" id="filter-state-\\d+" checked`));
    const [pref] = await t.sql(`select p.filter from order_list_preferences p join users u on u.id = p.user_id where u.email = 'admin@orderflow.test' and p.list = 'order'`);
    expect(pref.filter).toMatchObject({ dateFrom: '2008-01-01', dateTo: '2008-12-31', state: [await stateId('New')] });

    // Someone else's list is not affected.
    const theirs = await colleague.get('/admin/orders');
    expect(theirs.text).not.toContain('The filter you applied last time');
    expect(numbersIn(theirs.text)).toContain(source);

    const reset = await postForm(staff, '/admin/orders/reset-filter', {}, '/admin/orders');
    expect(reset.status).toBe(303);
    expect(reset.headers.location).toBe('/admin/orders');
    const after = await staff.get('/admin/orders');
    expect(after.text).not.toContain('The filter you applied last time');
    expect(after.text).toContain('name="dateFrom" value=""');
    expect(numbersIn(after.text)).toContain(source);
    expect((await t.sql(`select p.filter from order_list_preferences p join users u on u.id = p.user_id where u.email = 'admin@orderflow.test'`))[0].filter).toBeNull();
  });

  it('keeps the chosen columns per user', async () => {
    const res = await postForm(staff, '/admin/orders/columns', { columns: 'email' }, '/admin/orders');
    expect(res.status).toBe(303);
    const token = await csrfToken(staff, '/admin/orders');
    expect((await staff.post('/admin/orders/columns').type('form').send(`_csrf=${token}&columns=total&columns=email&columns=channel&columns=customerNumber`)).status).toBe(303);
    const page = await list(`apply=1&search=${source}`);
    const headers = [...page.slice(page.indexOf('<thead>'), page.indexOf('</thead>')).matchAll(/<th scope="col"[^>]*>(.*?)<\/th>/gs)]
      .map((m) => m[1].replace(/<[^>]+>/g, '').replace(/[▲▼]/g, '').trim());
    expect(headers).toEqual(['Select', 'Id', 'E-mail', 'Customer number', 'Total', 'Channel']);
    expect(page).toContain('<td class="col-email" data-label="E-mail">kim@example.test</td>');
    expect((await t.sql(`select p.columns from order_list_preferences p join users u on u.id = p.user_id where u.email = 'admin@orderflow.test'`))[0].columns)
      .toEqual(['email', 'customerNumber', 'total', 'channel']);
    expect((await colleague.get(`/admin/orders?apply=1&search=${source}`)).text).toContain('Payment method');

    const bad = await staff.post('/admin/orders/columns').type('form').send(`_csrf=${token}&columns=password_hash`);
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('is not a column of the list');
    await postForm(staff, '/admin/orders/columns', { columns: '' }, '/admin/orders');
    await t.sql(`update order_list_preferences set columns = null`);
  });
});

describe('sorting and keyset paging', () => {
  it('sorts by a whitelisted column in either direction', async () => {
    const made = await clone(4, { created_at: at(2009), total_minor: `(array[5000, 1000, 9000, 3000])[g]`, captured_minor: '0',
      billing_name: `(array['Dora', 'Bent', 'Alma', 'Carl'])[g]` });
    const byTotal = [made[1], made[3], made[0], made[2]];
    expect(numbersIn(await list(year(2009, '&sort=total&dir=asc')))).toEqual(byTotal);
    expect(numbersIn(await list(year(2009, '&sort=total&dir=desc')))).toEqual([...byTotal].reverse());
    expect(numbersIn(await list(year(2009, '&sort=customer')))).toEqual([made[2], made[1], made[3], made[0]]);
    expect(numbersIn(await list(year(2009, '&sort=number&dir=asc')))).toEqual(made);
    expect(numbersIn(await list(year(2009)))).toEqual([...made].reverse());
    const page = await list(year(2009, '&sort=total&dir=asc'));
    expect(page).toMatch(/<th scope="col" class="col-total num" aria-sort="ascending"><a class="sort-link" href="\?[^"]*sort=total&amp;dir=desc"/);
  });

  it('pages through 120 orders with first / next / prev / last, ties broken by id, and never skips or repeats a row', async () => {
    // Two orders share each timestamp, so the (created_at, id) cursor has to break ties; every third is still in
    // checkout (not completed: read through its own index), so the pages interleave both kinds.
    await clone(120, { created_at: `timestamptz '2010-06-01 00:00:00+00' + (g / 2) * interval '1 minute'`,
      completed: 'g % 3 <> 0', completed_at: `case when g % 3 <> 0 then o.completed_at end` });
    const expected = (await t.sql<{ number: string }>(`select number from orders where type = 'order' and not deleted
      and created_at >= '2010-01-01' and created_at < '2011-01-01' order by created_at desc, id desc`)).map((r) => r.number);
    expect(expected).toHaveLength(120);

    const first = await list(year(2010));
    expect(numbersIn(first)).toEqual(expected.slice(0, 50));
    expect(pagerLink(first, 'Previous')).toBeNull();
    const second = await list(pagerLink(first, 'Next')!);
    expect(numbersIn(second)).toEqual(expected.slice(50, 100));
    const third = await list(pagerLink(second, 'Next')!);
    expect(numbersIn(third)).toEqual(expected.slice(100, 120));
    expect(pagerLink(third, 'Next')).toBeNull();
    expect(pagerLink(third, 'Last')).toBeNull();
    const back = await list(pagerLink(third, 'Previous')!);
    expect(numbersIn(back)).toEqual(expected.slice(50, 100));
    const backAgain = await list(pagerLink(back, 'Previous')!);
    expect(numbersIn(backAgain)).toEqual(expected.slice(0, 50));
    expect(pagerLink(backAgain, 'Previous')).toBeNull();

    const last = await list(pagerLink(first, 'Last')!);
    expect(numbersIn(last)).toEqual(expected.slice(70, 120));
    expect(pagerLink(last, 'Next')).toBeNull();
    const beforeLast = await list(pagerLink(last, 'Previous')!);
    expect(numbersIn(beforeLast)).toEqual(expected.slice(20, 70));
    expect(numbersIn(await list(pagerLink(beforeLast, 'First')!))).toEqual(expected.slice(0, 50));
  });

  it('pages by total ascending (all totals equal: the id decides) to the last page and back', async () => {
    const expected = (await t.sql<{ number: string }>(`select number from orders where type = 'order' and not deleted
      and created_at >= '2010-01-01' and created_at < '2011-01-01' order by total_minor, id`)).map((r) => r.number);
    const first = await list(year(2010, '&sort=total&dir=asc'));
    expect(numbersIn(first)).toEqual(expected.slice(0, 50));
    const last = await list(pagerLink(first, 'Last')!);
    expect(numbersIn(last)).toEqual(expected.slice(70));
    const prev = await list(pagerLink(last, 'Previous')!);
    expect(numbersIn(prev)).toEqual(expected.slice(20, 70));
    const next = await list(pagerLink(prev, 'Next')!);
    expect(numbersIn(next)).toEqual(expected.slice(70));
  });
});

describe('selected orders: print, shipping documents, XML export', () => {
  it('keeps bulk state change and bulk capture, and adds print, shipping documents and XML export', async () => {
    const page = await list(`apply=1&search=${source}`);
    expect(page).toContain('action="/admin/orders/bulk-state"');
    expect(page).toContain(`name="numbers" value="${source}"`);
    expect(page).toContain('name="stateId"');
    for (const action of ['bulk-capture', 'print', 'shipping-documents', 'export-xml']) expect(page).toContain(`formaction="/admin/orders/${action}"`);
  });

  it('prints the selected orders with lines, totals and addresses', async () => {
    const [other] = await clone(1, { delivery_same_as_billing: 'false', delivery_name: `'Dina Delivery'`, delivery_address: `'Harbour 9'`,
      delivery_zip: `'8000'`, delivery_city: `'Aarhus'`, delivery_country: `'DK'` });
    const res = await postSelection('/admin/orders/print', [source, other]);
    expect(res.status).toBe(200);
    const [line] = await t.sql(`select l.product_name from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [source]);
    for (const n of [source, other]) expect(res.text).toMatch(new RegExp(`data-testid="print-${n}".*?Order ${n}.*?${line.product_name}.*?data-testid="order-total".*?Main Street 1`, 's'));
    expect(res.text).toContain('Dina Delivery');
    expect(res.text).toContain('Harbour 9');
    expect((await postSelection('/admin/orders/print', [])).status).toBe(422);
    const missing = await postSelection('/admin/orders/print', [source, 'ORDER999999']);
    expect(missing.status).toBe(404);
    expect(missing.text).toContain('This order was not found: ORDER999999.');
  });

  it('creates a GLS-style CSV: one row per order, RFC 4180 quoting, formulas neutralised', async () => {
    const [evil] = await clone(1, {
      delivery_same_as_billing: 'false', delivery_name: `'=HYPERLINK("http://evil.test","Click")'`, delivery_company: `'+45 Trading, "The Best"'`,
      delivery_address: `E'Line one\nLine two'`, delivery_address2: `'-2 floor'`, delivery_zip: `'2100'`, delivery_city: `'København Ø'`,
      delivery_country: `'dk'`, delivery_phone: `'+4512345678'`, delivery_email: `'@evil.test'`,
    });
    const res = await postSelection('/admin/orders/shipping-documents', [source, evil]);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="?shipping-documents-\d{8}-\d{6}\.csv"?$/);
    expect(res.text.endsWith('\r\n')).toBe(true);
    const rows = parseCsv(res.text);
    expect(rows[0]).toEqual([...GLS_COLUMNS]);
    expect(rows).toHaveLength(3);
    expect(rows[1]).toEqual([source, 'Kim Customer', '', 'Main Street 1', '', '2100', 'Copenhagen', 'DK', '', 'kim@example.test', '1.0']);
    expect(rows[2]).toEqual([evil, `'=HYPERLINK("http://evil.test","Click")`, `'+45 Trading, "The Best"`, 'Line one\nLine two', "'-2 floor", '2100',
      'København Ø', 'DK', "'+4512345678", "'@evil.test", '1.0']);
    expect(res.text).toContain(`"'=HYPERLINK(""http://evil.test"",""Click"")"`);
  });

  it('exports one well-formed XML document with the lines and marks those orders exported', async () => {
    const [a, b, untouched] = await clone(3, { customer_comment: `'Ring twice <b>&</b> "thanks" ' || chr(1)` });
    const res = await postSelection('/admin/orders/export-xml', [a, b]);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/xml; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="?orders-\d{8}-\d{6}\.xml"?$/);
    const xml = res.text;
    expect(() => parseXmlDocument(xml)).not.toThrow();
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<orders exportedAt="[^"]+" count="2">/);
    const [line] = await t.sql(`select l.product_name, l.product_number, l.quantity from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [a]);
    for (const n of [a, b]) {
      expect(xml).toMatch(new RegExp(`<order id="${n}">.*?<billingAddress>.*?<city>Copenhagen</city>.*?<lines count="1">\\s*<line position="1">\\s*<productNumber>${line.product_number}</productNumber>\\s*<productName>${line.product_name}</productName>\\s*<quantity>${line.quantity}</quantity>.*?<totalInclVat>\\d+\\.\\d\\d</totalInclVat>`, 's'));
    }
    expect(xml).toContain('<customerComment>Ring twice &lt;b&gt;&amp;&lt;/b&gt; &quot;thanks&quot; </customerComment>');
    expect(xml).not.toContain(untouched);
    const flags = await t.sql(`select number, exported from orders where number = any($1) order by number`, [[a, b, untouched]]);
    expect(flags).toEqual([{ number: a, exported: true }, { number: b, exported: true }, { number: untouched, exported: false }]);
    expect(await listed(`apply=1&search=${a}`)).toEqual([a]);
  });
});

describe('access', () => {
  it('a shopper gets 403 on the list and on every action; a guest is sent to log in', async () => {
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    expect((await shopper.get('/admin/orders')).status).toBe(403);
    expect((await shopper.get('/admin/orders?apply=1&preset=today')).status).toBe(403);
    for (const path of ['/admin/orders/print', '/admin/orders/shipping-documents', '/admin/orders/export-xml', '/admin/orders/reset-filter', '/admin/orders/columns']) {
      const token = await csrfToken(shopper, '/');
      const res = await shopper.post(path).type('form').send({ _csrf: token, numbers: source });
      expect([path, res.status]).toEqual([path, 403]);
    }
    expect((await t.sql(`select exported from orders where number = $1`, [source]))[0].exported).toBe(false);
    const guest = await newAgent(t).get('/admin/orders');
    expect(guest.status).toBe(302);
    expect(guest.headers.location).toBe('/login?next=%2Fadmin%2Forders');
  });
});

describe('cart list', () => {
  it('lists carts with lines through the same list, with the company filter, and without the order-only actions', async () => {
    const buyer = newAgent(t);
    await login(buyer, 'buyer1@acme.test', 'buyer-pass-1');
    await addToBasket(t, buyer, 'P-1042');
    const [cart] = await t.sql(`select o.number, o.company_id from orders o join users u on u.id = o.user_id
      where u.email = 'buyer1@acme.test' and o.basket_status = 'basket'`);
    const page = await staff.get(`/admin/carts?apply=1&company=${cart.company_id}`);
    expect(page.status).toBe(200);
    expect(numbersIn(page.text)).toContain(cart.number);
    expect(page.text).toContain(`<a href="/admin/carts/${cart.number}">${cart.number}</a>`);
    expect(page.text).not.toContain('formaction="/admin/carts/export-xml"');
    expect(page.text).not.toContain('Capture state');
    const other = await staff.get('/admin/carts?apply=1&company=999999');
    expect(numbersIn(other.text)).toEqual([]);
    // Remembered separately from the order list.
    expect((await staff.get('/admin/carts')).text).toContain('The filter you applied last time is in use.');
    await postForm(staff, '/admin/carts/reset-filter', {}, '/admin/carts');
    expect(numbersIn((await staff.get('/admin/carts')).text)).toContain(cart.number);
  });
});

describe('csv cells', () => {
  it('quotes only when needed and guards formula starts', () => {
    expect(['plain', 'a,b', 'say "hi"', 'two\nlines', '=1+2', '+1', '-1', '@SUM(A1)', '\tx', 12, null].map(csvCell))
      .toEqual(['plain', '"a,b"', '"say ""hi"""', '"two\nlines"', "'=1+2", "'+1", "'-1", "'@SUM(A1)", "'\tx", '12', '']);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Reading the downloads.

/** The download read as RFC 4180 (csv-parse, strict about quotes): records end with CRLF. */
const parseCsv = (text: string): string[][] => parse(text, { record_delimiter: '\r\n' });

