/**
 * PostgreSQL restarted under a running app: meanwhile every page answers 503 with the "briefly unavailable" page
 * (JSON for the API), the process stays up, and when PostgreSQL is back the same process serves pages, sessions
 * and a whole checkout again, and its mail worker sends what waited — without a restart.
 *
 * Runs the real server (`node --import tsx src/server.ts`) against a PostgreSQL of its own that this test stops
 * and starts (test/load/helpers.ts), so "does not crash" is the process's exit status, not a jest handler.
 */
import {
  type AppProcess, createDatabase, get, type MailCatcher, type PostgresServer, type ShopSetup, Shopper, shopSetup, sleep, spawnApp,
  startMailCatcher, startPostgresServer, Tally, type TestDatabase, walkCheckout, waitUntil,
} from '../load/helpers';

jest.setTimeout(120_000);

let pgServer: PostgresServer;
let db: TestDatabase;
let mail: MailCatcher;
let app: AppProcess;
let setup: ShopSetup;
const phases: string[] = [];

beforeAll(async () => {
  const started = Date.now();
  pgServer = await startPostgresServer();
  await pgServer.start();
  phases.push(`PostgreSQL up ${Date.now() - started} ms`);
  db = await createDatabase(pgServer.url, { prefix: 'fault_restart' }); // empty: the server migrates and seeds it
  mail = await startMailCatcher();
  // Short timeouts, so the stall below is answered within seconds.
  app = await spawnApp({ name: 'app', databaseUrl: db.url, smtpUrl: mail.url, env: { STATEMENT_TIMEOUT_MS: '1500', POOL_ACQUIRE_TIMEOUT_MS: '1500' } });
  phases.push(`app healthy (migrated, seeded) ${await app.waitHealthy(60_000)} ms later`);
  setup = await shopSetup(db);
  await db.sql('update stock_levels set quantity = 100000');
});

afterAll(async () => {
  await app?.stop();
  await mail?.stop();
  await db?.drop().catch(() => undefined);
  await pgServer?.destroy();
});

const UNAVAILABLE = "We're briefly unavailable";

