/**
 * kill -9 during checkout load, then a restart: nothing a client was told is lost, and nothing is half done.
 *
 * The card gateway answers after GATEWAY_LATENCY_MS (150); the first kill waits until an order's card is authorized
 * at the gateway but the order is not confirmed yet (between authorize and confirm), later kills hit at random. The
 * killed attempt's reservation expires (STOCK_RESERVATION_SECONDS=3 here), gives its stock back, and its
 * authorization is voided: afterwards no authorization is held without a completed order.
 *
 * Clients (guests) walk the checkout in a loop against one real app process; it is killed with SIGKILL mid-load
 * (KILLS times, default 2: each once checkouts flow, at least KILL_AFTER_SECONDS (8) after the last start, plus 0–3 s
 * at random) and started again on the same port.
 * Every order a client saw confirmed (the 303 to /checkout/receipt/<n>) must exist completely afterwards: completed,
 * its lines, totals that are the pricing of its lines, the payment authorization, its receipt in the outbox (and
 * delivered) and its export job. Stock taken must equal the units on completed orders exactly: a request killed
 * mid-transaction holds no stock (PostgreSQL rolled it back). LOAD_CLIENTS (12) clients.
 */
import {
  type AppProcess, createDatabase, envInt, fillStock, findIncompleteOrders, findInvariantViolations, freePort, type MailCatcher,
  outboxCounts, printSummary, randomItems, rng, type ShopSetup, Shopper, shopSetup, sleep, spawnApp, startMailCatcher,
  stockFigures, StepError, Tally, type TestDatabase, waitForSettledAttempts, waitUntil, walkCheckout,
} from './helpers';

const CLIENTS = envInt('LOAD_CLIENTS', 12);
const KILLS = envInt('KILLS', 2);
const KILL_AFTER_SECONDS = envInt('KILL_AFTER_SECONDS', 8);
const STOCK = 1_000_000;
const GATEWAY_LATENCY_MS = envInt('GATEWAY_LATENCY_MS', 150);

let db: TestDatabase;
let mail: MailCatcher;
let app: AppProcess;
let setup: ShopSetup;
let port: number;
const spawn = () => spawnApp({
  name: 'app', databaseUrl: db.url, smtpUrl: mail.url, port,
  env: { SANDBOX_GATEWAY_LATENCY_MS: String(GATEWAY_LATENCY_MS), STOCK_RESERVATION_SECONDS: '3' },
});

/** Payment attempts the gateway has authorized that are not confirmed yet: a kill now lands between authorize and confirm. */
async function authorizedUnconfirmed(): Promise<number> {
  const [{ n }] = await db.sql<{ n: string }>(`select count(*) as n from payment_attempts a
    join sandbox_payments s on s.attempt_key = 'attempt-' || a.id and s.status = 'authorized' where a.status = 'reserved'`);
  return Number(n);
}

beforeAll(async () => {
  db = await createDatabase(process.env.TEST_PG_SERVER_URL!, { prefix: 'load_kill', template: process.env.TEST_TEMPLATE_DB });
  await fillStock(db, STOCK);
  setup = await shopSetup(db);
  mail = await startMailCatcher();
  port = await freePort();
  app = await spawn();
  await app.waitHealthy();
});

afterAll(async () => {
  await app?.stop();
  await mail?.stop();
  await db?.drop();
});

