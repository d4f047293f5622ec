/**
 * Order list benchmark, run by hand (not part of the tests):
 *
 *   npx tsx bench/order-list.bench.ts                  # 1,000,000 orders
 *   ORDERS=200000 npx tsx bench/order-list.bench.ts    # fewer
 *   BENCH_REUSE=1 npx tsx bench/order-list.bench.ts    # keep the generated data of an earlier run with the same ORDERS
 *
 * Boots a separate database `orderflow_list_bench` (on DATABASE_URL's server, else the app's embedded PostgreSQL),
 * migrates and seeds it, and generates ORDERS orders (plus 10 % carts, 1–3 lines per order) with
 * `insert … select generate_series` in batches — the list indexes are dropped for the load and rebuilt afterwards
 * from their own definitions. Then it times the queries the order list issues (built by the same
 * buildListQuery the app uses): server time (planning + execution, from EXPLAIN ANALYZE with TIMING OFF) and the
 * client's round trip, p50/p95 over 20 runs each after 2 warm-ups, and prints EXPLAIN (ANALYZE, BUFFERS) of each.
 */
import pg from 'pg';
import { loadConfig, type AppConfig } from '../src/config';
import { initOrm, migrate, provideDatabase } from '../src/db/database';
import { withDatabase } from '../src/db/embedded-postgres';
import { seedDemoData } from '../src/db/seed';
import { buildListQuery, DEFAULT_FILTER, type ListFilter, type ListQueryInput } from '../src/orders/order-admin.service';

const ORDERS = positiveInt(process.env.ORDERS, 1_000_000);
const RUNS = positiveInt(process.env.BENCH_RUNS, 20);
const BATCH = 100_000;
const BENCH_DATABASE = 'orderflow_list_bench';

function positiveInt(v: string | undefined, fallback: number): number {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

async function benchPostgres(config: AppConfig): Promise<{ url: string; embedded?: { stop(): Promise<void> }; label: string }> {
  if (config.databaseUrl) return { url: config.databaseUrl, label: 'DATABASE_URL' };
  const running = `postgres://postgres:orderflow@127.0.0.1:${config.embeddedPort}/postgres`;
  const probe = new pg.Client({ connectionString: running, connectionTimeoutMillis: 2000 });
  const up = await probe.connect().then(() => true, () => false);
  await probe.end().catch(() => undefined);
  if (up) return { url: running, label: `embedded PostgreSQL already running on port ${config.embeddedPort} (left running)` };
  const db = await provideDatabase(config);
  return { ...db, label: `embedded PostgreSQL in ${config.embeddedDataDir}, port ${config.embeddedPort} (started for this run)` };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Words for generated addresses: 20 × 10 street names, 50 × 50 names, 20 cities. */
const STREET_HEADS = ['Kirsebær', 'Blåbær', 'Hindbær', 'Solsikke', 'Egeskov', 'Birke', 'Lærke', 'Mølle', 'Strand', 'Skov', 'Bakke', 'Enge',
  'Kastanje', 'Rose', 'Lind', 'Hassel', 'Pile', 'Æble', 'Kløver', 'Havre'];
const STREET_TAILS = ['vej', 'gade', 'allé', 'stræde', 'park', 'toften', 'høj', 'vænget', 'bakken', 'haven'];
const FIRST = ['Anna', 'Bo', 'Clara', 'Dan', 'Emma', 'Frederik', 'Gitte', 'Hans', 'Ida', 'Jens', 'Karen', 'Lars', 'Mette', 'Niels', 'Olga',
  'Peter', 'Rikke', 'Søren', 'Tina', 'Ulrik', 'Vibeke', 'William', 'Yrsa', 'Zenia', 'Aksel', 'Birgit', 'Carl', 'Dorte', 'Erik', 'Frida',
  'Gustav', 'Hanne', 'Ib', 'Jytte', 'Kim', 'Lene', 'Mads', 'Nina', 'Ole', 'Pia', 'Rasmus', 'Sofie', 'Troels', 'Ulla', 'Viggo', 'Alma',
  'Bent', 'Cecilie', 'Dennis', 'Ella'];
const LAST = ['Jensen', 'Nielsen', 'Hansen', 'Pedersen', 'Andersen', 'Christensen', 'Larsen', 'Sørensen', 'Rasmussen', 'Jørgensen',
  'Petersen', 'Madsen', 'Kristensen', 'Olsen', 'Thomsen', 'Christiansen', 'Poulsen', 'Johansen', 'Møller', 'Mortensen', 'Knudsen',
  'Jakobsen', 'Mikkelsen', 'Olesen', 'Frederiksen', 'Laursen', 'Henriksen', 'Lund', 'Holm', 'Schmidt', 'Eriksen', 'Kristiansen',
  'Clausen', 'Simonsen', 'Svendsen', 'Andreasen', 'Iversen', 'Østergaard', 'Jeppesen', 'Vestergaard', 'Nissen', 'Lauridsen', 'Kjær',
  'Jespersen', 'Mogensen', 'Nørgaard', 'Jepsen', 'Frandsen', 'Søndergaard', 'Bach'];
const CITIES = ['København', 'Aarhus', 'Odense', 'Aalborg', 'Esbjerg', 'Randers', 'Kolding', 'Horsens', 'Vejle', 'Roskilde', 'Herning',
  'Hørsholm', 'Silkeborg', 'Næstved', 'Fredericia', 'Viborg', 'Køge', 'Holstebro', 'Taastrup', 'Slagelse'];
const sqlArray = (xs: string[]) => `(array[${xs.map((x) => `'${x.replace(/'/g, "''")}'`).join(',')}])`;