describe('PostgreSQL restarted while the app serves requests', () => {
  it('answers 503 with a clear page meanwhile, never crashes, and works again by itself', async () => {
    // A logged-in shopper with something in the basket: the session and the basket live in the database.
    const shopper = new Shopper([app.port]);
    await shopper.login('shopper@orderflow.test', 'shopper-pass-1');
    expect((await shopper.post('/cart/add', { productId: setup.productIds[0], quantity: 1 })).status).toBe(303);

    // Background traffic through the whole outage: pages, the basket, adding to it.
    const traffic = new Tally();
    let stopTraffic = false;
    const ready: Promise<unknown>[] = [];
    const clients = Array.from({ length: 4 }, async (_, i) => {
      const s = new Shopper([app.port]);
      const first = s.refreshCsrf('/');
      ready.push(first);
      await first;
      for (let n = 0; !stopTraffic; n++) {
        try {
          const res = n % 3 === 0 ? await s.post('/cart/add', { productId: setup.productIds[(i + n) % setup.productIds.length], quantity: 1 })
            : await s.get(n % 3 === 1 ? '/cart' : '/products/P-1013');
          traffic.add(String(res.status), res.status >= 500 && res.status !== 503 ? res.body.slice(0, 300) : undefined);
          if (res.status === 403) await s.refreshCsrf('/').catch(() => undefined);
        } catch (e) {
          traffic.failure(e); // a connection error would mean the server is gone
        }
        await sleep(20);
      }
      s.close();
    });
    await Promise.all(ready); // every client has its first page before the outage (a slow machine must not race it)
    await sleep(1000);

    // PostgreSQL goes down (fast shutdown: open connections are terminated with 57P01).
    await pgServer.stop();
    const downAt = Date.now();

    const page = await shopper.get('/');
    expect(page.status).toBe(503);
    expect(page.headers['retry-after']).toBe('30');
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).toContain(UNAVAILABLE);
    expect(page.body).toContain('try again in a minute');
    const basket = await shopper.get('/cart');
    expect(basket.status).toBe(503);
    expect(basket.body).toContain(UNAVAILABLE);
    const add = await shopper.post('/cart/add', { productId: setup.productIds[1], quantity: 1 });
    expect(add.status).toBe(503);
    const anonymous = await get(app.port, '/cart', { accept: 'text/html', cookie: 'basket=00000000-0000-4000-8000-000000000000' });
    expect(anonymous.status).toBe(503);
    expect(anonymous.body).toContain(UNAVAILABLE);
    const api = await get(app.port, '/api/v1/orders', { accept: 'application/json', authorization: `Bearer of_live_${'a'.repeat(43)}` });
    expect(api.status).toBe(503);
    expect(JSON.parse(api.body)).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    const health = await get(app.port, '/healthz');
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body)).toMatchObject({ ok: false, database: 'down' });

    // Down a few seconds under traffic, with the mail, export and recurring workers ticking every 200 ms.
    await sleep(2500);
    expect(app.alive()).toBe(true);

    await pgServer.start();
    const upAt = Date.now();
    await app.waitHealthy(30_000);
    const recoveredMs = Date.now() - upAt;

    // The same process, the same session: the basket from before, then a whole checkout with its receipt mail.
    const cart = await shopper.get('/cart');
    expect(cart.status).toBe(200);
    expect(cart.body).toContain('Logged in as Sam Shopper');
    const number = (await walkCheckout(shopper, setup, { items: [{ productId: setup.productIds[2], quantity: 1 }], payment: 'card' })).number!;
    await waitUntil(`the receipt mail of ${number}`, () => mail.received.some((m) => m.subject === `Order confirmation ${number}`), 20_000);
    const [order] = await db.sql(`select completed, (select count(*) from order_lines l where l.order_id = o.id) as lines from orders o where number = $1`, [number]);
    expect(order).toMatchObject({ completed: true, lines: '2' }); // the line added before the outage, and this one

    // A new visitor too (a new session is stored), then the traffic stops.
    const newcomer = new Shopper([app.port]);
    expect((await newcomer.refreshCsrf('/')).status).toBe(200);
    newcomer.close();
    await sleep(500);
    stopTraffic = true;
    await Promise.all(clients);
    shopper.close();

    console.log(`database restart (${phases.join(', ')}): down ${((upAt - downAt) / 1000).toFixed(1)} s, healthy again ${recoveredMs} ms after PostgreSQL accepted connections; background answers: ${traffic}`);
    expect(app.alive()).toBe(true);
    // Only 2xx/3xx/4xx answers and 503s: no 500 (an unmapped database error) and no dropped connection.
    const unexpected = [...traffic.counts.keys()].filter((k) => !/^(2|3|4)\d\d$/.test(k) && k !== '503');
    expect({ unexpected, samples: unexpected.map((k) => traffic.samples.get(k)) }).toEqual({ unexpected: [], samples: [] });
    expect(traffic.get('503')).toBeGreaterThan(0);
    expect(traffic.get('200')).toBeGreaterThan(0);
    // The workers said once that the database was gone and once that it was back, instead of a stack trace per tick.
    expect(app.output()).toMatch(/\[mail\] database unreachable/);
    expect(app.output()).toMatch(/\[mail\] database reachable again/);
    expect(app.output()).not.toMatch(/\[process\] (uncaught exception|unhandled rejection)/);
  });

  it('answers 503 within the timeouts while PostgreSQL is frozen (SIGSTOP), instead of hanging, and recovers', async () => {
    const shopper = new Shopper([app.port]);
    await shopper.login('shopper@orderflow.test', 'shopper-pass-1');
    expect((await shopper.get('/cart')).status).toBe(200); // pooled connections are open
    const pids = pgServer.pids();
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      // Every answer arrives while the server is still frozen (the client gives up only after 60 s).
      const [page, basket, health] = await Promise.all([shopper.get('/'), shopper.get('/cart'), get(app.port, '/healthz')]);
      expect(page.status).toBe(503);
      expect(basket.status).toBe(503);
      expect(basket.body).toContain(UNAVAILABLE);
      expect(health.status).toBe(503);
      const anonymous = await get(app.port, '/products/P-1013', { accept: 'text/html', cookie: 'basket=00000000-0000-4000-8000-000000000000' });
      expect(anonymous.status).toBe(503);
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    await app.waitHealthy(30_000);
    expect((await shopper.get('/cart')).status).toBe(200);
    expect(app.alive()).toBe(true);
    shopper.close();
  });
});
