/**
 * The background jobs on pg-boss (src/jobs/job-queue.ts), on a real database: a mail queued in a business
 * transaction is sent by the mail job of whichever of two processes takes the tick, and only once; a drain that
 * fails is recorded in pgboss.job with its error while the next tick still runs; expired sessions are pruned.
 */
import pg from 'pg';
import { createQueueOnce, startJobs, type DrainJob, type RunningJobs } from '../../src/jobs/job-queue';
import { waitUntil } from '../load/helpers';
import { startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
const running: RunningJobs[] = [];
const options = { statementTimeoutMs: 15000, poolAcquireTimeoutMs: 5000 };

beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => {
  for (const jobs of running) await jobs.stop(5000);
  await t?.close();
});

async function twoProcesses(job: () => DrainJob): Promise<void> {
  const url = t.orm.config.get('clientUrl')!;
  running.push(await startJobs(url, options, [job()], []), await startJobs(url, options, [job()], []));
}

describe('the job queue', () => {
  it('sends a mail queued in a committed transaction once, from either of two processes, and none of a rolled-back one', async () => {
    await t.orm.em.fork().transactional((em) => t.services.outbox.enqueue(em, {
      to: 'kept@example.test', subject: 'Queued with its order', template: 'mail/export-notification.njk',
      context: { order: { number: 'Q-1' }, fileName: 'Q-1.xml', folder: '/tmp' },
    }));
    await t.orm.em.fork().transactional(async (em) => {
      await t.services.outbox.enqueue(em, {
        to: 'gone@example.test', subject: 'Rolled back with its order', template: 'mail/export-notification.njk',
        context: { order: { number: 'Q-2' }, fileName: 'Q-2.xml', folder: '/tmp' },
      });
      throw new Error('the business write failed');
    }).catch(() => undefined);

    await twoProcesses(() => t.worker.job(200));

    const [row] = await waitUntil('the mail marked sent', async () => {
      const rows = await t.sql<{ status: string; attempts: number }>(`select status, attempts from outbox_messages where to_address = 'kept@example.test'`);
      return rows[0]?.status === 'sent' && rows;
    }, 20_000);
    expect(row.attempts).toBe(1);
    // Further ticks (from both processes) find nothing more to send.
    await waitUntil('two more mail ticks', async () => Number((await t.sql<{ n: string }>(`select count(*) as n from pgboss.job where name = 'mail' and state = 'completed'`))[0].n) >= 3, 20_000);
    expect(t.mails.filter((m) => m.subject === 'Queued with its order')).toHaveLength(1);
    expect(t.mails.filter((m) => m.subject === 'Rolled back with its order')).toHaveLength(0);
  });

  it('records a failed drain in pgboss.job with its error, and runs the next tick', async () => {
    let calls = 0;
    await twoProcesses(() => ({
      name: 'flaky', everyMs: 200, batchSize: 0,
      drain: async () => {
        calls++;
        if (calls === 1) throw new Error('the export folder is not writable');
        return 0;
      },
    }));
    const [failed] = await waitUntil('the failed tick', async () => {
      const rows = await t.sql<{ output: { message: string } }>(`select output from pgboss.job where name = 'flaky' and state = 'failed'`);
      return rows.length > 0 && rows;
    }, 20_000);
    expect(failed.output.message).toBe('the export folder is not writable');
    await waitUntil('a tick after the failure', () => calls >= 2, 20_000);
    const [{ queued }] = await t.sql<{ queued: string }>(`select count(*) as queued from pgboss.job where name = 'flaky' and state = 'created'`);
    expect(Number(queued)).toBe(1); // one queued tick for the cluster, not one per process
  });

  it('drains nothing once the shutdown began, also for a tick pg-boss fetched as it stopped (the pools are closing)', async () => {
    const url = t.orm.config.get('clientUrl')!;
    let drains = 0;
    let stopBegan = false;
    let lateDrains = 0;
    const jobs = await startJobs(url, options, [{
      name: 'late-tick', everyMs: 300, batchSize: 0,
      drain: async () => {
        drains++;
        if (stopBegan) lateDrains++;
        return 0;
      },
    }], []);
    await waitUntil('a first drain', () => drains > 0, 20_000);
    // Hold the queue's next fetch in the database, as a slow one on a busy server is held: pg-boss counts a worker
    // whose fetch is on its way as idle, so its stop() does not wait for it.
    const lock = new pg.Client({ connectionString: url });
    await lock.connect();
    let stopped: Promise<void>;
    try {
      await lock.query('begin');
      await lock.query('lock table pgboss.job in access exclusive mode');
      await waitUntil('a job queue statement waiting for the lock', async () => (await t.sql<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where application_name = 'orderflow-jobs' and wait_event_type = 'Lock'`))[0].n > 0, 20_000);
      stopBegan = true;
      stopped = jobs.stop(5000);
      await lock.query('commit');
    } finally {
      await lock.end();
    }
    await stopped;
    // Before the fix the fetched tick drained here, after stop() had returned, and its completion hit the closed pool.
    await new Promise((r) => setTimeout(r, 1000));
    expect(lateDrains).toBe(0);
    expect(drains).toBeGreaterThan(0);
  });

  it('prunes expired sessions (the prune-sessions job) and keeps live ones', async () => {
    await t.sql(`insert into session (sid, sess, expire) values ('gone', '{}', now() - interval '1 minute'), ('live', '{}', now() + interval '1 day')`);
    await t.pruneSessions();
    expect((await t.sql<{ sid: string }>(`select sid from session where sid in ('gone', 'live')`)).map((r) => r.sid)).toEqual(['live']);
  });
});

describe('queue creation at start', () => {
  it('tries again when two processes starting together deadlock creating the same queue, and gives up on anything else', async () => {
    const deadlock = Object.assign(new Error('deadlock detected'), { code: '40P01' });
    let calls = 0;
    await createQueueOnce(async () => { if (++calls < 3) throw deadlock; });
    expect(calls).toBe(3);
    const other = Object.assign(new Error('permission denied'), { code: '42501' });
    await expect(createQueueOnce(async () => { throw other; })).rejects.toBe(other);
    let tries = 0;
    await expect(createQueueOnce(async () => { tries++; throw deadlock; })).rejects.toBe(deadlock);
    expect(tries).toBe(5);
  });
});
