/**
 * `npm run bench:replica`: storefront checkouts with staff reading the order list and the statistics beside them,
 * once with every read on the primary and once with the staff reads on a streaming replica. Run by hand.
 *
 * Builds its own topology (test/topology/servers.ts: a primary from Debian's PostgreSQL and a replica made with
 * `pg_basebackup -R`), fills the primary with bench/generate-data.ts (REPLICA_BENCH_ORDERS, default 100,000 orders;
 * CUSTOMERS and PRODUCTS scale with it), and runs one app process (`node --import tsx src/server.ts`) per round:
 * without DATABASE_REPLICA_URLS, then with it. Load per round (BENCH_SECONDS, default 30): SHOPPERS (6) guests
 * walking whole checkouts (8 requests each), STAFF (3) staff members loading in turn the order list filtered on two
 * states over the last 90 days and the statistics of the last year by month. ROUNDS (1) rounds per mode, alternating.
 * REPLICA_BENCH_DIR keeps the primary and replica with their data between runs (ROUNDS=0 only prepares them).
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  type AppProcess, envInt, fillStock, type ShopSetup, Shopper, shopSetup, sleep, spawnApp, startMailCatcher, type TestDatabase, walkCheckout,
} from '../test/load/helpers';
import { createShopDatabase, keptReplicaTopology, type PgNode, replicaCaughtUp, startTopology } from '../test/topology/servers';
import { FRESH_READS_COOKIE } from '../src/db/replicas';
import { generateData } from './generate-data';

const ORDERS = envInt('REPLICA_BENCH_ORDERS', 100_000);
const SECONDS = envInt('BENCH_SECONDS', 30);
const SHOPPERS = envInt('SHOPPERS', 6);
const STAFF = envInt('STAFF', 3);
/** Rounds per mode, alternating primary / replica, so a busy machine's swings hit both alike. */
const ROUNDS = process.env.ROUNDS === '0' ? 0 : envInt('ROUNDS', 1);
const DB = 'bench_replica';
/** REPLICA_BENCH_DIR=/var/tmp/orderflow-replica-bench keeps the servers and their data for the next run (ROUNDS=0 only prepares). */
const KEEP_DIR = process.env.REPLICA_BENCH_DIR;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

interface Round { mode: string; orders: number; checkoutP50: number; checkoutP95: number; placeP95: number; staffPages: number; staffP50: number; staffP95: number; errors: number }

async function round(mode: 'primary' | 'replica', app: AppProcess, setup: ShopSetup, staffUrls: string[]): Promise<Round> {
  const deadline = Date.now() + SECONDS * 1000;
  const checkoutMs: number[] = [];
  const placeMs: number[] = [];
  const staffMs: number[] = [];
  let errors = 0;
  const shoppers = Array.from({ length: SHOPPERS }, async (_, i) => {
    while (Date.now() < deadline) {
      const s = new Shopper([app.port]);
      try {
        await s.refreshCsrf('/');
        const t = performance.now();
        let placing = 0;
        await walkCheckout(s, setup, {
          items: [{ productId: setup.productIds[(i * 7 + checkoutMs.length) % setup.productIds.length], quantity: 1 }], payment: 'invoice',
          onPlacing: () => { placing = performance.now(); }, onConfirmed: () => { placeMs.push(performance.now() - placing); },
        });
        checkoutMs.push(performance.now() - t);
      } catch {
        errors++;
      } finally {
        s.close();
      }
    }
  });
  const staff = Array.from({ length: STAFF }, async (_, i) => {
    const s = new Shopper([app.port]);
    await s.login('admin@orderflow.test', 'admin-pass-1');
    s.cookies.delete(FRESH_READS_COOKIE); // reading, not changing: their reads may go to the replica
    for (let n = i; Date.now() < deadline; n++) {
      const t = performance.now();
      const res = await s.get(staffUrls[n % staffUrls.length]);
      if (res.status === 200) staffMs.push(performance.now() - t);
      else errors++;
    }
    s.close();
  });
  await Promise.all([...shoppers, ...staff]);
  return {
    mode, orders: checkoutMs.length, checkoutP50: pct(checkoutMs, 50), checkoutP95: pct(checkoutMs, 95), placeP95: pct(placeMs, 95),
    staffPages: staffMs.length, staffP50: pct(staffMs, 50), staffP95: pct(staffMs, 95), errors,
  };
}