it('keeps every confirmed order complete and holds no stock for a killed request', async () => {
  const started = Date.now();
  const before = await stockFigures(db);
  const confirmed = new Set<string>();
  const tally = new Tally();
  let placeCutOff = 0; // place requests that got no answer: the order may or may not have been placed
  let stop = false;
  let nextPlacing: (() => void) | undefined;
  const stuckGuests = new Set<number>();
  let killedInWindow = 0;

  const clients = Array.from({ length: CLIENTS }, async (_, i) => {
    const random = rng(1000 + i);
    const s = new Shopper([port]);
    while (!stop) {
      try {
        if (!s.csrf) await s.refreshCsrf('/');
        await walkCheckout(s, setup, { items: randomItems(setup, random), payment: random() < 0.5 ? 'card' : 'invoice', onPlacing: () => nextPlacing?.(), onConfirmed: (n) => confirmed.add(n) });
        tally.add('orders confirmed');
      } catch (e) {
        tally.failure(e);
        if (e instanceof StepError && !e.res) {
          if (e.step === 'place') placeCutOff++;
          await sleep(100); // the server is down: a browser would not retry faster either
        }
        if (e instanceof StepError && e.step === 'csrf') s.csrf = '';
        if (e instanceof StepError && e.step === 'add' && e.res?.status === 409 && /could not be created/.test(e.res.body)) {
          // The kill swallowed this guest's place answer, so the browser still has the basket cookie of the order it
          // placed, and a new basket cannot be made under that token (orders.anonymous_token is unique). Reported in
          // the summary; the client then drops the cookie, as a user clearing cookies would, to go on shopping.
          stuckGuests.add(i);
          s.cookies.delete('basket');
        }
      }
    }
    s.close();
  });

  // Kill only once checkouts are flowing (on a busy machine the first ones take a while), at a random moment.
  const flowing = async (what: string) => {
    const from = confirmed.size;
    const since = Date.now();
    await waitUntil(what, () => confirmed.size - from >= Math.ceil(CLIENTS / 2) && Date.now() - since >= KILL_AFTER_SECONDS * 1000, 300_000, 100);
  };
  const outages: number[] = [];
  for (let k = 0; k < KILLS; k++) {
    await flowing(`checkouts before kill #${k + 1}`);
    // Kill while an order is being placed. The first time between the gateway's authorization and the confirming
    // commit; later 0–(latency + 40) ms after a place request went out (before, during or after its commit).
    await new Promise<void>((resolve) => { nextPlacing = resolve; });
    nextPlacing = undefined;
    if (k === 0) await waitUntil('an authorized, unconfirmed payment', async () => (await authorizedUnconfirmed()) > 0, 30_000, 5);
    else await sleep(Math.random() * (GATEWAY_LATENCY_MS + 40));
    const inWindow = await authorizedUnconfirmed();
    if (k === 0) killedInWindow = inWindow;
    const confirmedBefore = confirmed.size;
    app.kill('SIGKILL');
    const { signal } = await app.exited;
    expect(signal).toBe('SIGKILL');
    const killedAt = Date.now();
    await sleep(1000);
    app = await spawn();
    await app.waitHealthy();
    outages.push(Date.now() - killedAt);
    console.log(`kill -9 #${k + 1}: ${confirmedBefore} orders confirmed before it; serving again after ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
  }
  await flowing('checkouts after the last restart'); // including the ones the kill interrupted
  stop = true;
  await Promise.all(clients);
  const loadSeconds = (Date.now() - started) / 1000;

  // The killed attempts' reservations expire; the restarted process's expiry job gives their stock back and voids them.
  await waitForSettledAttempts(db);
  const [{ n: voided }] = await db.sql<{ n: string }>(`select count(*) as n from payment_attempts a
    join sandbox_payments s on s.attempt_key = 'attempt-' || a.id and s.status = 'voided' where a.status = 'released'`);
  // The receipts were queued with the orders; the restarted process's worker sends them.
  await waitUntil('the outbox to drain', async () => (await outboxCounts(db)).queued === 0, 120_000, 500);
  const outbox = await outboxCounts(db);

  const incomplete = await findIncompleteOrders(db, [...confirmed]);
  const violations = await findInvariantViolations(db);
  const after = await stockFigures(db);
  const taken = before.inStock - after.inStock;
  const sold = after.onCompletedOrders - before.onCompletedOrders;
  const [{ n: completed }] = await db.sql<{ n: string }>(`select count(*) as n from orders where completed`);
  const [{ n: abandoned }] = await db.sql<{ n: string }>(`select count(*) as n from orders where type = 'order' and not completed`);
  const subjects = new Map<string, number>();
  for (const m of mail.received) subjects.set(m.subject, (subjects.get(m.subject) ?? 0) + 1);
  const missingMail = [...confirmed].filter((n) => !subjects.has(`Order confirmation ${n}`));
  const deliveries = new Map<string, number>();
  for (const m of mail.received) deliveries.set(m.outboxId, (deliveries.get(m.outboxId) ?? 0) + 1);
  const duplicates = [...deliveries].filter(([, n]) => n > 1).map(([id]) => id);

  printSummary('kill -9 during checkout load', {
    'clients / kills': `${CLIENTS} / ${KILLS}`,
    'load time': `${loadSeconds.toFixed(1)} s`,
    'time to serve again after kill -9': outages.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', '),
    'orders confirmed to clients': confirmed.size,
    'completed orders in the database': Number(completed),
    'place requests cut off by the kill': `${placeCutOff} (their orders: placed or not, never half)`,
    'authorized, unconfirmed when killed (kill #1)': killedInWindow,
    'authorizations voided after their reservation expired': Number(voided),
    'checkouts left unplaced (order numbers taken)': Number(abandoned),
    'guests stuck on "basket could not be created" (409)': `${stuckGuests.size}${stuckGuests.size ? ' (basket cookie of an order placed while its answer was lost; see the comment in the test)' : ''}`,
    'confirmed orders incomplete': incomplete.length,
    'units taken from stock / on completed orders': `${taken} / ${sold}`,
    'outbox': `${outbox.sent} sent, ${outbox.queued} queued, ${outbox.failed} failed`,
    'receipt mails missing': missingMail.length,
    'mails delivered twice (same outbox id)': duplicates.length
      ? `${duplicates.length} (outbox ${duplicates.join(', ')}): sent, then the process was killed before the "sent" mark committed; the restarted worker sent it again (at least once)`
      : 0,
    'client outcomes': tally.toString(),
  });

  expect(confirmed.size).toBeGreaterThan(0);
  expect(killedInWindow).toBeGreaterThan(0);
  expect(Number(voided)).toBeGreaterThan(0);
  expect(incomplete).toEqual([]);
  expect(violations).toEqual([]);
  expect(taken).toBe(sold);
  // Orders placed whose answer the kill swallowed are complete too; there can be no more of them than cut-off requests.
  expect(Number(completed) - confirmed.size).toBeGreaterThanOrEqual(0);
  expect(Number(completed) - confirmed.size).toBeLessThanOrEqual(placeCutOff);
  expect(missingMail).toEqual([]);
  expect(outbox.failed).toBe(0);
});
