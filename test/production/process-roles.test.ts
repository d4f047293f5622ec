/**
 * PROCESS_ROLE splits the shop into web processes (HTTP only) and worker processes (every background job, no port),
 * real processes on one database: the web process starts no job, the worker mails a receipt of an order placed on
 * the web process exactly once, both stop on SIGTERM with exit 0; a bad role or a split without a shared database
 * is refused with one line.
 */
import {
  type AppProcess, createDatabase, type MailCatcher, shopSetup, Shopper, spawnApp, startMailCatcher, type TestDatabase, waitUntil, walkCheckout,
} from '../load/helpers';

jest.setTimeout(180_000);

let db: TestDatabase;
let mail: MailCatcher;
const started: AppProcess[] = [];
const lines = (out: string) => out.split('\n').filter((l) => l.trim());

beforeAll(async () => {
  db = await createDatabase(process.env.TEST_PG_SERVER_URL!, { prefix: 'process_roles', template: process.env.TEST_TEMPLATE_DB });
  mail = await startMailCatcher();
});
afterAll(async () => {
  for (const p of started) await p.stop();
  await mail?.stop();
  await db?.drop();
});

async function spawn(name: string, role: string, env: Record<string, string> = {}): Promise<AppProcess> {
  const p = await spawnApp({ name, databaseUrl: db.url, smtpUrl: mail.url, env: { PROCESS_ROLE: role, ...env } });
  started.push(p);
  return p;
}

/** A worker binds no port: it has started when it says its jobs run. */
function workerStarted(worker: AppProcess): Promise<unknown> {
  return waitUntil('the worker started', async () => {
    if (!worker.alive()) throw new Error(`the worker exited:\n${worker.output()}`);
    return worker.output().includes('Orderflow worker running');
  }, 90_000, 100);
}

/** A guest places an order on the web process; answers its receipt's subject. */
async function placeOrderOn(web: AppProcess, payment: 'card' | 'invoice'): Promise<string> {
  const setup = await shopSetup(db);
  const shopper = new Shopper([web.port]);
  await shopper.refreshCsrf();
  const { number } = await walkCheckout(shopper, setup, { items: [{ productId: setup.productIds[0], quantity: 1 }], payment });
  shopper.close();
  return `Order confirmation ${number}`;
}

describe('a web process and a worker process on one database', () => {
  it('the web process runs no job; the worker mails the receipt of an order placed on the web process once; both stop on SIGTERM', async () => {
    const web = await spawn('web', 'web');
    await web.waitHealthy(90_000);
    expect(web.output()).toContain('PROCESS_ROLE=web: no background jobs');
    // No job queue was set up by anyone: the web process registered no job and scheduled nothing.
    expect(await db.sql('select name from pgboss.queue')).toEqual([]);
    expect(await db.sql('select name from pgboss.schedule')).toEqual([]);

    const subject = await placeOrderOn(web, 'card');
    expect(await db.sql(`select status from outbox_messages where subject = $1`, [subject])).toEqual([{ status: 'queued' }]);

    const worker = await spawn('worker', 'worker');
    await workerStarted(worker);
    expect(worker.output()).not.toContain('Orderflow is running at'); // no HTTP port bound
    await waitUntil('the receipt sent', async () => (await db.sql<{ status: string }>(`select status from outbox_messages where subject = $1`, [subject]))[0].status === 'sent', 60_000, 100);
    expect(mail.received.filter((m) => m.subject === subject)).toHaveLength(1);
    // Every job is the worker's: its queues exist now.
    expect((await db.sql<{ name: string }>('select name from pgboss.queue order by name')).map((r) => r.name)).toEqual(expect.arrayContaining(['mail', 'prune-sessions']));

    web.kill('SIGTERM');
    worker.kill('SIGTERM');
    expect(await web.exited).toEqual({ code: 0, signal: null });
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(web.output()).toContain('[shutdown] done');
    expect(worker.output()).toContain("[shutdown] SIGTERM: finishing the workers' current jobs");
    expect(worker.output()).toContain('[shutdown] done');
    expect(mail.received.filter((m) => m.subject === subject)).toHaveLength(1);
  });
});

describe('split without SMTP_URL', () => {
  it('the worker catches the mail locally and staff read it at /admin/mail on the web process', async () => {
    const env = { SMTP_URL: '' };
    const [web, worker] = [await spawn('web-caught', 'web', env), await spawn('worker-caught', 'worker', env)];
    await web.waitHealthy(90_000);
    await workerStarted(worker);
    const subject = await placeOrderOn(web, 'invoice');
    await waitUntil('the receipt caught', async () => (await db.sql('select id from caught_mails where subject = $1', [subject])).length > 0, 60_000, 100);

    const staff = new Shopper([web.port]);
    await staff.login('admin@orderflow.test', 'admin-pass-1');
    const page = await staff.get('/admin/mail');
    staff.close();
    expect(page.status).toBe(200);
    expect(page.body).toContain(subject);
    expect(mail.received.filter((m) => m.subject === subject)).toEqual([]); // not sent to the other tests' SMTP server
    await web.stop();
    await worker.stop();
  });
});

describe('a role that cannot work', () => {
  it('refuses an unknown PROCESS_ROLE with one line naming the roles', async () => {
    const app = await spawn('bad-role', 'both');
    expect((await app.exited).code).toBe(1);
    expect(lines(app.output())).toEqual(['Orderflow cannot start; fix these settings:', '  PROCESS_ROLE: expected one of all, web, worker, got "both"']);
  });

  it('refuses web or worker without DATABASE_URL: the embedded PostgreSQL cannot be shared', async () => {
    const app = await spawnApp({ name: 'worker-embedded', env: { PROCESS_ROLE: 'worker', DEMO: '' } });
    started.push(app);
    expect((await app.exited).code).toBe(1);
    expect(lines(app.output())).toEqual([
      'Orderflow cannot start; fix these settings:',
      '  PROCESS_ROLE: worker needs DATABASE_URL, the PostgreSQL server the web and worker processes share (the embedded PostgreSQL runs only inside a PROCESS_ROLE=all process)',
    ]);
  });
});
