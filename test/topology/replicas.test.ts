/**
 * Read replicas on real servers: a primary and a streaming replica made with `pg_basebackup -R` (test/topology/
 * servers.ts), the app in this process with DATABASE_REPLICA_URLS pointing at the replica. Pausing the replica's
 * replay (`pg_wal_replay_pause()`) makes its data visibly old, which shows where each page read from.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MikroORM } from '@mikro-orm/postgresql';
import { createApp, type BuiltApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { initOrm } from '../../src/db/database';
import { FRESH_READS_COOKIE } from '../../src/db/replicas';
import { get, type ShopSetup, Shopper, shopSetup, StepError, type TestDatabase, waitUntil, walkCheckout } from '../load/helpers';
import { createShopDatabase, replicaCaughtUp, startTopology, type Topology } from './servers';

jest.setTimeout(90_000);

const DB = 'shop';
let topo: Topology;
let shop: TestDatabase;
let setup: ShopSetup;
const apps: { built: BuiltApp; orm: MikroORM; server: Server; port: number }[] = [];
const timings: string[] = [];

/** The app on the primary, reading stale-tolerant pages from the replica unless it is more than `maxLagMs` behind. */
async function startApp(maxLagMs: number): Promise<number> {
  const orm = await initOrm(topo.primary.url(DB), { poolMax: 5 });
  const config = { ...loadConfig({}), loginRateLimit: { windowMs: 60_000, max: 1000 }, catalogCacheMs: 0, replicaUrls: [topo.replica!.url(DB)], replicaMaxLagMs: maxLagMs };
  const built = createApp(orm, config, topo.primary.url(DB));
  const server = built.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  apps.push({ built, orm, server, port });
  return port;
}

beforeAll(async () => {
  let t = Date.now();
  topo = await startTopology({ replica: true });
  timings.push(`primary + replica ${Date.now() - t} ms`);
  t = Date.now();
  await createShopDatabase(topo.primary, DB);
  timings.push(`migrate + seed ${Date.now() - t} ms`);
  shop = { name: DB, url: topo.primary.url(DB), sql: (text, params) => topo.primary.sql(text, params, DB), drop: async () => undefined };
  await shop.sql('update stock_levels set quantity = 1000');
  setup = await shopSetup(shop);
  await replicaCaughtUp(topo.primary, topo.replica!);
});

afterAll(async () => {
  for (const a of apps) {
    a.server.close();
    await a.built.close();
    await a.orm.close();
  }
  await topo?.destroy();
  console.log(`replica topology: ${timings.join(', ')}`);
});

/** A staff member who last changed something longer ago than the read-your-writes window. */
async function idleStaff(port: number): Promise<Shopper> {
  const staff = new Shopper([port]);
  await staff.login('admin@orderflow.test', 'admin-pass-1');
  staff.cookies.delete(FRESH_READS_COOKIE);
  return staff;
}

async function checkout(port: number): Promise<{ shopper: Shopper; number: string }> {
  const shopper = new Shopper([port]);
  await shopper.login('shopper@orderflow.test', 'shopper-pass-1');
  const out = await walkCheckout(shopper, setup, { items: [{ productId: setup.productIds[0], quantity: 1 }], payment: 'invoice' });
  if (!out.confirmed) throw new Error('checkout not confirmed');
  return { shopper, number: out.number! };
}

/** The state badge of `number` in the staff order list searched by that number, or null when the list lacks it. */
async function listedState(staff: Shopper, number: string): Promise<string | null> {
  const res = await staff.get(`/admin/orders?apply=1&searchIn=id&search=${encodeURIComponent(number)}`);
  if (res.status !== 200) throw new StepError('order list', res);
  const row = new RegExp(`href="/admin/orders/${number}"[\\s\\S]*?</tr>`).exec(res.body)?.[0];
  return row ? /class="state-badge"[^>]*>([^<]+)</.exec(row)?.[1] ?? '' : null;
}

async function ordersInStatistics(staff: Shopper): Promise<number> {
  const res = await staff.get('/admin/statistics?format=csv');
  if (res.status !== 200) throw new StepError('statistics', res);
  return res.body.trim().split('\n').slice(1).reduce((n, line) => n + Number(line.split(',')[4]), 0);
}

const health = async (port: number) => {
  const res = await get(port, '/healthz');
  return { http: res.status, ...JSON.parse(res.body) };
};
const pauseReplay = () => topo.replica!.sql('select pg_wal_replay_pause()');
const resumeReplay = async () => {
  await topo.replica!.sql('select pg_wal_replay_resume()');
  await replicaCaughtUp(topo.primary, topo.replica!);
};

