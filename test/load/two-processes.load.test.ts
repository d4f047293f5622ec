/**
 * Two app processes on two ports against one database, under mixed load from browser-like clients that send each
 * request to the other process in turn (one cookie jar, so one session across both).
 *
 * Both processes start at the same moment on an empty database: migrations and the seed run once (an advisory
 * lock in src/db/database.ts makes the second wait). Each client registers its own account (its guest basket is
 * merged at that login), then loops: two adds at the same moment, one to each process (on a fresh account or after
 * an order, that races to create the basket), the basket seen from the other process, another add, the checkout
 * across both processes, the receipt; now and then a log-out and a log-in on the other process.
 * Checks: sessions hold on both processes, at most one basket per user, no duplicate order numbers, every confirmed
 * order complete, stock taken = units sold, every receipt mailed once by the two mail workers.
 * LOAD_CLIENTS (12) clients for LOAD_SECONDS (30) seconds.
 */
import {
  type AppProcess, createDatabase, envInt, fillStock, findIncompleteOrders, findInvariantViolations, freePort, type MailCatcher,
  outboxCounts, printSummary, rng, type ShopSetup, Shopper, shopSetup, spawnApp, startMailCatcher, stockFigures, StepError,
  Tally, type TestDatabase, waitUntil, walkCheckout,
} from './helpers';

const CLIENTS = envInt('LOAD_CLIENTS', 12);
const SECONDS = envInt('LOAD_SECONDS', 30);
const STOCK = 1_000_000;

let db: TestDatabase;
let mail: MailCatcher;
let apps: AppProcess[] = [];
let setup: ShopSetup;
let startupMs = 0;

beforeAll(async () => {
  db = await createDatabase(process.env.TEST_PG_SERVER_URL!, { prefix: 'load_two' }); // empty: both processes migrate and seed it
  mail = await startMailCatcher();
  const [portA, portB] = [await freePort(), await freePort()];
  const started = Date.now();
  apps = await Promise.all([
    spawnApp({ name: 'A', databaseUrl: db.url, smtpUrl: mail.url, port: portA }),
    spawnApp({ name: 'B', databaseUrl: db.url, smtpUrl: mail.url, port: portB }),
  ]);
  await Promise.all(apps.map((a) => a.waitHealthy(120_000)));
  startupMs = Date.now() - started;
  await fillStock(db, STOCK);
  setup = await shopSetup(db);
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await mail?.stop();
  await db?.drop();
});

const miniCart = (body: string) => Number(/data-testid="mini-cart-count">(\d+)</.exec(body)?.[1] ?? NaN);

