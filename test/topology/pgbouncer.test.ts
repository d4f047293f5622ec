/**
 * The app behind PgBouncer in transaction pooling (test/topology/servers.ts): two real app processes
 * (`node --import tsx src/server.ts`) whose every connection — ORM pool, session store, start-up lock — goes through
 * PgBouncer, started at the same moment on an empty database. A lean version of `npm run test:load`'s
 * two-processes test: a few shoppers walk whole checkouts across both processes, then staff move an order through
 * its flow up to the state that mails the customer.
 *
 * In transaction pooling consecutive transactions of one client may run on different server connections, so any
 * session state (a session-level advisory lock, SET, a named prepared statement, LISTEN) would leak to other
 * clients or get lost; the start-up lock is therefore transaction-level (src/db/database.ts).
 */
import {
  type AppProcess, createDatabase, findIncompleteOrders, findInvariantViolations, freePort, type MailCatcher, outboxCounts, type ShopSetup,
  Shopper, shopSetup, spawnApp, startMailCatcher, stockFigures, StepError, type TestDatabase, waitUntil, walkCheckout, withDb,
} from '../load/helpers';
import pg from 'pg';
import { startTopology, type Topology } from './servers';
import { DEMO_USERS } from '../../src/db/seed';

jest.setTimeout(180_000);

const CLIENTS = 3;
const ORDERS_PER_CLIENT = 2;

let topo: Topology;
let db: TestDatabase;
let mail: MailCatcher;
let apps: AppProcess[] = [];
let setup: ShopSetup;
const timings: string[] = [];

beforeAll(async () => {
  let t = Date.now();
  topo = await startTopology({ bouncer: true });
  timings.push(`primary + pgbouncer ${Date.now() - t} ms`);
  db = await createDatabase(topo.primary.url(), { prefix: 'bouncer' }); // empty: the app processes migrate and seed it
  mail = await startMailCatcher();
  const viaBouncer = withDb(topo.bouncer!.url(), db.name);
  t = Date.now();
  const [portA, portB] = [await freePort(), await freePort()];
  apps = await Promise.all([
    // Transaction pooling hands each transaction any server connection: nothing may be PREPAREd (README, PgBouncer).
    ...[{ name: 'A', port: portA }, { name: 'B', port: portB }].map((app) =>
      spawnApp({ ...app, databaseUrl: viaBouncer, smtpUrl: mail.url, env: { DATABASE_PREPARED_STATEMENTS: 'false' } })),
  ]);
  await Promise.all(apps.map((a) => a.waitHealthy(120_000)));
  timings.push(`two processes healthy ${Date.now() - t} ms`);
  await db.sql('update stock_levels set quantity = 10000');
  setup = await shopSetup(db);
});

afterAll(async () => {
  await Promise.all(apps.map((a) => a.stop()));
  await mail?.stop();
  await db?.drop().catch(() => undefined);
  await topo?.destroy();
  console.log(`pgbouncer topology: ${timings.join(', ')}`);
});

it('two processes behind PgBouncer migrate and seed an empty database once, with the statement timeout set', async () => {
  expect(await db.sql(`select name from mikro_orm_migrations group by name having count(*) > 1`)).toEqual([]);
  expect(await db.sql(`select type, name from flows group by type, name having count(*) > 1`)).toEqual([]);
  expect(await db.sql(`select count(*)::int as n from users`)).toEqual([{ n: DEMO_USERS.length }]); // seeded once
  // The app's statement timeout reaches the server through PgBouncer's connect_query, not a startup parameter.
  const client = new pg.Client({ connectionString: withDb(topo.bouncer!.url(), db.name), statement_timeout: 5000 });
  await client.connect();
  try {
    expect((await client.query('show statement_timeout')).rows).toEqual([{ statement_timeout: '15s' }]);
  } finally {
    await client.end();
  }
});

