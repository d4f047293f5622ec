/**
 * Staff order list at scale, run by hand (not part of the tests):
 *
 *   npm run bench:data && npm run bench:list          # generate 1,000,000 orders once, then time the list on them
 *   npm run bench:list                                 # generates first when the database lacks that data
 *   ORDERS=100000 CUSTOMERS=20000 npm run bench:list   # smaller
 *   BENCH_FRESH=1 npm run bench:list                   # generate afresh even when the data is there
 *
 * The data is bench/generate-data.ts's (database DATABASE, default orderflow_scale, on DATABASE_URL's server or the
 * app's embedded PostgreSQL; ORDERS / CUSTOMERS / PRODUCTS / SEED as there). A database generated with the same
 * parameters is reused (the generator leaves them in the database's comment); otherwise it is generated here.
 *
 * For each target query it takes the SQL the order list runs — built by buildListQuery, the function
 * OrderAdminService.listPage builds its query with, for the staff user's filter and paging — and measures over
 * BENCH_RUNS (30) runs after 2 warm-ups: the server time (planning + execution, from EXPLAIN (ANALYZE, TIMING OFF)),
 * p50 / p95 / p99, and the client's round trip of the query itself. It writes EXPLAIN (ANALYZE, BUFFERS) of each to
 * bench/results/order-list-explain.txt, with the latency table and whether each target is met.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { buildListQuery, DEFAULT_FILTER, type ListFilter, type ListQueryInput } from '../src/orders/order-list-query';
import { benchServer, createBenchDatabase, migrateAndSeed, positiveInt } from './bench-db';
import { dataMarker, generateData, generateOptionsFromEnv, mb, printReport, scaleDatabaseName } from './generate-data';

const OPTS = generateOptionsFromEnv();
const DATABASE = scaleDatabaseName();
const RUNS = positiveInt(process.env.BENCH_RUNS, 30);
const RESULTS = path.join(__dirname, 'results', 'order-list-explain.txt');


interface Scenario { name: string; target?: number; input: Omit<ListQueryInput, 'now'> }
interface Measured { name: string; target?: number; rows: number; server: number[]; client: number[]; plan: string; planShape: string; execMs: number }

const toPg = (sql: string) => {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const f2 = (n: number) => n.toFixed(2);

/** The plan's nodes, outermost first, as "Node on index" (for the summary). */
function planShape(plan: { Plan: PlanNode }): string {
  const out: string[] = [];
  const walk = (n: PlanNode, depth: number) => {
    const what = n['Node Type'] + (n['Index Name'] ? ` on ${n['Index Name']}` : n['Relation Name'] ? ` on ${n['Relation Name']}` : '') + (n['Scan Direction'] === 'Backward' ? ' (backward)' : '');
    if (!/^(Hash|Materialize|Memoize|Result)$/.test(n['Node Type'])) out.push(`${'  '.repeat(depth)}${what}${n['Actual Rows'] != null ? ` (rows ${n['Actual Rows']}${n['Actual Loops'] && n['Actual Loops'] > 1 ? ` × ${n['Actual Loops']} loops` : ''})` : ''}`);
    for (const c of n.Plans ?? []) walk(c, depth + 1);
  };
  // The page itself (the first Limit: keyset walk, union arms); the joins above it are the same fixed lookups every time.
  const find = (n: PlanNode): PlanNode | undefined => (n['Node Type'] === 'Limit' ? n : (n.Plans ?? []).map(find).find(Boolean));
  walk(find(plan.Plan) ?? plan.Plan, 0);
  return out.join('\n');
}
interface PlanNode { 'Node Type': string; 'Index Name'?: string; 'Relation Name'?: string; 'Scan Direction'?: string; 'Actual Rows'?: number; 'Actual Loops'?: number; Plans?: PlanNode[] }