it('serves one shop from two processes: shared sessions, one basket per user, no duplicate orders', async () => {
  // Started together on an empty database: every migration applied once, the demo shop seeded once.
  const dupMigrations = await db.sql(`select name from mikro_orm_migrations group by name having count(*) > 1`);
  const dupFlows = await db.sql(`select type, name from flows group by type, name having count(*) > 1`);
  const [{ n: demoUsers }] = await db.sql<{ n: string }>(`select count(*) as n from users`);
  expect(dupMigrations).toEqual([]);
  expect(dupFlows).toEqual([]);
  expect(Number(demoUsers)).toBe(5); // the demo's five logins (shopper, two buyers, administrator, order clerk), seeded once

  const [A, B] = apps;
  const before = await stockFigures(db);
  const confirmed = new Set<string>();
  const placedOn = new Map<number, number>();
  const tally = new Tally();
  let pagesChecked = 0;
  let sessionLost = 0;
  let basketNotSeen = 0;
  const notSeenSamples: string[] = [];
  const started = Date.now();
  const deadline = started + SECONDS * 1000;

  const clients = Array.from({ length: CLIENTS }, async (_, i) => {
    const random = rng(7000 + i);
    const s = new Shopper([A.port, B.port]);
    const email = `load${i}-${Date.now().toString(36)}@example.test`;
    const password = 'load-test-pass-1';
    const pick = () => setup.productIds[Math.floor(random() * setup.productIds.length)];
    let expected = 0; // items this client believes are in its basket
    /** A page from the given process must show this user logged in and the basket as the client knows it. */
    const look = async (port: number, what: string) => {
      const res = await s.get('/cart', { port });
      if (res.status !== 200) throw new StepError(`${what} (basket page)`, res);
      pagesChecked++;
      if (!res.body.includes('Logged in as')) sessionLost++;
      if (miniCart(res.body) !== expected) {
        basketNotSeen++;
        if (notSeenSamples.length < 3) notSeenSamples.push(`${what} on port ${port}: shows ${miniCart(res.body)}, expected ${expected}`);
        expected = miniCart(res.body); // carry on from what the shop says
      }
    };
    const add = async (port: number) => {
      const res = await s.post('/cart/add', { productId: pick(), quantity: 1 }, { port });
      if (res.status !== 303) throw new StepError('add', res);
      expected++;
    };

    try {
      // A guest basket on one process, registered (and merged) on the other.
      await s.refreshCsrf('/', A.port);
      await add(A.port);
      await s.register(email, `Load Client ${i}`, password, B.port);
      await look(A.port, 'after register');
    } catch (e) {
      tally.failure(e);
      s.close();
      return;
    }
    while (Date.now() < deadline) {
      try {
        // Two adds at once, one per process: they race to create the basket when there is none.
        const [x, y] = await Promise.all([
          s.post('/cart/add', { productId: pick(), quantity: 1 }, { port: A.port }),
          s.post('/cart/add', { productId: pick(), quantity: 1 }, { port: B.port }),
        ]);
        for (const r of [x, y]) {
          if (r.status !== 303) throw new StepError('concurrent add', r);
          expected++;
        }
        await look(B.port, 'after the concurrent adds');
        const port = s.nextPort();
        await add(port);
        await look(port === A.port ? B.port : A.port, 'after an add on the other process');
        const before = confirmed.size;
        await walkCheckout(s, setup, {
          items: [], payment: random() < 0.5 ? 'card' : 'invoice', email,
          onConfirmed: (n, port) => { confirmed.add(n); placedOn.set(port, (placedOn.get(port) ?? 0) + 1); },
        });
        if (confirmed.size > before) tally.add('orders confirmed');
        expected = 0;
        await look(s.nextPort(), 'after the order');
        if (random() < 0.25) {
          // Log out on one process, log in on the other: a new session, valid on both.
          const out = await s.post('/logout', {});
          if (out.status !== 303) throw new StepError('logout', out);
          await s.login(email, password);
          await look(s.nextPort(), 'after logging in again');
        }
      } catch (e) {
        tally.failure(e);
        await s.refreshCsrf('/').catch(() => undefined);
        expected = NaN; // unknown now: the next look takes the shop's count
      }
    }
    s.close();
  });
  await Promise.all(clients);
  const seconds = (Date.now() - started) / 1000;

  await waitUntil('the outbox to drain', async () => (await outboxCounts(db)).queued === 0, 120_000, 500);
  const outbox = await outboxCounts(db);
  const incomplete = await findIncompleteOrders(db, [...confirmed]);
  const violations = await findInvariantViolations(db);
  const after = await stockFigures(db);
  const [{ n: sessions }] = await db.sql<{ n: string }>(`select count(*) as n from session`);
  const [{ users, baskets }] = await db.sql(`select count(distinct u.id) as users, count(o.id) as baskets from users u left join orders o on o.user_id = u.id and o.basket_status = 'basket' and not o.deleted where u.email like 'load%'`);
  const deliveries = new Map<string, number>();
  for (const m of mail.received) deliveries.set(m.outboxId, (deliveries.get(m.outboxId) ?? 0) + 1);
  const duplicates = [...deliveries.values()].filter((n) => n > 1).length;
  const subjects = new Set(mail.received.map((m) => m.subject));
  const missingMail = [...confirmed].filter((n) => !subjects.has(`Order confirmation ${n}`));

  printSummary('two app processes, one database', {
    'clients / seconds': `${CLIENTS} / ${seconds.toFixed(1)} s`,
    'both processes started at once, healthy after': `${(startupMs / 1000).toFixed(1)} s (migrations and seed ran once)`,
    'orders confirmed (checkout across both)': `${confirmed.size} (${(confirmed.size / seconds).toFixed(2)} orders/s); placed on A ${placedOn.get(A.port) ?? 0}, on B ${placedOn.get(B.port) ?? 0}`,
    'pages checked / session lost / basket not seen on the other process': `${pagesChecked} / ${sessionLost} / ${basketNotSeen}${notSeenSamples.length ? ` (${notSeenSamples.join('; ')})` : ''}`,
    'users / baskets now (at most one each)': `${users} / ${baskets}`,
    'duplicate order numbers, invariant violations': violations.length,
    'confirmed orders incomplete': incomplete.length,
    'units taken from stock / on completed orders': `${before.inStock - after.inStock} / ${after.onCompletedOrders - before.onCompletedOrders}`,
    'outbox': `${outbox.sent} sent, ${outbox.queued} queued, ${outbox.failed} failed; mails delivered twice: ${duplicates}`,
    'session rows': Number(sessions),
    'client outcomes': tally.toString(),
  });

  expect(apps.every((a) => a.alive())).toBe(true);
  expect(confirmed.size).toBeGreaterThan(0);
  expect(pagesChecked).toBeGreaterThan(0);
  expect(sessionLost).toBe(0);
  expect(notSeenSamples).toEqual([]);
  expect(violations).toEqual([]);
  expect(incomplete).toEqual([]);
  expect(before.inStock - after.inStock).toBe(after.onCompletedOrders - before.onCompletedOrders);
  expect(missingMail).toEqual([]);
  expect(duplicates).toBe(0);
  // Every step answered as a browser expects: no conflicts between the processes, no 5xx.
  expect([...tally.counts.keys()].filter((k) => k !== 'orders confirmed')).toEqual([]);
});