async function generate(q: (text: string, params?: unknown[]) => Promise<pg.QueryResult>): Promise<void> {
  const started = Date.now();
  const indexes = (await q(`select indexname, indexdef from pg_indexes where schemaname = current_schema()
    and tablename in ('orders', 'order_lines') and indexname not like '%_pkey' and indexdef not like 'CREATE UNIQUE%'`)).rows as { indexname: string; indexdef: string }[];
  for (const ix of indexes) await q(`drop index ${ix.indexname}`);
  await q(`select setseed(0.42)`);
  await q(`insert into companies (name, customer_number) select 'Company ' || g, 'C-' || (20000 + g) from generate_series(1, 1000) g`);
  await q(`insert into users (email, password_hash, name, role) select 'user' || g || '@example.test', 'x', 'User ' || g, 'shopper' from generate_series(1, 5000) g`);
  const ids = async (sql: string) => (await q(sql)).rows.map((r: { id: number }) => r.id);
  const states = await ids(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default order by s.sort_order`);
  const cartState = (await ids(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'cart' and f.is_default and s.is_default`))[0];
  const [minUser] = await ids(`select min(id) as id from users`);
  const [minCompany] = await ids(`select min(id) as id from companies`);
  const [maxUser] = await ids(`select max(id) as id from users`);
  const [maxCompany] = await ids(`select max(id) as id from companies`);
  const shipping = await ids(`select id from shipping_methods order by id`);
  const payment = await ids(`select id from payment_methods order by id`); // CARD, INVOICE
  const products = (await q(`select id, number, name, price_minor, vat_rate_bp, unit from products order by id`)).rows;

  const total = ORDERS + Math.floor(ORDERS / 10);
  for (let start = 1; start <= total; start += BATCH) {
    const end = Math.min(total, start + BATCH - 1);
    const t0 = Date.now();
    const prevMax = Number((await q('select coalesce(max(id), 0) as m from orders')).rows[0].m);
    await q(`
insert into orders (number, shop_id, type, state_id, completed, completed_at, checkout_step, billing_name, billing_company, billing_address,
  billing_zip, billing_city, billing_country, billing_phone, billing_email, user_id, company_id, shipping_method_id, payment_method_id,
  customer_comment, currency_code, currency_name, currency_rate, subtotal_minor, total_excl_vat_minor, vat_minor, total_minor,
  capture_state, imported, integration_order_id, channel, created_at, updated_at)
select case when cart then 'CART' else 'ORDER' end || (100000 + g), 'SHOP1', case when cart then 'cart' else 'order' end,
  case when cart then ${cartState} else (${`array[${states.join(',')}]`})[1 + floor(r1 * ${states.length})::int] end,
  not cart and r2 < 0.97, case when not cart and r2 < 0.97 then created + interval '5 minutes' end,
  case when cart then 'cart' when r2 < 0.97 then 'confirmation' else 'review' end,
  ${sqlArray(FIRST)}[1 + floor(r3 * ${FIRST.length})::int] || ' ' || ${sqlArray(LAST)}[1 + floor(r4 * ${LAST.length})::int],
  case when r5 < 0.1 then 'Company ' || (1 + floor(r6 * 1000)::int) else '' end,
  ${sqlArray(STREET_HEADS)}[1 + floor(r6 * ${STREET_HEADS.length})::int] || ${sqlArray(STREET_TAILS)}[1 + floor(r7 * ${STREET_TAILS.length})::int]
    || ' ' || (1 + floor(r8 * 200)::int),
  (1000 + floor(r9 * 8999)::int)::text, ${sqlArray(CITIES)}[1 + floor(r10 * ${CITIES.length})::int], 'DK',
  '+45' || (20000000 + floor(r11 * 79999999)::int), 'customer' || floor(r12 * 200000)::int || '@example.test',
  case when r5 < 0.2 then ${minUser} + floor(r13 * ${maxUser - minUser + 1})::int end,
  case when r5 < 0.1 then ${minCompany} + floor(r6 * ${maxCompany - minCompany + 1})::int end,
  ${`(array[${shipping.join(',')}])`}[1 + floor(r7 * ${shipping.length})::int], case when r14 < 0.7 then ${payment[0]} else ${payment[1]} end,
  case when r15 < 0.05 then 'Please leave the parcel at the back door' else '' end, 'DKK', 'Danish krone', 1,
  amount, amount, amount / 4, amount + amount / 4,
  case when cart then null when r14 >= 0.7 then 'not_supported' when r1 < 0.5 then 'captured' when r1 < 0.55 then 'split_captured' else 'not_captured' end,
  r16 < 0.02, case when r16 < 0.02 then 'MP-' || g end, case when r16 < 0.02 then 'Marketplace' end, created, created
from (
  select g, (g % 11 = 0) as cart, now() - random() * interval '3 years' as created, (10000 + floor(random() * 490000))::bigint as amount,
    random() r1, random() r2, random() r3, random() r4, random() r5, random() r6, random() r7, random() r8, random() r9, random() r10,
    random() r11, random() r12, random() r13, random() r14, random() r15, random() r16
  from generate_series($1::int, $2::int) g
) x`, [start, end]);
    await q(`
insert into order_lines (order_id, product_id, product_number, product_name, unit, quantity, unit_price_minor, vat_rate_bp)
select o.id, p.id, p.number, p.name, p.unit, 1 + (o.id % 4)::int, p.price_minor, p.vat_rate_bp
from orders o cross join generate_series(1, 1 + (o.id % 3)::int) k
join products p on p.id = ${products[0].id} + ((o.id * 7 + k * 13) % ${products.length})
where o.id > $1::bigint`, [prevMax]);
    console.log(`  orders ${start}–${end} in ${seconds(Date.now() - t0)}`);
  }
  const t1 = Date.now();
  await q(`set maintenance_work_mem = '1GB'`);
  for (const ix of indexes) {
    const t2 = Date.now();
    await q(ix.indexdef);
    console.log(`  index ${ix.indexname} in ${seconds(Date.now() - t2)}`);
  }
  console.log(`  indexes rebuilt in ${seconds(Date.now() - t1)}`);
  await q('vacuum analyze orders');
  await q('vacuum analyze order_lines');
  console.log(`Generated in ${seconds(Date.now() - started)}`);
}

