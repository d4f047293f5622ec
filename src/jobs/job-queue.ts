/**
 * The background jobs, run by pg-boss (a PostgreSQL job queue: its tables live in the schema `pgboss`, beside ours).
 *
 * Each job is a queue of pg-boss "ticks". A tick drains the job's own table (outbox_messages, order_export_jobs,
 * recurring runs, payment attempts and operations…), whose rows stay the record of each mail, export or payment
 * call: they are written in the business transaction, claimed with FOR UPDATE SKIP LOCKED, retried with the
 * job's own backoff and shown to staff. pg-boss decides when a drain runs and by whom:
 *
 * - One queued tick per job for the whole cluster (queue policy `short`): each tick first queues its successor
 *   (`startAfter` = the job's interval), then drains. N processes share the ticks instead of each polling; a
 *   process killed mid-drain leaves the successor queued for the others, and pg-boss expires its orphaned tick.
 * - A per-minute cron tick (pg-boss `schedule`) restarts a chain that was lost, e.g. a tick fetched just before
 *   the database went away; every process queues one tick at start too.
 * - A drain that throws is recorded as a failed job in pgboss.job (with the error) and logged; the next tick runs.
 * - While the database is unreachable a tick keeps its place: the outage is logged once per job, the drain is
 *   tried again every interval, and "reachable again" is logged when it works.
 *
 * pg-boss polls (no LISTEN/NOTIFY, no session state, unnamed statements; its locks are transaction-level), so it
 * runs through PgBouncer in transaction pooling like the rest of the app.
 */
import PgBoss from 'pg-boss';
import { JOB_SCHEMA, jobQueuePool, type JobQueueOptions } from '../db/job-queue-schema';
import { isDatabaseUnavailable, unavailableReason } from '../db/unavailable';
import { log } from '../shared/log';

/** A job that drains due rows of its table every `everyMs`. */
export interface DrainJob {
  /** The queue name and the log prefix (`[mail] …`). */
  name: string;
  everyMs: number;
  /** Rows per drain call; a full batch is followed at once by another. 0: one call per tick. */
  batchSize: number;
  /** Works through up to `limit` due rows; returns how many it handled. */
  drain(limit: number): Promise<number>;
}

/** A job that runs on a cron schedule (pg-boss `schedule`, minute resolution), once per slot in the cluster. */
export interface CronJob {
  name: string;
  cron: string;
  run(): Promise<void>;
}


/** Logs a job's outage once when it starts and once when the database answers again. */
class OutageLog {
  private downSince = new Map<string, number>();

  down(name: string, e: unknown, retryMs: number): void {
    if (this.downSince.has(name)) return;
    this.downSince.set(name, Date.now());
    log.warn(`[${name}] database unreachable (${unavailableReason(e)}); retrying every ${retryMs} ms`);
  }

  up(name: string): void {
    const since = this.downSince.get(name);
    if (since === undefined) return;
    this.downSince.delete(name);
    log.warn(`[${name}] database reachable again after ${((Date.now() - since) / 1000).toFixed(1)} s; working again`);
  }
}

export interface RunningJobs {
  /** Takes no new ticks and waits (up to `timeoutMs`) for the drains in progress. */
  stop(timeoutMs: number): Promise<void>;
}

