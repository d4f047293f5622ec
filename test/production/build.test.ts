/**
 * The production start, as the README documents it: `npm run build` emits JavaScript to dist/, the deploy step
 * migrates an empty database with plain node (`npm run migrate:prod`), and `node dist/src/server.js` serves the
 * shop — no tsx in the process. Also: in production each template is read and compiled once.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createViewEnv } from '../../src/shared/views';
import { createDatabase, get, ROOT, spawnApp, type AppProcess, type TestDatabase } from '../load/helpers';

const run = promisify(execFile);
let db: TestDatabase;
let app: AppProcess | undefined;

beforeAll(async () => {
  // Incremental (dist/.tsbuildinfo): a few seconds when dist/ is current, about a minute from nothing on a busy machine.
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 240_000 });
  db = await createDatabase(process.env.TEST_PG_SERVER_URL!, { prefix: 'build' });
}, 260_000);
afterAll(async () => {
  await app?.stop();
  await db?.drop();
});

describe('npm run build, then the production start with plain node', () => {
  it('emits the server, the CLIs and the migrations as JavaScript, and no tests', () => {
    for (const file of ['dist/src/server.js', 'dist/src/db/cli.js', 'dist/src/accounts/staff-cli.js', 'dist/migrations/index.js', 'dist/mikro-orm.config.js']) {
      expect([file, fs.existsSync(path.join(ROOT, file))]).toEqual([file, true]);
    }
    expect(fs.existsSync(path.join(ROOT, 'dist/test'))).toBe(false);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    // The young generation's size is part of how production starts (README, "Performance"); the bench runs the app so too.
    expect(pkg.scripts['start:prod']).toBe('node --max-semi-space-size=64 dist/src/server.js');
    expect(pkg.scripts.bench).toContain('--max-semi-space-size=64');
  });

  it('migrates an empty database as the deploy step, then serves the shop from dist/ with node', async () => {
    const env = { ...process.env, NODE_ENV: 'production', DATABASE_URL: db.url };
    await run(process.execPath, ['dist/src/db/cli.js'], { cwd: ROOT, env, timeout: 120_000 });
    const applied = (await db.sql<{ n: number }>('select count(*)::int as n from mikro_orm_migrations'))[0].n;
    expect(applied).toBe(fs.readdirSync(path.join(ROOT, 'migrations')).filter((f) => /^Migration\d+_\w+\.ts$/.test(f)).length);

    app = await spawnApp({ name: 'node-dist', databaseUrl: db.url, script: ['dist/src/server.js'] });
    await app.waitHealthy(90_000);
    expect(fs.readFileSync(`/proc/${app.pid}/cmdline`, 'utf8').split('\0').filter(Boolean)).toEqual([process.execPath, 'dist/src/server.js']);
    // The migrations were the deploy step's: the app found none left to apply.
    expect(app.output()).not.toContain('Applied');

    expect((await get(app.port, '/healthz')).status).toBe(200);
    const product = await get(app.port, '/products/P-1050');
    expect(product.status).toBe(200);
    expect(product.body).toContain('data-testid="price-incl"');
    // Files outside dist/ are found from the project root: the stylesheet, the templates of an error page.
    expect((await get(app.port, '/public/css/app.css')).status).toBe(200);
    const missing = await get(app.port, '/no-such-page', { accept: 'text/html' });
    expect(missing.status).toBe(404);
    expect(missing.body).toContain('Not found');
    // One JSON line per request, as production logs.
    expect(app.output()).toMatch(/"path":"\/products\/P-1050","status":200/);

    // The staff CLI runs from dist/ as well (password from stdin).
    const created = await new Promise<number | null>((resolve) => {
      const child = execFile(process.execPath, ['dist/src/accounts/staff-cli.js', '--email', 'ops@example.com', '--name', 'Ops'], { cwd: ROOT, env }, () => undefined);
      child.stdin!.end('a-long-enough-password-1\n');
      child.on('exit', (code) => resolve(code));
    });
    expect(created).toBe(0);
    expect(await db.sql(`select role from users where email = 'ops@example.com'`)).toEqual([{ role: 'staff' }]);
  }, 180_000);
});

describe('templates in production', () => {
  it('are read and compiled once, then rendered from the cache; in development they are read on every render', () => {
    const problem = { status: 404, code: 'NOT_FOUND', message: 'The page was not found.', fields: {} };
    const reads = (cache: boolean) => {
      const env = createViewEnv(undefined, { cache });
      const loader = (env as unknown as { loaders: { getSource(name: string): unknown }[] }).loaders[0];
      const spy = jest.spyOn(loader, 'getSource');
      const first = env.render('errors/error.njk', { problem });
      const afterFirst = spy.mock.calls.length;
      expect(env.render('errors/error.njk', { problem })).toBe(first);
      return { first: afterFirst, second: spy.mock.calls.length - afterFirst };
    };
    const production = reads(true);
    expect(production.first).toBeGreaterThan(1); // the page and the layout it extends
    expect(production.second).toBe(0);
    const development = reads(false);
    expect(development.second).toBe(development.first);
  });
});