describe('staff reads on a streaming replica', () => {
  let port: number;
  beforeAll(async () => { port = await startApp(60_000); });

  it('serves the order list and the statistics from the replica, while checkout writes to the primary', async () => {
    const staff = await idleStaff(port);
    const ordersBefore = await ordersInStatistics(staff);
    await pauseReplay();
    try {
      // Checkout works while the replica stands still: every step of it runs on the primary.
      const { shopper, number } = await checkout(port);
      expect((await shop.sql('select completed from orders where number = $1', [number]))[0]).toEqual({ completed: true });

      // The replica has not seen the order: the staff list and the statistics, read there, do not show it yet.
      expect(await listedState(staff, number)).toBeNull();
      expect(await ordersInStatistics(staff)).toBe(ordersBefore);
      // The customer who just ordered sees it in their order history (read-your-writes: their reads go to the primary).
      const history = await shopper.get('/customer-center?CC=Orders');
      expect(history.status).toBe(200);
      expect(history.body).toContain(number);
      expect(await health(port)).toMatchObject({ http: 200, ok: true, status: 'ok', replicas: [{ name: 'replica 1', state: 'up' }] });

      await resumeReplay();
      expect(await listedState(staff, number)).toBe('New');
      expect(await ordersInStatistics(staff)).toBe(ordersBefore + 1);
    } finally {
      await resumeReplay();
    }
  });

  it('shows a staff member their own state change on the page after it (read-your-writes), although the replica lags', async () => {
    const { number } = await checkout(port);
    await replicaCaughtUp(topo.primary, topo.replica!);
    const staff = await idleStaff(port);
    expect(await listedState(staff, number)).toBe('New');
    await pauseReplay();
    try {
      const [order] = await shop.sql<{ version: number; to: number }>(
        `select o.version, (select s.id from flow_states s where s.flow_id = cur.flow_id and s.name = 'Received') as to
         from orders o join flow_states cur on cur.id = o.state_id where o.number = $1`, [number]);
      await staff.refreshCsrf(`/admin/orders/${number}`);
      const changed = await staff.post(`/admin/orders/${number}/state`, { stateId: order.to, version: order.version });
      expect(changed.status).toBe(303);
      expect(staff.cookies.has(FRESH_READS_COOKIE)).toBe(true);

      // The list right after the change comes from the primary: the new state.
      expect(await listedState(staff, number)).toBe('Received');
      // Once the window is over (the cookie gone), the list is read from the still paused replica again.
      staff.cookies.delete(FRESH_READS_COOKIE);
      expect(await listedState(staff, number)).toBe('New');
    } finally {
      await resumeReplay();
    }
    expect(await listedState(staff, number)).toBe('Received');
  });

  it('skips a replica that lags more than REPLICA_MAX_LAG_MS: the primary serves and /healthz says degraded', async () => {
    const strictPort = await startApp(300);
    const staff = await idleStaff(strictPort);
    // The login and the test before wrote on the primary (commits the replica may not have replayed yet): a fair start.
    await replicaCaughtUp(topo.primary, topo.replica!);
    expect(await health(strictPort)).toMatchObject({ http: 200, status: 'ok', replicas: [{ state: 'up', lagMs: 0 }] });
    await pauseReplay();
    try {
      const { number } = await checkout(port);
      const lagging = await waitUntil('the replica to count as lagging', async () => {
        const h = await health(strictPort);
        return h.replicas[0].state === 'lagging' && h;
      }, 20_000, 100);
      expect(lagging).toMatchObject({ http: 200, ok: true, status: 'degraded', database: 'up' });
      expect(lagging.replicas[0].lagMs).toBeGreaterThan(300);
      // Too far behind for this app: the list comes from the primary and shows the order.
      expect(await listedState(staff, number)).toBe('New');
      // The app allowing a minute of lag still reads the paused replica.
      expect(await listedState(await idleStaff(port), number)).toBeNull();
    } finally {
      await resumeReplay();
    }
  });

  it('serves from the primary while the replica is down, reports it degraded, and uses it again when it is back', async () => {
    const staff = await idleStaff(port);
    await topo.replica!.stop('fast');
    try {
      const { number } = await checkout(port);
      expect(await listedState(staff, number)).toBe('New');
      const h = await health(port);
      expect(h).toMatchObject({ http: 200, ok: true, status: 'degraded', database: 'up', replicas: [{ name: 'replica 1', state: 'down', lagMs: null }] });
    } finally {
      await topo.replica!.start();
    }
    await waitUntil('the replica to be used again', async () => (await health(port)).replicas[0].state === 'up', 30_000, 200);
    // Reads go to the replica again: with its replay paused, an order placed now is missing from the list.
    await replicaCaughtUp(topo.primary, topo.replica!);
    await pauseReplay();
    try {
      const { number } = await checkout(port);
      expect(await listedState(staff, number)).toBeNull();
    } finally {
      await resumeReplay();
    }
  });
});