/** Makes the primary + replica (in KEEP_DIR when set, reused by later runs) and the shop database filled with ORDERS orders. */
async function prepare(): Promise<{ primary: PgNode; replica: PgNode; stop(): Promise<void> }> {
  const started = Date.now();
  const topo = KEEP_DIR ? await keptReplicaTopology(KEEP_DIR) : await startTopology({ replica: true });
  const servers = { primary: topo.primary, replica: topo.replica!, stop: 'stop' in topo ? topo.stop : topo.destroy };
  const [{ exists }] = await topo.primary.sql<{ exists: boolean }>('select exists (select from pg_database where datname = $1)', [DB]);
  if (exists) {
    const [{ orders }] = await topo.primary.sql<{ orders: string }>('select count(*) as orders from orders', [], DB);
    console.log(`kept topology in ${KEEP_DIR}: ${Number(orders).toLocaleString('en')} order rows already there`);
    return servers;
  }
  await createShopDatabase(topo.primary, DB);
  console.log(`topology up, shop migrated and seeded in ${((Date.now() - started) / 1000).toFixed(1)} s; generating ${ORDERS.toLocaleString('en')} orders …`);
  const report = await generateData(topo.primary.url(DB), { orders: ORDERS, customers: Math.max(1000, ORDERS / 10), products: Math.max(500, ORDERS / 200), seed: 42 });
  await replicaCaughtUp(topo.primary, servers.replica, 30 * 60_000);
  console.log(`data generated in ${(report.totalMs / 1000).toFixed(1)} s (${(report.sizeBytes / 1024 / 1024).toFixed(0)} MB), replica caught up`);
  return servers;
}

async function main(): Promise<void> {
  const loadBefore = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  const topo = await prepare();
  const mail = await startMailCatcher();
  try {
    const url = topo.primary.url(DB);
    const db: TestDatabase = { name: DB, url, sql: (text, params) => topo.primary.sql(text, params, DB), drop: async () => undefined };
    await fillStock(db, 1_000_000);
    const setup = await shopSetup(db);
    const states = await db.sql<{ id: number }>(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default and s.role in ('new', 'processing')`);
    const yearAgo = new Date(Date.now() - 365 * 86400_000).toISOString().slice(0, 10);
    const staffUrls = [
      `/admin/orders?apply=1&preset=last-7-days&${states.map((s) => `state=${s.id}`).join('&')}`,
      `/admin/orders?apply=1&dateFrom=${new Date(Date.now() - 90 * 86400_000).toISOString().slice(0, 10)}&${states.map((s) => `state=${s.id}`).join('&')}`,
      `/admin/statistics?from=${yearAgo}&interval=month`,
    ];
    const rounds: Round[] = [];
    const modes = Array.from({ length: ROUNDS }, () => ['primary', 'replica'] as const).flat();
    for (const mode of modes) {
      const app = await spawnApp({
        name: mode, databaseUrl: url, smtpUrl: mail.url,
        env: mode === 'replica' ? { DATABASE_REPLICA_URLS: topo.replica!.url(DB), REPLICA_MAX_LAG_MS: '5000' } : {},
      });
      try {
        await app.waitHealthy(120_000);
        await sleep(1000);
        const r = await round(mode, app, setup, staffUrls);
        rounds.push(r);
        console.log(JSON.stringify(r));
      } finally {
        await app.stop();
      }
    }
    const [{ rows }] = await db.sql<{ rows: string }>('select count(*) as rows from orders');
    console.log(`\n${Number(rows).toLocaleString('en')} order rows (orders and carts), ${SHOPPERS} shoppers (whole checkouts) + ${STAFF} staff (order list ×2, statistics), ${SECONDS} s per round; load average before: ${loadBefore}\n`);
    console.log('| staff reads on | checkouts/s | checkout p50 ms | checkout p95 ms | place p95 ms | staff pages/s | staff p50 ms | staff p95 ms | errors |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rounds) {
      console.log(`| ${r.mode} | ${(r.orders / SECONDS).toFixed(2)} | ${r.checkoutP50.toFixed(0)} | ${r.checkoutP95.toFixed(0)} | ${r.placeP95.toFixed(0)} | ${(r.staffPages / SECONDS).toFixed(1)} | ${r.staffP50.toFixed(0)} | ${r.staffP95.toFixed(0)} | ${r.errors} |`);
    }
  } finally {
    await mail.stop();
    await topo.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
