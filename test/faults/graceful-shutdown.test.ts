/**
 * SIGTERM to a real app process in the middle of checkouts: it stops taking connections, lets the requests in flight
 * finish, stops the workers after their current job, closes its pools and exits 0. Every order is either complete
 * or was never placed (no half order, no stock held), and the receipt mails still queued are delivered after the
 * restart.
 */
import {
  type AppProcess, createDatabase, fillStock, findIncompleteOrders, findInvariantViolations, type MailCatcher, type ShopSetup, Shopper,
  shopSetup, spawnApp, startMailCatcher, stockFigures, type TestDatabase, walkCheckout, waitUntil,
} from '../load/helpers';

jest.setTimeout(180_000);

let db: TestDatabase;
let mail: MailCatcher;
let app: AppProcess;
let setup: ShopSetup;

beforeAll(async () => {
  db = await createDatabase(process.env.TEST_PG_SERVER_URL!, { prefix: 'fault_sigterm', template: process.env.TEST_TEMPLATE_DB });
  await fillStock(db, 10_000);
  mail = await startMailCatcher();
  app = await spawnApp({ name: 'app', databaseUrl: db.url, smtpUrl: mail.url });
  await app.waitHealthy(90_000);
  setup = await shopSetup(db);
});

afterAll(async () => {
  await app?.stop();
  await mail?.stop();
  await db?.drop();
});

describe('SIGTERM during checkouts', () => {
  it('finishes or never starts each order, exits 0, and delivers the queued receipts after the restart', async () => {
    const stockBefore = (await stockFigures(db)).inStock;
    const reviewed = new Set<string>();
    const confirmed = new Set<string>();
    let signalled = false;
    const shoppers = Array.from({ length: 4 }, () => new Shopper([app.port]));
    const walks = shoppers.map(async (s, i) => {
      for (let n = 0; !signalled || n === 0; n++) {
        try {
          await walkCheckout(s, setup, {
            items: [{ productId: setup.productIds[(i + n) % setup.productIds.length], quantity: 1 }], payment: n % 2 ? 'invoice' : 'card',
            onPlacing: (number) => {
              reviewed.add(number);
              // The first order being placed: the mail server goes away (receipts stay queued), then SIGTERM.
              if (!signalled && i === 0) {
                signalled = true;
                void mail.stop().then(() => app.kill('SIGTERM'));
              }
            },
            onConfirmed: (number) => confirmed.add(number),
          });
        } catch {
          if (signalled) return; // refused or cut off by the shutdown: fine, as long as the database is consistent
        }
      }
    });
    await Promise.all(walks);
    shoppers.forEach((s) => s.close());
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(app.output()).toContain('[shutdown] done');

    // Every order is complete or was never placed; confirmed ones are complete; no stock is held by anything else.
    const placed = (await db.sql<{ number: string }>(`select number from orders where completed and number = any($1)`, [[...reviewed]])).map((r) => r.number);
    for (const number of confirmed) expect(placed).toContain(number);
    expect(await findIncompleteOrders(db, placed)).toEqual([]);
    expect(await findInvariantViolations(db)).toEqual([]);
    const unplaced = await db.sql(`select number from orders where number = any($1) and not completed and (stock_reserved or payment_status <> 'none')`, [[...reviewed]]);
    expect(unplaced).toEqual([]);
    const [{ n: unitsPlaced }] = await db.sql<{ n: string }>(
      `select coalesce(sum(l.quantity), 0) as n from order_lines l join orders o on o.id = l.order_id where o.completed and o.number = any($1)`, [placed]);
    expect(stockBefore - (await stockFigures(db)).inStock).toBe(Number(unitsPlaced));

    // The receipts queued while the mail server was away go out after the restart.
    const queued = await db.sql<{ subject: string }>(`select subject from outbox_messages where status = 'queued'`);
    expect(queued.length).toBeGreaterThan(0);
    await mail.start();
    app = await spawnApp({ name: 'restarted', databaseUrl: db.url, smtpUrl: mail.url });
    await app.waitHealthy(90_000);
    await waitUntil('every queued mail delivered', async () => {
      const received = new Set(mail.received.map((m) => m.subject));
      return queued.every((q) => received.has(q.subject));
    }, 60_000, 200);
    for (const number of placed) expect(mail.received.map((m) => m.subject)).toContain(`Order confirmation ${number}`);
  });
});