interface Scenario { name: string; input: Omit<ListQueryInput, 'now'> }

const toPg = (sql: string) => {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function main(): Promise<void> {
  const config = loadConfig();
  const db = await benchPostgres(config);
  console.log(`Order list bench: ${ORDERS.toLocaleString('en')} orders, ${RUNS} runs per query. PostgreSQL: ${db.label}`);
  const serverUrl = withDatabase(db.url, 'postgres');
  const url = withDatabase(db.url, BENCH_DATABASE);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  let reuse = false;
  if (process.env.BENCH_REUSE === '1') {
    const exists = (await admin.query('select 1 from pg_database where datname = $1', [BENCH_DATABASE])).rowCount;
    if (exists) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const n = Number((await c.query(`select count(*) as n from orders where type = 'order'`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n);
      await c.end();
      reuse = n >= ORDERS * 0.9;
      console.log(reuse ? `Reusing ${n} generated orders.` : `Found ${n} orders, generating afresh.`);
    }
  }
  if (!reuse) {
    await admin.query(`drop database if exists ${BENCH_DATABASE} with (force)`);
    await admin.query(`create database ${BENCH_DATABASE}`);
  }
  const version = (await admin.query('show server_version')).rows[0].server_version;
  const settings = (await admin.query(`select name, current_setting(name) as v from pg_settings where name in ('shared_buffers', 'work_mem', 'effective_cache_size', 'jit') order by name`)).rows;
  await admin.end();
  console.log(`PostgreSQL ${version}; ${settings.map((s: { name: string; v: string }) => `${s.name}=${s.v}`).join(', ')}`);

  try {
    if (!reuse) {
      const orm = await initOrm(url, { poolMax: 2 });
      await migrate(orm);
      await seedDemoData(orm.em.fork());
      await orm.close();
    }
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => undefined); // the server stopping at the end drops the connection
    await client.connect();
    const q = (text: string, params: unknown[] = []) => client.query(text, params);
    if (!reuse) await generate(q);

    const sizes = (await q(`select relname, pg_size_pretty(pg_total_relation_size(oid)) as total, pg_size_pretty(pg_relation_size(oid)) as heap
      from pg_class where relname in ('orders', 'order_lines') order by relname`)).rows;
    const ixSizes = (await q(`select indexrelname as name, pg_size_pretty(pg_relation_size(indexrelid)) as size from pg_stat_user_indexes
      where relname in ('orders', 'order_lines') and (indexrelname like '%list%' or indexrelname like '%trgm%') order by pg_relation_size(indexrelid) desc`)).rows;
    console.log(`Sizes: ${sizes.map((s) => `${s.relname} ${s.total} (heap ${s.heap})`).join('; ')}`);
    console.log(`List indexes: ${ixSizes.map((s) => `${s.name} ${s.size}`).join(', ')}`);

    const stateIds = (await q(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default and s.name in ('Received', 'Picked') order by s.id`)).rows.map((r) => r.id as number);
    const mid = (await q(`select number from orders where type = 'order' order by id offset $1 limit 1`, [Math.floor(ORDERS / 2)])).rows[0].number as string;
    const email = (await q(`select billing_email from orders where type = 'order' and not deleted order by id offset $1 limit 1`, [Math.floor(ORDERS / 3)])).rows[0].billing_email as string;
    const recurringColumn = ((await q(`select 1 from information_schema.columns where table_name = 'orders' and column_name = 'recurring_series_id'`)).rowCount ?? 0) > 0;
    const today = new Date().toISOString().slice(0, 10);
    const ninetyDaysAgo = new Date(Date.now() - 90 * 864e5).toISOString().slice(0, 10);
    const f = (over: Partial<ListFilter>): ListFilter => ({ ...DEFAULT_FILTER, ...over });

    const scenarios: Scenario[] = [
      { name: 'first page (no filter)', input: { type: 'order', filter: f({}), recurringColumn } },
      { name: `state (Received, Picked) + last 90 days`, input: { type: 'order', filter: f({ state: stateIds, dateFrom: ninetyDaysAgo, dateTo: today }), recurringColumn } },
      { name: 'last page (no filter)', input: { type: 'order', filter: f({}), last: true, recurringColumn } },
      { name: 'last page, sorted by total', input: { type: 'order', filter: f({ sort: 'total' }), last: true, recurringColumn } },
      { name: `exact order id (${mid})`, input: { type: 'order', filter: f({ search: mid, searchIn: 'id' }), recurringColumn } },
      { name: `exact e-mail (${email})`, input: { type: 'order', filter: f({ search: email, searchIn: 'customer' }), recurringColumn } },
      { name: `all fields: street fragment "sebærvej 12"`, input: { type: 'order', filter: f({ search: 'sebærvej 12', searchIn: 'all' }), recurringColumn } },
      { name: `all fields: product name "Chef knife"`, input: { type: 'order', filter: f({ search: 'Chef knife', searchIn: 'all' }), recurringColumn } },
      { name: `all fields: common fragment "vej" (worst case)`, input: { type: 'order', filter: f({ search: 'vej', searchIn: 'all' }), recurringColumn } },
    ];

    const summary: { name: string; rows: number; server: [number, number]; client: [number, number] }[] = [];
    const plans: string[] = [];
    for (const s of scenarios) {
      const built = buildListQuery({ ...s.input, now: new Date() });
      const sql = toPg(built.sql);
      for (let i = 0; i < 2; i++) await q(sql, built.params);
      const server: number[] = [];
      const wall: number[] = [];
      let rows = 0;
      for (let i = 0; i < RUNS; i++) {
        const t0 = process.hrtime.bigint();
        rows = (await q(sql, built.params)).rowCount ?? 0;
        wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
        const [plan] = (await q(`explain (analyze, timing off, summary, format json) ${sql}`, built.params)).rows[0]['QUERY PLAN'];
        server.push(plan['Planning Time'] + plan['Execution Time']);
      }
      summary.push({ name: s.name, rows, server: [pct(server, 50), pct(server, 95)], client: [pct(wall, 50), pct(wall, 95)] });
      const text = (await q(`explain (analyze, buffers) ${sql}`, built.params)).rows.map((r) => r['QUERY PLAN']).join('\n');
      plans.push(`\n=== ${s.name} ===\n${text}`);
      console.log(`  ${s.name}: server p50 ${pct(server, 50).toFixed(2)} ms`);
    }
    console.log(plans.join('\n'));
    console.log(`\n${ORDERS.toLocaleString('en')} orders — times in ms over ${RUNS} runs (server = planning + execution)`);
    console.log('| query | rows | server p50 | server p95 | client p50 | client p95 |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const r of summary) {
      console.log(`| ${r.name} | ${r.rows} | ${r.server[0].toFixed(2)} | ${r.server[1].toFixed(2)} | ${r.client[0].toFixed(2)} | ${r.client[1].toFixed(2)} |`);
    }
    await client.end();
  } catch (e) {
    console.error(e);
    process.exitCode = 1;
  } finally {
    await db.embedded?.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
