/**
 * The SMTP server down for a minute under checkout load, then back on the same port: checkouts go on meanwhile
 * (the receipt waits in the transactional outbox), and afterwards every receipt is delivered — none lost, none
 * given up. Mails delivered twice (the same X-Outbox-Id) are counted and explained.
 *
 * One real app process (mail worker every 200 ms); LOAD_CLIENTS (8) guests check out in a loop. The SMTP server
 * stops once checkouts flow, for SMTP_DOWN_SECONDS (60), then listens again on the same port.
 */
import {
  type AppProcess, createDatabase, envInt, fillStock, findIncompleteOrders, findInvariantViolations, type MailCatcher, outboxCounts,
  printSummary, randomItems, rng, type ShopSetup, Shopper, shopSetup, sleep, spawnApp, startMailCatcher, StepError, Tally,
  type TestDatabase, waitUntil, walkCheckout,
} from './helpers';

const CLIENTS = envInt('LOAD_CLIENTS', 8);
const DOWN_SECONDS = envInt('SMTP_DOWN_SECONDS', 60);

let db: TestDatabase;
let mail: MailCatcher;
let app: AppProcess;
let setup: ShopSetup;

beforeAll(async () => {
  db = await createDatabase(process.env.TEST_PG_SERVER_URL!, { prefix: 'load_smtp', template: process.env.TEST_TEMPLATE_DB });
  await fillStock(db, 1_000_000);
  setup = await shopSetup(db);
  mail = await startMailCatcher();
  app = await spawnApp({ name: 'app', databaseUrl: db.url, smtpUrl: mail.url });
  await app.waitHealthy();
});

afterAll(async () => {
  await app?.stop();
  await mail?.stop();
  await db?.drop();
});

it('delivers every queued receipt after the mail server was down for a minute', async () => {
  const started = Date.now();
  const confirmed = new Map<string, number>(); // order number → when the client saw it confirmed
  const tally = new Tally();
  let stop = false;

  const clients = Array.from({ length: CLIENTS }, async (_, i) => {
    const random = rng(3000 + i);
    const s = new Shopper([app.port]);
    while (!stop) {
      try {
        if (!s.csrf) await s.refreshCsrf('/');
        await walkCheckout(s, setup, { items: randomItems(setup, random), payment: random() < 0.5 ? 'card' : 'invoice', onConfirmed: (n) => confirmed.set(n, Date.now()) });
        tally.add('orders confirmed');
      } catch (e) {
        tally.failure(e);
        if (e instanceof StepError && e.step === 'csrf') s.csrf = '';
        await sleep(100);
      }
    }
    s.close();
  });
  const flowing = async (what: string) => {
    const from = confirmed.size;
    const since = Date.now();
    await waitUntil(what, () => confirmed.size - from >= Math.ceil(CLIENTS / 2) && Date.now() - since >= 3000, 300_000, 100);
  };

  await flowing('checkouts before the SMTP server goes down');
  await mail.stop();
  const downAt = Date.now();
  const confirmedBeforeDown = confirmed.size;
  await sleep(DOWN_SECONDS * 1000);
  const queuedWhenBack = (await outboxCounts(db)).queued;
  const confirmedWhileDown = confirmed.size - confirmedBeforeDown;
  await mail.start(); // same port
  const upAt = Date.now();
  await flowing('checkouts after the SMTP server is back');
  stop = true;
  await Promise.all(clients);
  const loadSeconds = (Date.now() - started) / 1000;

  // Mails that failed while the server was down wait for their retry (backoff, at most 60 s apart for an
  // unreachable server), so the last ones go out up to about a minute after it is back.
  await waitUntil('the outbox to drain', async () => (await outboxCounts(db)).queued === 0, 180_000, 500);
  const drainedAt = Date.now();
  const outbox = await outboxCounts(db);
  const [{ max_attempts: maxAttempts }] = await db.sql(`select coalesce(max(attempts), 0) as max_attempts from outbox_messages`);

  const deliveries = new Map<string, { at: number }[]>();
  for (const m of mail.received) deliveries.set(m.outboxId, [...(deliveries.get(m.outboxId) ?? []), { at: m.at }]);
  const duplicates = [...deliveries].filter(([, d]) => d.length > 1);
  const duplicateRows = duplicates.length
    ? await db.sql(`select id, subject, attempts, status, last_error from outbox_messages where id = any($1::bigint[])`, [duplicates.map(([id]) => id)])
    : [];
  const subjects = new Set(mail.received.map((m) => m.subject));
  const missingMail = [...confirmed.keys()].filter((n) => !subjects.has(`Order confirmation ${n}`));
  const incomplete = await findIncompleteOrders(db, [...confirmed.keys()]);
  const violations = await findInvariantViolations(db);
  const rel = (t: number) => `${((t - downAt) / 1000).toFixed(1)} s`;

  printSummary(`SMTP server down for ${DOWN_SECONDS} s under checkout load`, {
    'clients / load time': `${CLIENTS} / ${loadSeconds.toFixed(1)} s`,
    'orders confirmed (of which while SMTP was down)': `${confirmed.size} (${confirmedWhileDown})`,
    'receipts queued when SMTP came back': queuedWhenBack,
    'outbox drained after SMTP was back': `${((drainedAt - upAt) / 1000).toFixed(1)} s`,
    'outbox': `${outbox.sent} sent, ${outbox.queued} queued, ${outbox.failed} failed (most attempts on one mail: ${maxAttempts})`,
    'mails received / receipts missing': `${mail.received.length} / ${missingMail.length}`,
    'mails delivered twice (same outbox id)': duplicates.length === 0 ? 0 : `${duplicates.length}: ${duplicates.map(([id, d]) => {
      const row = duplicateRows.find((r) => String(r.id) === id);
      return `outbox ${id} at ${d.map((x) => rel(x.at)).join(' and ')} after SMTP went down (${row?.attempts} attempts, last error "${String(row?.last_error ?? '').slice(0, 80)}")`;
    }).join('; ')} — the server took the mail but the worker never heard its "250 OK" (the connection was cut as the server stopped), so the mail stayed queued and was sent again: delivery is at least once`,
    'client outcomes': tally.toString(),
  });

  expect(confirmed.size).toBeGreaterThan(0);
  expect(confirmedWhileDown).toBeGreaterThan(0); // checkout does not wait for mail
  expect(queuedWhenBack).toBeGreaterThan(0);
  expect(missingMail).toEqual([]);
  expect(outbox).toMatchObject({ queued: 0, failed: 0 });
  expect(incomplete).toEqual([]);
  expect(violations).toEqual([]);
  // Every mail is delivered at least once; a duplicate is reported above with its reason, not a failure.
  expect(mail.received.length).toBe(outbox.sent + duplicates.reduce((n, [, d]) => n + d.length - 1, 0));
  expect(app.output()).toMatch(/\[mail\] SMTP server unreachable/);
  expect(app.output()).toMatch(/\[mail\] SMTP server reachable again/);
  expect([...tally.counts.keys()].filter((k) => k !== 'orders confirmed')).toEqual([]);
});
