/**
 * The database side of the job queue (src/jobs/job-queue.ts): pg-boss's schema, which `migrate` creates or upgrades
 * beside ours, and the pool pg-boss's statements run through.
 */
import pg from 'pg';
import PgBoss from 'pg-boss';
import { connectionTimeouts } from '../../mikro-orm.config';
import type { AppConfig } from '../config';
import { log } from '../shared/log';

export const JOB_SCHEMA = 'pgboss';

export type JobQueueOptions = Pick<AppConfig, 'statementTimeoutMs' | 'poolAcquireTimeoutMs'>;

/** pg-boss runs its statements through this pool (`db` option), so it shares the app's timeouts and error rules. */
export function jobQueuePool(url: string, opts: Partial<JobQueueOptions>, max: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url, max, application_name: 'orderflow-jobs',
    ...connectionTimeouts({ statementTimeoutMs: opts.statementTimeoutMs, acquireTimeoutMs: opts.poolAcquireTimeoutMs }),
  });
  // An idle connection dropped by the server: the next query gets a new one (the outage is logged by the jobs).
  pool.on('error', () => undefined);
  return pool;
}

const executor = (pool: pg.Pool): PgBoss.Db => ({ executeSql: (text, values) => pool.query(text, values) });

/**
 * Creates pg-boss's schema or brings it to this version's (pg-boss migrates itself under a transaction-level
 * advisory lock). Part of `migrate`, so `npm run migrate`, the start and the test template all have it.
 */
export async function migrateJobQueue(url: string): Promise<void> {
  const pool = jobQueuePool(url, {}, 1);
  const boss = new PgBoss({ db: executor(pool), schema: JOB_SCHEMA, migrate: true, supervise: false, schedule: false });
  boss.on('error', (e) => log.error({ err: e }, '[jobs] migrating the job queue failed'));
  try {
    await boss.start();
    await boss.stop({ graceful: false, close: false });
  } finally {
    await pool.end();
  }
}
