/**
 * Booting a benchmark database, shared by the bench scripts (storefront, order list, data generator).
 *
 * The server is DATABASE_URL's when set, else the app's embedded PostgreSQL: when something (e.g. `npm start`)
 * already runs it on the configured port, that server is used and left running (a data directory can have only one
 * server); otherwise it is started here through provideDatabase and `embedded.stop()` stops it again.
 * The bench database itself is a separate database on that server, never the app's own.
 */
import pg from 'pg';
import type { AppConfig } from '../src/config';
import { initOrm, migrate, provideDatabase } from '../src/db/database';
import { embeddedServerUrl, withDatabase } from '../src/db/embedded-postgres';
import { seedDemoData } from '../src/db/seed';
import { insertableColumns } from '../test/helpers/table-columns';

export interface BenchServer {
  /** A URL on the server (its database part is replaced by withDatabase). */
  url: string;
  /** Set when this run started the embedded server: stop it at the end. */
  embedded?: { stop(): Promise<void> };
  /** Where the server came from, for the report. */
  label: string;
}

export interface BenchDatabase {
  /** URL of the bench database. */
  url: string;
  name: string;
  /** True when the database was (re)created by this call; false when an existing one was kept. */
  created: boolean;
  /** `show server_version`. */
  version: string;
  /** current_setting of the settings asked for, in name order. */
  settings: { name: string; setting: string }[];
}

/** The PostgreSQL server to bench on (see the file comment). */
export async function benchServer(config: AppConfig): Promise<BenchServer> {
  if (config.databaseUrl) return { url: config.databaseUrl, label: 'DATABASE_URL' };
  // The credentials src/db/embedded-postgres.ts gave the embedded server (its password file in the data directory).
  const running = embeddedServerUrl(config.embeddedDataDir, config.embeddedPort);
  const probe = new pg.Client({ connectionString: running, connectionTimeoutMillis: 2000 });
  const up = await probe.connect().then(() => true, () => false);
  await probe.end().catch(() => undefined);
  if (up) return { url: running, label: `embedded PostgreSQL already running on port ${config.embeddedPort} (left running)` };
  const db = await provideDatabase(config);
  return { ...db, label: `embedded PostgreSQL in ${config.embeddedDataDir}, port ${config.embeddedPort} (started for this run)` };
}

const DEFAULT_SETTINGS = ['fsync', 'synchronous_commit', 'shared_buffers', 'max_connections'];

/**
 * Creates the bench database `name` on the server: dropped and created afresh, unless `keep` says the existing one
 * is good to use (it is given a URL of the existing database and answers true to keep it).
 */
export async function createBenchDatabase(server: BenchServer, name: string, opts: {
  keep?: (url: string) => Promise<boolean>;
  settings?: string[];
} = {}): Promise<BenchDatabase> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a database name: ${name}`);
  const url = withDatabase(server.url, name);
  const admin = new pg.Client({ connectionString: withDatabase(server.url, 'postgres') });
  await admin.connect();
  try {
    const exists = !!(await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount;
    const keep = exists && opts.keep ? await opts.keep(url) : false;
    if (!keep) {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.query(`create database ${name}`);
    }
    const { rows: [{ server_version: version }] } = await admin.query('show server_version');
    const { rows: settings } = await admin.query<{ name: string; setting: string }>(
      'select name, current_setting(name) as setting from pg_settings where name = any($1) order by name', [opts.settings ?? DEFAULT_SETTINGS]);
    return { url, name, created: !keep, version, settings };
  } finally {
    await admin.end();
  }
}

/** Applies the migrations and seeds the demo shop, as `npm start` does. */
export async function migrateAndSeed(url: string): Promise<void> {
  const orm = await initOrm(url, { poolMax: 2 });
  try {
    await migrate(orm);
    await seedDemoData(orm.em.fork());
  } finally {
    await orm.close();
  }
}

/** Drops a bench database (e.g. the big generated one, to free disk). */
export async function dropBenchDatabase(server: BenchServer, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: withDatabase(server.url, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.end();
  }
}

/** A positive whole number from an environment variable, else the fallback. */
export function positiveInt(v: string | undefined, fallback: number): number {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

/** A bench's query function: the SQL text with $n parameters, the rows. */
export type BenchSql = <T extends Record<string, any>>(text: string, params?: unknown[]) => Promise<T[]>;

/** `insert into <table> (columns) select <alias.columns> …` for copying rows: the columns a copy may set (insertableColumns). */
export async function copyColumns(sql: BenchSql, table: string, alias: string): Promise<{ into: string; select: string }> {
  const columns = await insertableColumns(sql, table);
  return { into: `${table} (${columns.join(', ')})`, select: columns.map((c) => `${alias}.${c}`).join(', ') };
}
