/**
 * A start that cannot work stops at once, with one line naming the port or setting to change and a non-zero exit
 * code — before the database is touched or any worker starts (real processes: `node --import tsx src/server.ts`).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createDatabase, freePort, spawnApp, type TestDatabase } from '../load/helpers';

let taken: net.Server;
let takenPort: number;
let db: TestDatabase;

beforeAll(async () => {
  takenPort = await freePort();
  taken = net.createServer().listen(takenPort, '127.0.0.1');
  db = await createDatabase(process.env.TEST_PG_SERVER_URL!, { prefix: 'start_fail' }); // empty: nothing may be migrated
});
afterAll(async () => {
  taken.close();
  await db.drop();
});

const lines = (out: string) => out.split('\n').filter((l) => l.trim());

describe('a start that cannot work', () => {
  it('stops on a taken HTTP port with one line naming PORT, before migrating or starting a worker', async () => {
    const app = await spawnApp({ name: 'port-taken', databaseUrl: db.url, port: takenPort, env: { WORKER_INTERVAL_MS: '10' } });
    expect((await app.exited).code).toBe(1);
    expect(lines(app.output())).toEqual([`PORT: port ${takenPort} is already in use; stop what runs there or set PORT to a free port`]);
    expect(await db.sql(`select table_name from information_schema.tables where table_schema = 'public'`)).toEqual([]);
  });

  it('stops on a taken embedded PostgreSQL port with one line naming EMBEDDED_PG_PORT', async () => {
    const dataDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-pgport-')), 'pg');
    const app = await spawnApp({ name: 'pg-port-taken', env: { EMBEDDED_PG_PORT: String(takenPort), EMBEDDED_PG_DIR: dataDir } });
    expect((await app.exited).code).toBe(1);
    expect(lines(app.output())).toEqual([
      `EMBEDDED_PG_PORT: port ${takenPort} is already in use (another Orderflow or PostgreSQL?); set EMBEDDED_PG_PORT to a free port`,
    ]);
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it('stops on bad settings, naming every bad variable and its expected form', async () => {
    const app = await spawnApp({ name: 'bad-settings', databaseUrl: db.url, env: { SECURE_COOKIES: 'yes please', CATALOG_CACHE_MS: 'soon', SESSION_SECRET: 'short' } });
    expect((await app.exited).code).toBe(1);
    expect(lines(app.output())).toEqual([
      'Orderflow cannot start; fix these settings:',
      '  SECURE_COOKIES: expected true or false, got "yes please"',
      '  CATALOG_CACHE_MS: expected a number of milliseconds (0 or more), got "soon"',
    ]);
    const short = await spawnApp({ name: 'short-secret', databaseUrl: db.url, env: { SESSION_SECRET: 'short' } });
    expect((await short.exited).code).toBe(1);
    expect(short.output()).toContain('SESSION_SECRET: too short for production (5 characters)');
  });
});