/** Starts this process's workers for every job. The schema must exist (migrateJobQueue, part of `migrate`). */
export async function startJobs(url: string, opts: JobQueueOptions, drains: DrainJob[], crons: CronJob[]): Promise<RunningJobs> {
  const pool = jobQueuePool(url, opts, 4);
  const outage = new OutageLog();
  let stopping = false;
  let closed = false;
  /** pg-boss statements on their way, and ticks running: stop() closes the pool only when both are 0. */
  let statements = 0;
  let ticks = 0;
  const boss = new PgBoss({
    db: {
      executeSql: async (text, values) => {
        // Should pg-boss still send one after the pool closed, it is never answered: pg-boss does not await its
        // completions, and an empty answer broke its bookkeeping ("reading 'count'", an unhandled rejection).
        if (closed) return new Promise<never>(() => undefined);
        statements++;
        try {
          return await pool.query(text, values);
        } catch (e) {
          // pg-boss swallows a failed fetch, so while the database is away no tick runs to say so: every job is
          // stopped by it, and each logs it once here (and "reachable again" from its next tick).
          if (isDatabaseUnavailable(e) && !stopping) for (const job of drains) outage.down(job.name, e, job.everyMs);
          throw e;
        } finally {
          statements--;
        }
      },
    },
    schema: JOB_SCHEMA, migrate: false,
    // Ticks are many and say little once done: completed ones are archived after an hour, deleted after a day.
    archiveCompletedAfterSeconds: 3600, deleteAfterHours: 24,
  });
  boss.on('error', (e: Error & { queue?: string }) => {
    if (isDatabaseUnavailable(e)) outage.down(e.queue ?? 'jobs', e, 2000);
    else log.error({ err: e }, `[${e.queue ?? 'jobs'}] job queue error`);
  });
  await boss.start();
  const counted = <T>(handler: () => Promise<T>) => async (): Promise<T> => {
    ticks++;
    try {
      return await handler();
    } finally {
      ticks--;
    }
  };

  for (const job of drains) {
    // A little under the polling interval, so the poll one interval after this tick finds its successor due.
    const startAfter = (Math.max(job.everyMs, 10) * 0.9) / 1000;
    // No automatic retry: the next tick is already queued, and each row keeps its own retry rules.
    await createQueueOnce(() => boss.createQueue(job.name, { name: job.name, policy: 'short', retryLimit: 0, expireInSeconds: 15 * 60 }));
    const tick = async () => {
      for (;;) {
        try {
          await boss.send(job.name, {}, { startAfter });
          // A tick pg-boss fetched as the shutdown began (stop() does not wait for a fetch on its way): its successor
          // is queued for the other processes; draining now would race the pools being closed.
          if (stopping) return;
          let handled: number;
          do handled = await job.drain(job.batchSize || 1);
          while (!stopping && job.batchSize > 0 && handled === job.batchSize);
          outage.up(job.name);
          outage.up('jobs'); // pg-boss's own upkeep, which logged the outage without a job's name
          return;
        } catch (e) {
          if (!isDatabaseUnavailable(e) || stopping) {
            if (!stopping) log.error({ err: e }, `[${job.name}] worker error`);
            throw e; // recorded as this tick's failure in pgboss.job
          }
          outage.down(job.name, e, job.everyMs);
          await new Promise((r) => setTimeout(r, job.everyMs));
        }
      }
    };
    await boss.work(job.name, { pollingIntervalSeconds: Math.max(0.5, job.everyMs / 1000) }, counted(tick));
    await boss.schedule(job.name, '* * * * *', {});
    await boss.send(job.name, {});
  }
  for (const job of crons) {
    await createQueueOnce(() => boss.createQueue(job.name, { name: job.name, policy: 'short', retryLimit: 2, retryDelay: 60, retryBackoff: true }));
    await boss.work(job.name, { pollingIntervalSeconds: 30 }, counted(async () => {
      if (stopping) return; // fetched as the shutdown began: the next slot runs it
      try {
        await job.run();
      } catch (e) {
        log.error({ err: e }, `[${job.name}] failed; retried with backoff`);
        throw e;
      }
    }));
    await boss.schedule(job.name, job.cron, {});
  }

  return {
    async stop(timeoutMs) {
      stopping = true;
      const deadline = Date.now() + timeoutMs;
      try {
        await boss.stop({ graceful: true, wait: true, close: false, timeout: timeoutMs });
        // pg-boss counts a worker whose fetch is on its way as idle, so its stop() may return before that fetch hands
        // the worker a tick, whose completion is one more statement: wait until nothing is on its way.
        while ((statements > 0 || ticks > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      } finally {
        closed = true;
        await pool.end();
      }
    },
  };
}

/**
 * pg-boss's createQueue (a row and a partition: DDL) deadlocks when two processes starting together create the same
 * queue (PostgreSQL picks one to fail, 40P01). Creating a queue that exists does nothing, so the loser tries again.
 */
export async function createQueueOnce(create: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await create();
    } catch (e) {
      if ((e as { code?: string }).code !== '40P01' || attempt >= 5) throw e;
      await new Promise((r) => setTimeout(r, 50 * attempt + Math.random() * 50));
    }
  }
}
