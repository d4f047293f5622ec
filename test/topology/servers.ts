/**
 * Real PostgreSQL topologies for the tests, from Debian's packages (`postgresql`, `pgbouncer`; .ci/run installs
 * them): a primary made with initdb, a streaming replica made from it with `pg_basebackup -R`, and a PgBouncer in
 * transaction pooling in front of the primary — each in a temporary folder on a free port, started and stopped by
 * the test that asks for them. PostgreSQL and PgBouncer refuse to run as root, so as root they run as the
 * `postgres` OS user.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { initOrm, migrate, withStartupLock } from '../../src/db/database';
import { seedDemoData } from '../../src/db/seed';
import { freePort, waitUntil, withDb } from '../load/helpers';

const run = promisify(execFile);

/** The newest Debian PostgreSQL (PG_BIN overrides), e.g. /usr/lib/postgresql/15/bin. */
function postgresBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'pg_basebackup'))) : [];
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql: install the postgresql package (see .ci/run)');
  return path.join(root, newest, 'bin');
}

function pgbouncerBin(): string {
  const found = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => fs.existsSync(p));
  if (!found) throw new Error('pgbouncer not found: install the pgbouncer package (see .ci/run)');
  return found;
}

/** As root: the uid and gid of the `postgres` OS user (the package creates it), so the servers can run as it. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, but there is no postgres OS user to run the servers as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

const user = serverUser();
/** The statement timeout PgBouncer gives its server connections (the app's default STATEMENT_TIMEOUT_MS). */
const BOUNCER_STATEMENT_TIMEOUT_MS = 15_000;
const serverEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };

