import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { ormConfig, type OrmOptions } from '../../mikro-orm.config';
import type { AppConfig } from '../config';
import { log } from '../shared/log';
import { migrateJobQueue } from './job-queue-schema';
import { withoutPreparedStatements } from './sql';
import { embeddedServerUrl, portInUse, startEmbeddedPostgres, withDatabase, type RunningPostgres } from './embedded-postgres';

export const APP_DATABASE = 'orderflow';

/**
 * Resolves the database the app runs on: DATABASE_URL when set, otherwise an embedded PostgreSQL
 * whose data lives under a git-ignored folder. Creates the app database when it does not exist.
 */
export async function provideDatabase(
  config: AppConfig, opts: { reuseRunning?: boolean } = {},
): Promise<{ url: string; embedded?: RunningPostgres }> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  // A command-line tool run next to `npm start` uses the embedded server that is already running.
  if (opts.reuseRunning && (await portInUse(config.embeddedPort))) {
    return { url: withDatabase(embeddedServerUrl(config.embeddedDataDir, config.embeddedPort), APP_DATABASE) };
  }
  const embedded = await startEmbeddedPostgres({ dataDir: config.embeddedDataDir, port: config.embeddedPort, quiet: true });
  await createDatabaseIfMissing(embedded.url, APP_DATABASE);
  return { url: withDatabase(embedded.url, APP_DATABASE), embedded };
}

export async function createDatabaseIfMissing(serverUrl: string, name: string, template?: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  client.on('error', () => undefined); // a dropped connection fails the query below; it must not crash the process
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) {
      await client.query(`create database "${name}"${template ? ` template "${template}"` : ''}`);
    }
  } finally {
    await client.end();
  }
}

export async function initOrm(url: string, opts: OrmOptions = {}): Promise<MikroORM> {
  const orm = await MikroORM.init(ormConfig(url, opts));
  if (opts.preparedStatements === false) withoutPreparedStatements(orm);
  return orm;
}

/** Applies every pending migration, then creates or upgrades the job queue's schema (pgboss); safe at each start. */
export async function migrate(orm: MikroORM): Promise<void> {
  await orm.getMigrator().up();
  await migrateJobQueue(orm.config.get('clientUrl')!);
}

/**
 * Migrates through an ORM of its own without the app's statement timeout (a migration may rebuild an index for
 * minutes), then runs `after` (the demo seed) on it.
 */
export async function migrateWithOwnConnection(url: string, after?: (orm: MikroORM) => Promise<void>): Promise<void> {
  const orm = await initOrm(url, { poolMax: 2 });
  try {
    await migrate(orm);
    await after?.(orm);
  } finally {
    await orm.close();
  }
}

/** Any fixed number; PostgreSQL advisory locks are keyed by it within the database. */
const STARTUP_LOCK_KEY = 7_346_105_001;

/**
 * Runs `fn` (migrations and seed at start, or `npm run migrate`) while holding an advisory lock on the database, so
 * several app processes started at once on one database take turns: the first migrates and seeds, the others
 * wait, then find nothing left to do. The lock is transaction-level, taken in a transaction its own connection
 * keeps open until `fn` is done: it works through PgBouncer in transaction pooling (which keeps that server
 * connection for this client until the transaction ends, where a session-level lock could stay behind on a
 * server connection handed to someone else), and it ends with the connection, even when the process dies.
 */
export async function withStartupLock<T>(url: string, fn: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', (e) => log.error(`[startup-lock] connection lost: ${e.message}`));
  await client.connect();
  try {
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock($1)', [STARTUP_LOCK_KEY]);
    return await fn();
  } finally {
    await client.query('rollback').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
