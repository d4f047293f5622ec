import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { createApp, type BuiltApp } from '../../src/app';
import { loadConfig, type AppConfig } from '../../src/config';
import { initOrm } from '../../src/db/database';
import { MailWorker } from '../../src/mail/outbox.service';
import { startSmtpCatcher, type CaughtMessage } from '../../src/mail/smtp-catcher';

export interface TestApp extends BuiltApp {
  orm: MikroORM;
  mails: CaughtMessage[];
  worker: MailWorker;
  smtp: { url: string; port: number; stop(): Promise<void> };
  /** Runs SQL against this test file's database (for set-up and for checking what was stored). */
  sql<T = Record<string, any>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = '/' + db;
  return u.toString();
}

/**
 * A fresh database cloned from the migrated, seeded template, the real app on it, and a real SMTP server
 * that collects every mail the outbox sends. One per test file, so files run in parallel.
 */
export async function startTestApp(overrides: Partial<AppConfig> = {}): Promise<TestApp> {
  const serverUrl = process.env.TEST_PG_SERVER_URL!;
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name} template ${process.env.TEST_TEMPLATE_DB}`);
  await admin.end();
  const url = withDb(serverUrl, name);
  const orm = await initOrm(url, { poolMax: 10 });
  const mails: CaughtMessage[] = [];
  const smtp = await startSmtpCatcher((m) => { mails.push(m); });
  const config = { ...loadConfig({}), loginRateLimit: { windowMs: 60000, max: 1000 }, registerRateLimit: { windowMs: 60000, max: 1000 }, apiRateLimit: { windowMs: 60000, max: 100_000 }, catalogCacheMs: 0, ...overrides };
  const built = createApp(orm, config, url);
  const worker = new MailWorker(orm, smtp.url);
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  return {
    ...built, orm, mails, worker, smtp,
    sql: async (text, params = []) => (await pool.query(text, params)).rows,
    close: async () => {
      worker.close();
      await built.close();
      await pool.end();
      await orm.close();
      await smtp.stop();
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** Reads the CSRF token from a page the agent loads (as a browser would). */
export async function csrfToken(agent: TestAgent, path = '/'): Promise<string> {
  const res = await agent.get(path);
  const m = /name="_csrf" value="([^"]+)"/.exec(res.text);
  if (!m) throw new Error(`No CSRF token on ${path} (status ${res.status})`);
  return m[1];
}

export function newAgent(t: TestApp): TestAgent {
  return request.agent(t.app);
}

/** Posts a form with a fresh CSRF token taken from `from`. */
export async function postForm(agent: TestAgent, path: string, form: Record<string, string | number>, from = '/') {
  const token = await csrfToken(agent, from);
  return agent.post(path).type('form').send({ ...form, _csrf: token });
}

export async function login(agent: TestAgent, email: string, password: string) {
  const res = await postForm(agent, '/login', { email, password }, '/login');
  if (res.status !== 303) throw new Error(`login failed for ${email}: ${res.status}`);
  return res;
}

/** A browser-like agent logged in as the demo staff admin. */
export async function staffAgent(t: TestApp): Promise<TestAgent> {
  const agent = newAgent(t);
  await login(agent, 'admin@orderflow.test', 'admin-pass-1');
  return agent;
}

/** Gives the named products a round price and plenty of stock, so a test's totals are easy to read. */
export async function stockAndPrice(t: TestApp, numbers: string[], priceMinor: number, vatRateBp: number, stock = 1000): Promise<void> {
  await t.sql('update stock_levels set quantity = $2 where product_id in (select id from products where number = any($1))', [numbers, stock]);
  await t.sql('update products set price_minor = $2, vat_rate_bp = $3 where number = any($1)', [numbers, priceMinor, vatRateBp]);
}

export async function productId(t: TestApp, number: string): Promise<number> {
  const [row] = await t.sql<{ id: number }>('select id from products where number = $1', [number]);
  return row.id;
}

export async function waitFor<T>(fn: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error('waitFor timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}