async function asServerUser(file: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(file, args, { env: serverEnv, uid: user?.uid, gid: user?.gid, timeout: 60_000 });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

export interface PgNode {
  port: number;
  dataDir: string;
  /** A URL of this server (database `postgres` unless given). */
  url(db?: string): string;
  /** One statement on a new connection (no pool, so a stopped server leaves nothing behind). */
  sql<T = Record<string, any>>(text: string, params?: unknown[], db?: string): Promise<T[]>;
  start(): Promise<void>;
  /** `fast` ends sessions and shuts down cleanly; `immediate` is a crash. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
}

export interface Topology {
  dir: string;
  primary: PgNode;
  replica?: PgNode;
  /** PgBouncer in transaction pooling in front of the primary (every database). */
  bouncer?: { port: number; url(db?: string): string };
  /** Stops everything and deletes the folder. */
  destroy(): Promise<void>;
}

function node(dir: string, dataDir: string, port: number): PgNode {
  const url = (db = 'postgres') => withDb(`postgres://postgres@127.0.0.1:${port}/postgres`, db);
  const ctl = (...args: string[]) => asServerUser(path.join(postgresBin(), 'pg_ctl'), ['-D', dataDir, ...args]);
  return {
    port,
    dataDir,
    url,
    sql: async (text, params = [], db) => {
      const client = new pg.Client({ connectionString: url(db) });
      client.on('error', () => undefined);
      await client.connect();
      try {
        return (await client.query(text, params)).rows;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    start: async () => { await ctl('-l', `${dataDir}.log`, '-w', '-t', '60', 'start'); },
    stop: async (mode = 'fast') => { await ctl('-m', mode, '-w', 'stop'); },
  };
}

/**
 * A primary (WAL for one replica, fsync off: throw-away data), optionally a streaming replica of it and a PgBouncer
 * in transaction mode. Takes a few seconds; a test file starts one and shares it between its tests.
 */
export async function startTopology(opts: { replica?: boolean; bouncer?: boolean }): Promise<Topology> {
  const bin = postgresBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-topology-'));
  if (user) fs.chownSync(dir, user.uid, user.gid);
  const children: ChildProcess[] = [];
  const nodes: PgNode[] = [];
  const destroy = async () => {
    for (const c of children) if (c.exitCode === null) { c.kill('SIGTERM'); await new Promise((r) => c.once('exit', r)); }
    for (const n of nodes.reverse()) await n.stop('immediate').catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const primary = node(dir, path.join(dir, 'primary'), await freePort());
    await asServerUser(path.join(bin, 'initdb'), ['-D', primary.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    fs.appendFileSync(path.join(primary.dataDir, 'postgresql.conf'), [
      `listen_addresses = '127.0.0.1'`, `port = ${primary.port}`, `unix_socket_directories = '${dir}'`,
      'fsync = off', 'synchronous_commit = off', 'max_connections = 200', 'shared_buffers = 64MB',
      'wal_level = replica', 'max_wal_senders = 4', 'wal_keep_size = 256MB', `timezone = 'UTC'`, '',
    ].join('\n'));
    nodes.push(primary);
    await primary.start();
    const topology: Topology = { dir, primary, destroy };

    if (opts.replica) {
      const replica = node(dir, path.join(dir, 'replica'), await freePort());
      // -R writes standby.signal and primary_conninfo: the copy starts as a streaming replica of the primary.
      await asServerUser(path.join(bin, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', replica.dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
      fs.appendFileSync(path.join(replica.dataDir, 'postgresql.conf'), `port = ${replica.port}\nhot_standby = on\n`);
      nodes.push(replica);
      await replica.start();
      topology.replica = replica;
    }

    if (opts.bouncer) {
      const port = await freePort();
      const ini = path.join(dir, 'pgbouncer.ini');
      fs.writeFileSync(path.join(dir, 'userlist.txt'), '"postgres" ""\n');
      fs.writeFileSync(ini, [
        // Server connections are shared, so a client's startup parameters cannot reach them: node-postgres sends the
        // app's statement_timeout as one, PgBouncer is told to accept and drop it, and sets it on every server
        // connection itself (connect_query) — the way to give a timeout behind PgBouncer (or ALTER ROLE … SET).
        '[databases]', `* = host=127.0.0.1 port=${primary.port} connect_query='SET statement_timeout = ${BOUNCER_STATEMENT_TIMEOUT_MS}'`, '',
        '[pgbouncer]', 'listen_addr = 127.0.0.1', `listen_port = ${port}`, `unix_socket_dir = ${dir}`,
        'auth_type = trust', `auth_file = ${path.join(dir, 'userlist.txt')}`,
        'pool_mode = transaction', 'default_pool_size = 20', 'max_client_conn = 1000', 'max_db_connections = 40',
        'ignore_startup_parameters = extra_float_digits,statement_timeout', `logfile = ${path.join(dir, 'pgbouncer.log')}`, '',
      ].join('\n'));
      if (user) for (const f of ['pgbouncer.ini', 'userlist.txt']) fs.chownSync(path.join(dir, f), user.uid, user.gid);
      const child = spawn(pgbouncerBin(), [ini], { env: serverEnv, uid: user?.uid, gid: user?.gid, stdio: 'ignore' });
      children.push(child);
      const url = (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`;
      await waitUntil('pgbouncer to accept connections', async () => {
        if (child.exitCode !== null) throw new Error(`pgbouncer exited: ${fs.readFileSync(path.join(dir, 'pgbouncer.log'), 'utf8').slice(-2000)}`);
        const c = new pg.Client({ connectionString: url() });
        c.on('error', () => undefined);
        await c.connect();
        await c.query('select 1');
        await c.end();
        return true;
      }, 20_000, 100, () => child.exitCode !== null);
      topology.bouncer = { port, url };
    }
    return topology;
  } catch (e) {
    await destroy();
    throw e;
  }
}

/**
 * A primary and a streaming replica kept in `dir` between runs (benches: generating a million orders once, measuring
 * many times). The first call makes them as startTopology does; later calls start the servers already there.
 * `stop()` shuts them down cleanly and keeps the folder.
 */
export async function keptReplicaTopology(dir: string): Promise<{ primary: PgNode; replica: PgNode; stop(): Promise<void> }> {
  const state = path.join(dir, 'topology.json');
  if (!fs.existsSync(state)) {
    const made = await startTopology({ replica: true });
    await made.replica!.stop('fast');
    await made.primary.stop('fast');
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    await run('cp', ['-a', made.dir, dir]); // keeps owners and modes (the servers run as postgres); /tmp may be another file system
    fs.rmSync(made.dir, { recursive: true, force: true });
    for (const name of ['primary', 'replica']) {
      const conf = path.join(dir, name, 'postgresql.conf');
      // a bulk load writes gigabytes of WAL faster than the replica may replay it: keep it all for the replica
      fs.writeFileSync(conf, `${fs.readFileSync(conf, 'utf8').replaceAll(made.dir, dir)}wal_keep_size = 16GB\n`);
    }
    fs.writeFileSync(state, JSON.stringify({ primary: made.primary.port, replica: made.replica!.port }));
  }
  const ports = JSON.parse(fs.readFileSync(state, 'utf8')) as { primary: number; replica: number };
  const primary = node(dir, path.join(dir, 'primary'), ports.primary);
  const replica = node(dir, path.join(dir, 'replica'), ports.replica);
  await primary.start();
  await replica.start();
  return { primary, replica, stop: async () => { await replica.stop('fast'); await primary.stop('fast'); } };
}

/** Migrates and seeds a new database `name` on the primary, as `npm run migrate -- --seed` does. */
export async function createShopDatabase(primary: PgNode, name: string): Promise<void> {
  await primary.sql(`create database ${name}`);
  const orm = await initOrm(primary.url(name), { poolMax: 2 });
  try {
    await withStartupLock(primary.url(name), async () => {
      await migrate(orm);
      await seedDemoData(orm.em.fork());
    });
  } finally {
    await orm.close();
  }
}

/**
 * Waits until the replica has replayed every transaction the primary has committed so far. The primary runs with
 * synchronous_commit = off, so a commit may still sit in its WAL buffers, past pg_current_wal_lsn() (the write
 * position; the replica is sent only WAL written out): waiting for that position missed the latest commits whenever
 * one straddled an unwritten WAL page. A durable commit first writes and flushes all WAL before it, so the flush
 * position after it covers every earlier commit. It must write WAL of its own: a transaction that only took an id
 * commits asynchronously whatever synchronous_commit says (PostgreSQL flushes only commits of transactions that
 * wrote), so it writes a logical message (no table needed; fine at wal_level = replica).
 */
export async function replicaCaughtUp(primary: PgNode, replica: PgNode, timeoutMs = 30_000): Promise<void> {
  const client = new pg.Client({ connectionString: primary.url() });
  client.on('error', () => undefined);
  await client.connect();
  let lsn: string;
  try {
    await client.query('set synchronous_commit = on');
    await client.query(`select pg_logical_emit_message(true, 'orderflow-test', 'caught up?')`);
    [{ lsn }] = (await client.query<{ lsn: string }>('select pg_current_wal_flush_lsn()::text as lsn')).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
  await waitUntil('the replica to catch up', async () => (await replica.sql<{ ok: boolean }>('select pg_last_wal_replay_lsn() >= $1::pg_lsn as ok', [lsn]))[0]?.ok, timeoutMs, 50);
}
