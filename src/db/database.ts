import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { ormConfig } from '../../mikro-orm.config';
import type { AppConfig } from '../config';
import { startEmbeddedPostgres, withDatabase, type RunningPostgres } from './embedded-postgres';

export const APP_DATABASE = 'orderflow';

/**
 * Resolves the database the app runs on: DATABASE_URL when set, otherwise an embedded PostgreSQL
 * whose data lives under a git-ignored folder. Creates the app database when it does not exist.
 */
export async function provideDatabase(config: AppConfig): Promise<{ url: string; embedded?: RunningPostgres }> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const embedded = await startEmbeddedPostgres({ dataDir: config.embeddedDataDir, port: config.embeddedPort, quiet: true });
  await createDatabaseIfMissing(embedded.url, APP_DATABASE);
  return { url: withDatabase(embedded.url, APP_DATABASE), embedded };
}

export async function createDatabaseIfMissing(serverUrl: string, name: string, template?: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
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

export async function initOrm(url: string, opts: { poolMax?: number } = {}): Promise<MikroORM> {
  return MikroORM.init(ormConfig(url, opts));
}

/** Applies every pending migration; safe to run at each start. */
export async function migrate(orm: MikroORM): Promise<void> {
  await orm.getMigrator().up();
}