async function main(): Promise<void> {
  const started = Date.now();
  const server = await benchServer(loadConfig());
  console.log(`Order list bench: ${OPTS.orders.toLocaleString('en')} orders, ${OPTS.customers.toLocaleString('en')} customers, ${OPTS.products.toLocaleString('en')} products; `
    + `${RUNS} runs per query. PostgreSQL: ${server.label}`);
  let generation = '';
  try {
    const marker = dataMarker(OPTS);
    const db = await createBenchDatabase(server, DATABASE, {
      settings: ['shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', 'jit', 'max_parallel_workers_per_gather'],
      keep: async (url) => {
        if (process.env.BENCH_FRESH === '1') return false;
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          const { rows: [r] } = await c.query('select shobj_description(oid, \'pg_database\') as d from pg_database where datname = current_database()');
          return r?.d === marker;
        } finally {
          await c.end();
        }
      },
    });
    console.log(`PostgreSQL ${db.version}; ${db.settings.map((s) => `${s.name}=${s.setting}`).join(', ')}`);
    if (db.created) {
      console.log(`Generating the data into ${DATABASE} …`);
      await migrateAndSeed(db.url);
      const report = await generateData(db.url, OPTS);
      printReport(report);
      generation = `generated in ${(report.totalMs / 1000).toFixed(0)} s by this run`;
    } else {
      console.log(`Reusing the generated data in ${DATABASE} (${marker}).`);
      generation = 'generated by an earlier `npm run bench:data` with the same parameters';
    }

    const client = new pg.Client({ connectionString: db.url });
    client.on('error', () => undefined); // the server stopping at the end drops the connection
    await client.connect();
    const q = (text: string, params: unknown[] = []) => client.query(text, params);

    const counts = (await q(`select count(*) filter (where type = 'order') as orders, count(*) filter (where type = 'cart') as carts,
      count(*) filter (where type = 'quote') as quotes, (select count(*) from order_lines) as lines, (select count(*) from users) as users,
      (select count(*) from products) as products, pg_database_size(current_database()) as size from orders`)).rows[0];
    const sizes = (await q(`select relname, pg_total_relation_size(oid) as total, pg_relation_size(oid) as heap from pg_class
      where relname in ('orders', 'order_lines') order by relname`)).rows;
    const dataLine = `${Number(counts.orders).toLocaleString('en')} orders (+ ${Number(counts.carts).toLocaleString('en')} carts, ${Number(counts.quotes).toLocaleString('en')} quotes), `
      + `${Number(counts.lines).toLocaleString('en')} order lines, ${Number(counts.users).toLocaleString('en')} users, ${Number(counts.products).toLocaleString('en')} products; `
      + `database ${mb(Number(counts.size))} (${sizes.map((s) => `${s.relname} ${mb(Number(s.total))} incl. indexes, heap ${mb(Number(s.heap))}`).join('; ')})`;
    console.log(dataLine);

    // Realistic search values, taken from the data.
    const stateIds = (await q(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default
      and s.name in ('Received', 'Picked') order by s.id`)).rows.map((r) => r.id as number);
    const doneIds = (await q(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default
      and s.name in ('Shipped', 'Completed') order by s.id`)).rows.map((r) => r.id as number);
    const n = Number(counts.orders);
    const mid = (await q(`select number from orders where type = 'order' and not deleted order by id offset $1 limit 1`, [Math.floor(n / 2)])).rows[0].number as string;
    const email = (await q(`select billing_email from orders where type = 'order' and not deleted and user_id is not null order by id offset $1 limit 1`, [Math.floor(n / 3)])).rows[0].billing_email as string;
    const now = new Date();
    const day = (d: Date) => d.toISOString().slice(0, 10);
    const today = day(now);
    const ninetyDaysAgo = day(new Date(now.getTime() - 90 * 864e5));
    const yearAgo = day(new Date(now.getTime() - 365 * 864e5));
    const f = (over: Partial<ListFilter>): ListFilter => ({ ...DEFAULT_FILTER, ...over });
    const STREET = 'sebærvej 12';
    const PRODUCT = 'Chef knife';

    const scenarios: Scenario[] = [
      { name: 'first page (no filter)', input: { type: 'order', filter: f({}) } },
      { name: 'state (Received, Picked) + last 90 days', target: 50, input: { type: 'order', filter: f({ state: stateIds, dateFrom: ninetyDaysAgo, dateTo: today }) } },
      { name: 'state (Shipped, Completed) + last 365 days', target: 50, input: { type: 'order', filter: f({ state: doneIds, dateFrom: yearAgo, dateTo: today }) } },
      { name: 'last page (no filter)', target: 50, input: { type: 'order', filter: f({}), last: true } },
      { name: 'sorted by total, largest first', target: 50, input: { type: 'order', filter: f({ sort: 'total' }) } },
      { name: 'not completed (still in checkout)', target: 50, input: { type: 'order', filter: f({ progress: 'not_completed' }) } },
      { name: 'completed + last 90 days', target: 50, input: { type: 'order', filter: f({ progress: 'completed', dateFrom: ninetyDaysAgo, dateTo: today }) } },
      { name: `exact order id (${mid})`, target: 20, input: { type: 'order', filter: f({ search: mid, searchIn: 'id' }) } },
      { name: `exact customer e-mail (${email})`, target: 20, input: { type: 'order', filter: f({ search: email, searchIn: 'customer' }) } },
      { name: `all fields: street fragment "${STREET}"`, target: 300, input: { type: 'order', filter: f({ search: STREET, searchIn: 'all' }) } },
      { name: `all fields: product name "${PRODUCT}"`, target: 300, input: { type: 'order', filter: f({ search: PRODUCT, searchIn: 'all' }) } },
      { name: 'all fields: common fragment "vej" (worst case, no target)', input: { type: 'order', filter: f({ search: 'vej', searchIn: 'all' }) } },
    ];

    const measured: Measured[] = [];
    for (const s of scenarios) {
      const built = buildListQuery({ ...s.input, now });
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
      const [json] = (await q(`explain (analyze, buffers, format json) ${sql}`, built.params)).rows[0]['QUERY PLAN'];
      const text = (await q(`explain (analyze, buffers) ${sql}`, built.params)).rows.map((r) => r['QUERY PLAN']).join('\n');
      const plan = `-- SQL (parameters: ${JSON.stringify(built.params)})\n${sql}\n\n${text}`;
      measured.push({ name: s.name, target: s.target, rows, server, client: wall, plan, planShape: planShape(json), execMs: json['Execution Time'] });
      console.log(`  ${s.name}: server p50 ${f2(pct(server, 50))} ms, p95 ${f2(pct(server, 95))} ms`);
    }

    const table = [
      `| query | rows | server p50 | server p95 | server p99 | client p50 | client p95 | target (p95) | met |`,
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...measured.map((m) => `| ${m.name} | ${m.rows} | ${f2(pct(m.server, 50))} | ${f2(pct(m.server, 95))} | ${f2(pct(m.server, 99))} | ${f2(pct(m.client, 50))} | ${f2(pct(m.client, 95))} | `
        + `${m.target ? `< ${m.target}` : '–'} | ${m.target ? (pct(m.server, 95) < m.target ? 'yes' : '**no**') : '–'} |`),
    ].join('\n');
    const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
    const header = [
      `Order list at scale — ${new Date().toISOString()}`,
      `Data: ${dataLine}; ${generation} (${dataMarker(OPTS)}).`,
      `PostgreSQL ${db.version} (${server.label}); ${db.settings.map((s) => `${s.name}=${s.setting}`).join(', ')}.`,
      `Machine: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB; load average at the end ${load} (the cores are shared with other work: times are noisy).`,
      `Times in ms over ${RUNS} runs after 2 warm-ups; server = planning + execution (EXPLAIN ANALYZE, TIMING OFF); client = the query's round trip from node-postgres.`,
      `Each query is the SQL of buildListQuery (src/orders/order-admin.service.ts), which OrderAdminService.listPage runs; rows = the page (50) + 1 look-ahead row.`,
    ].join('\n');
    const report = [
      header, '', table, '',
      'Plan shapes of the page (the first Limit; the lookups joined above it are the same every time), with the execution time of that EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) run; the text plans below are one more run each:',
      ...measured.map((m) => `\n* ${m.name} — ${f2(m.execMs)} ms\n${m.planShape.split('\n').map((l) => `    ${l}`).join('\n')}`),
      '', ...measured.map((m) => `\n======== ${m.name} ========\n${m.plan}`), '',
    ].join('\n');
    fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
    fs.writeFileSync(RESULTS, report);
    console.log(`\n${header}\n\n${table}\n\nPlans: ${path.relative(process.cwd(), RESULTS)}; done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await client.end();
  } catch (e) {
    console.error(e);
    process.exitCode = 1;
  } finally {
    await server.embedded?.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
