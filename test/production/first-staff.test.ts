/**
 * A real shop on DATABASE_URL (NODE_ENV=production, no DEMO): the start creates no users and no demo data, logs JSON
 * lines, and says how to create the first staff user; `npm run staff:create` does, and that person can log in.
 */
import { spawn } from 'node:child_process';
import { type AppProcess, createDatabase, ROOT, Shopper, spawnApp, startMailCatcher, type MailCatcher, type TestDatabase } from '../load/helpers';

jest.setTimeout(120_000);

let db: TestDatabase;
let mail: MailCatcher;
let app: AppProcess;

beforeAll(async () => {
  db = await createDatabase(process.env.TEST_PG_SERVER_URL!, { prefix: 'first_staff' }); // empty: the app migrates it
  mail = await startMailCatcher();
  app = await spawnApp({ name: 'production', databaseUrl: db.url, smtpUrl: mail.url, env: { DEMO: '' } });
  await app.waitHealthy(90_000);
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await mail?.stop();
  await db?.drop();
});

/** `node --import tsx src/accounts/staff-cli.ts …` with the password on stdin, as `npm run staff:create` runs it. */
function staffCreate(args: string[], stdin: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/accounts/staff-cli.ts', ...args], {
      cwd: ROOT, env: { ...process.env, DATABASE_URL: db.url, NODE_ENV: 'production' }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c) => { output += c; });
    child.stderr.on('data', (c) => { output += c; });
    child.on('exit', (code) => resolve({ code, output }));
    child.stdin.end(stdin);
  });
}

describe('production start on an empty database', () => {
  it('creates no users and no demo data, and logs JSON lines that say how to add staff', async () => {
    expect(await db.sql('select email from users')).toEqual([]);
    expect(await db.sql(`select number from products`)).toEqual([]);
    expect(await db.sql(`select code from payment_methods where provider = 'sandbox_card'`)).toEqual([]);
    expect((await db.sql(`select name from flows where is_default order by type`)).length).toBe(4);
    const out = app.output().split('\n').filter((l) => l.trim());
    for (const line of out) expect(() => JSON.parse(line)).not.toThrow();
    expect(out.map((l) => JSON.parse(l).msg)).toContain('No staff user yet: create one with  npm run staff:create -- --email you@example.com');
    expect(app.output()).not.toContain('admin-pass-1');
    // No demo login works.
    const visitor = new Shopper([app.port]);
    await visitor.refreshCsrf('/login');
    expect((await visitor.post('/login', { email: 'admin@orderflow.test', password: 'admin-pass-1' })).status).toBe(401);
    visitor.close();
  });

  it('staff:create makes a staff user from a password on stdin, who can then log in to the admin pages', async () => {
    const refused = await staffCreate(['--email', 'boss@shop.example', '--name', 'Boss'], 'short\n');
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('Please check password: must be at least 10 characters');

    const created = await staffCreate(['--email', 'boss@shop.example', '--name', 'Boss'], 'a-long-staff-password\n');
    expect(created.output).toContain('Staff user boss@shop.example created');
    expect(created.code).toBe(0);
    expect(created.output).not.toContain('a-long-staff-password');
    expect(await db.sql('select email, role, staff_role from users')).toEqual([{ email: 'boss@shop.example', role: 'staff', staff_role: 'administrator' }]);

    const again = await staffCreate(['--email', 'boss@shop.example'], 'a-long-staff-password\n');
    expect(again.code).toBe(1);
    expect(again.output).toContain('An account with that e-mail already exists.');

    const boss = new Shopper([app.port]);
    await boss.login('boss@shop.example', 'a-long-staff-password');
    const admin = await boss.get('/admin/orders');
    expect(admin.status).toBe(200);
    boss.close();
  });

  it('stops gracefully on SIGTERM with exit code 0', async () => {
    app.kill('SIGTERM');
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(app.output()).toContain('[shutdown] done');
  });
});