it('serves whole checkouts across both processes through PgBouncer: sessions, one basket per user, every order complete', async () => {
  const [A, B] = apps;
  const before = await stockFigures(db);
  const confirmed: string[] = [];
  await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    const s = new Shopper([A.port, B.port]);
    const email = `bouncer${i}-${Date.now().toString(36)}@example.test`;
    try {
      await s.refreshCsrf('/', A.port);
      await s.register(email, `Bouncer Client ${i}`, 'bouncer-pass-1', B.port);
      for (let n = 0; n < ORDERS_PER_CLIENT; n++) {
        // Two adds at once, one per process: they race to create the basket.
        const adds = await Promise.all([A.port, B.port].map((port, k) => s.post('/cart/add', { productId: setup.productIds[(i + n + k) % setup.productIds.length], quantity: 1 }, { port })));
        for (const r of adds) if (r.status !== 303) throw new StepError('concurrent add', r);
        const basket = await s.get('/cart', { port: n % 2 ? A.port : B.port });
        expect(basket.body).toContain('Logged in as');
        expect(/data-testid="mini-cart-count">(\d+)</.exec(basket.body)?.[1]).toBe('2');
        await walkCheckout(s, setup, { items: [], payment: n % 2 ? 'card' : 'invoice', email, onConfirmed: (number) => confirmed.push(number) });
      }
    } finally {
      s.close();
    }
  }));
  expect(confirmed).toHaveLength(CLIENTS * ORDERS_PER_CLIENT);
  await waitUntil('the receipts to be mailed', async () => (await outboxCounts(db)).queued === 0, 30_000, 200);
  expect(await findIncompleteOrders(db, confirmed)).toEqual([]);
  expect(await findInvariantViolations(db)).toEqual([]);
  const after = await stockFigures(db);
  expect(before.inStock - after.inStock).toBe(after.onCompletedOrders - before.onCompletedOrders);
  const [{ users, baskets }] = await db.sql(`select count(distinct u.id)::int as users, count(o.id)::int as baskets from users u left join orders o on o.user_id = u.id and o.basket_status = 'basket' and not o.deleted where u.email like 'bouncer%'`);
  expect({ users, baskets: baskets <= users }).toEqual({ users: CLIENTS, baskets: true });
  const subjects = mail.received.map((m) => m.subject);
  for (const number of confirmed) expect(subjects.filter((x) => x === `Order confirmation ${number}`)).toHaveLength(1);
});

it('lets staff move an order through its flow through PgBouncer, with history and the customer mail', async () => {
  const [A, B] = apps;
  const shopper = new Shopper([A.port]);
  await shopper.login('shopper@orderflow.test', 'shopper-pass-1');
  const { number } = await walkCheckout(shopper, setup, { items: [{ productId: setup.productIds[0], quantity: 2 }], payment: 'invoice' });
  shopper.close();
  const staff = new Shopper([A.port, B.port]);
  await staff.login('admin@orderflow.test', 'admin-pass-1', A.port);
  try {
    for (const target of ['Received', 'Picked', 'Shipped']) {
      const [order] = await db.sql<{ version: number; to: number }>(
        `select o.version, (select s.id from flow_states s where s.flow_id = cur.flow_id and s.name = $2) as to
         from orders o join flow_states cur on cur.id = o.state_id where o.number = $1`, [number, target]);
      const port = staff.nextPort(); // the staff session works on both processes
      await staff.refreshCsrf(`/admin/orders/${number}`, port);
      const res = await staff.post(`/admin/orders/${number}/state`, { stateId: order.to, version: order.version }, { port });
      if (res.status !== 303) throw new StepError(`state → ${target}`, res);
    }
  } finally {
    staff.close();
  }
  const history = await db.sql(`select t.name from order_state_history h join flow_states t on t.id = h.to_state_id join orders o on o.id = h.order_id where o.number = $1 order by h.id`, [number]);
  expect(history.map((h) => h.name)).toEqual(expect.arrayContaining(['Received', 'Picked', 'Shipped']));
  await waitUntil('the shipped mail', () => mail.received.some((m) => m.subject === `Your order ${number} has been shipped`), 20_000, 200);
  expect(apps.every((a) => a.alive())).toBe(true);
  expect(apps.map((a) => a.output()).join('\n')).not.toMatch(/prepared statement|advisory|\[process\] (uncaught|unhandled)/i);
});
