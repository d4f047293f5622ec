/**
 * Storefront load benchmark, run by hand: `npm run bench` (BENCH_SECONDS=5 for a quick run).
 *
 * The main thread boots a fresh `orderflow_bench` database (dropped and recreated each run) on the embedded
 * PostgreSQL the app uses (or on DATABASE_URL's server), migrates and seeds it, raises every stock level so
 * stock never runs out, and serves the real app on a free loopback port with the mail worker sending to an
 * SMTP catcher. What a deployment talks to on other machines runs in a worker thread of its own, "the outside" (the
 * SMTP server receiving the receipts, the hosted provider sending its webhooks), so its work is not counted as the
 * app thread's. The load is generated in another worker thread (autocannon for the two single-request
 * scenarios, keep-alive node:http clients for the checkout flow), so the client does not share the app's
 * event loop. Scenarios, each with BENCH_CONNECTIONS (50) connections for BENCH_SECONDS (30) seconds:
 *
 *   1. product page     GET /products/P-1013, no cookies (a first visit)
 *   1b. the same page for returning visitors: each connection a shopper with a basket (who added and saw the basket)
 *   2. add to cart      POST /cart/add, every connection its own shopper (CSRF token, basket cookie)
 *   3. place order      every connection a shopper looping as a browser does: add, "Go to checkout" (POST
 *                       /checkout: the cart becomes an order), GET and POST /checkout/addresses, GET and POST
 *                       /checkout/methods (STANDARD + INVOICE), GET /checkout/review (order number), POST
 *                       /checkout/place, GET the receipt (9 requests per order; the pages only read). Afterwards
 *                       the database is checked: no duplicate order numbers, as many completed orders as
 *                       successful places, no negative stock, stock taken = units sold.
 *
 *   4. place only       POST /checkout/place alone, each connection placing its own baskets prepared at the review step
 *                       (BENCH_PREPARED per connection), all of one product: every order takes stock from the same row.
 *   5. last units       twice as many shoppers as units of one product place at once: exactly as many orders as units.
 *
 * BENCH_ONLY=product,returning,add,place,placeOnly,lastUnits runs a subset (e.g. under `node --cpu-prof`).
 * `npm run bench` starts node with the flags production starts with (package.json: `--max-semi-space-size=64`); run it
 * by hand as `node --max-semi-space-size=64 --import tsx bench/storefront.bench.ts` (add `--cpu-prof` to profile).
 * BENCH_WARMUP_SECONDS (default 10) runs each scenario that long first, unmeasured (its orders still count in the checks):
 * a shop runs for hours, so what a request costs is what it costs once V8 has compiled the code and each pooled
 * connection has planned its prepared statements (PostgreSQL custom-plans each the first five times per connection).
 * 10 s, not 3: V8's compiler threads were still busy after 3 s (their CPU per checkout request over seconds 0–3, 3–10,
 * 10–20 and 20–30 of one run: 1.97, 0.99, 0.63, 0.46 ms), so a 3 s warm-up still measured compiling.
 * Scenario 5 (the last units) is not warmed up: its shoppers place once.
 * Before each scenario (and its warm-up) the database is vacuumed and analyzed, as pgbench does before its runs
 * (BENCH_VACUUM=0 skips it): scenario 2 and pgbench update the same 50 baskets ~100,000 times within a minute, and
 * the dead rows and index entries they leave, until autovacuum wakes, cost the checkout after them ~15 % (7 Dec:
 * 46.3 orders/s after them without, 53.7 with the vacuum, 56.6 alone).
 * BENCH_PROFILE=dir writes a CPU profile of the app thread over each scenario's measured seconds (open it in Chrome's
 * DevTools, or sum its self times): the profiler costs some CPU, so the run's figures are not the bench's.
 * BENCH_PG_SCHED=batch runs the bench's PostgreSQL server (its postmaster and every process it has or starts) under
 * Linux's SCHED_BATCH policy, as a systemd unit's `CPUSchedulingPolicy=batch` does (README, "Sharing two cores with
 * PostgreSQL"): a backend woken by the app's query then no longer preempts the app thread on its core. Needs the
 * server on this machine and `chrt` (util-linux); pgbench runs against the same server, so the ratio stays like for like.
 * BENCH_APP_PROCESSES=2 sends the load to two app processes sharing one port (node:cluster), as behind a balancer.
 * BENCH_WORKER_PROCESS=1 runs the background jobs as a real deployment split in web and worker processes does: the
 * app in this process starts no job (PROCESS_ROLE=web), and a child process `node --import tsx src/server.ts` with
 * PROCESS_ROLE=worker runs every job (the mail worker sending the receipts, but also export, reservations, payments …)
 * on the same database and SMTP catcher; its CPU is reported beside the app thread's. Default (unset): the mail job
 * runs in this process, on the app thread, as before.
 * The bench database is left in place after the run for inspection. Never used by the tests: timings belong here,
 * not in assertions.
 */
import { execFileSync, spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import inspector from 'node:inspector/promises';
import os from 'node:os';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import pino from 'pino';
import pg from 'pg';
import { createApp } from '../src/app';
import { cookieHeader, keepCookies } from '../test/helpers/cookie-jar';
import { freePort } from '../test/load/helpers';
import { loadConfig } from '../src/config';
import { configureLogging } from '../src/shared/log';
import { initOrm, migrate } from '../src/db/database';
import { seedDemoData } from '../src/db/seed';
import { MailWorker } from '../src/mail/outbox.service';
import { startJobs } from '../src/jobs/job-queue';
import { startSmtpCounter } from '../src/mail/smtp-catcher';
import { benchServer, copyColumns, createBenchDatabase, positiveInt } from './bench-db';
import { preparePgbench, runPgbench } from './pgbench-add';
import { cpuSeconds, processStats, statFields } from './proc-stat';
import { recordStatements } from './sql-recorder';

process.env.NODE_ENV = 'production'; // cached templates, as in production (src/http/views.ts)
process.env.SESSION_SECRET ||= 'bench-only-session-secret-of-32-characters'; // production refuses the demo's

const SECONDS = positiveInt(process.env.BENCH_SECONDS, 30);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);
const CONNECTIONS = positiveInt(process.env.BENCH_CONNECTIONS, 50);
/** BENCH_ONLY=product,add,place picks scenarios (e.g. for profiling one of them); default all three. */
const ONLY = new Set((process.env.BENCH_ONLY || 'product,returning,add,place,placeOnly,lastUnits,hotCard,hotHosted').split(',').map((s) => s.trim()));
/** Scenarios 6 and 7: the sandbox providers answer after this long, as a real gateway does. */
const GATEWAY_LATENCY_MS = positiveInt(process.env.BENCH_GATEWAY_LATENCY_MS, 300);
const BENCH_CARD = { cardHolder: 'Kim Customer', cardNumber: '4242 4242 4242 4242', cardExpiry: '12/39', cardCvc: '123' };
const BENCH_DATABASE = process.env.BENCH_DATABASE ?? 'orderflow_bench';
const PRODUCT_PAGE = 'P-1013';
const STOCK_LEVEL = 10_000_000;
/** Scenario 5: this many units of one product, and twice as many shoppers at the review step wanting one each. */
const LAST_UNITS = 50;
/** Scenario 4: baskets prepared per connection (more than one connection places in BENCH_SECONDS). */
const PREPARED_PER_CONNECTION = positiveInt(process.env.BENCH_PREPARED, 250);
/** BENCH_PROFILE=dir: a .cpuprofile of the app thread over each scenario's measured seconds (one app process only). */
const PROFILE_DIR = process.env.BENCH_PROFILE;
/** BENCH_VACUUM=0: no `vacuum (analyze)` of the database before each scenario. */
const SETTLE = process.env.BENCH_VACUUM !== '0';
/** BENCH_PG_SCHED=batch: the bench's PostgreSQL server runs as SCHED_BATCH (see the file comment). */
const PG_SCHED = process.env.BENCH_PG_SCHED === 'batch' ? 'batch' : undefined;
/** BENCH_APP_PROCESSES=2: the load goes to that many app processes (node:cluster, one port), as behind a balancer. */
const APP_PROCESSES = positiveInt(process.env.BENCH_APP_PROCESSES, 1);
/** BENCH_WORKER_PROCESS=1: the background jobs run in a PROCESS_ROLE=worker child process, not on the app thread. */
const WORKER_PROCESS = ['1', 'true'].includes(process.env.BENCH_WORKER_PROCESS ?? '');

/** Same fields as test/helpers/shopping.ts ADDRESS. */
const ADDRESS: Record<string, string> = {
  billing_name: 'Kim Customer', billing_company: '', billing_address: 'Main Street 1', billing_address2: '',
  billing_zip: '2100', billing_city: 'Copenhagen', billing_country: 'DK', billing_region: '', billing_phone: '', billing_email: 'kim@example.test',
  deliverySameAsBilling: 'on',
};

// ---------------------------------------------------------------------------------------------------------
// Shared types (main thread ↔ load worker)

interface LoadSetup { baseUrl: string; productIds: number[]; shippingMethodId: number; paymentMethodId: number; seconds: number; connections: number }
type Scenario = 'product' | 'returning' | 'add' | 'place' | 'placeOnly';

interface Measured {
  scenario: Scenario;
  seconds: number;
  /** Requests (scenarios 1, 2) or requests of every step (scenario 3) that completed. */
  requests: number;
  /** Successful measured operations: 2xx pages, 303 add-to-carts, placed orders. */
  ok: number;
  /** Connection errors, timeouts and unexpected statuses. */
  errors: number;
  statuses: Record<string, number>;
  latency: Percentiles;
  /** Scenario 3: latency of every step, for finding the slow one. */
  steps?: Record<string, Percentiles & { count: number }>;
  errorSamples: string[];
  /**
   * The app's (main) thread during the run: event-loop utilization, and CPU time per completed request
   * (from /proc, Linux only), which other load on the machine disturbs less than the throughput does.
   */
  app?: { busy: number; cpuMsPerRequest?: number; workerCpuMsPerRequest?: number; dbCpuMsPerRequest?: number; machineCpuMsPerRequest?: number; pauses?: LoopPauses };
}

/**
 * How long the in-process app's event loop kept callbacks waiting (its delay, sampled every 5 ms) and how much of
 * each second garbage collection stopped it: the latency a request gets from the app thread besides its own CPU.
 */
interface LoopPauses { delayP50: number; delayP99: number; gcMsPerSecond: number }

/** Watches the app thread's event-loop delay and GC pauses; `read` answers them since the last `reset`. */
function watchLoopPauses(): { reset: () => void; read: () => LoopPauses } {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  let gcMs = 0;
  let since = performance.now();
  new PerformanceObserver((list) => { for (const e of list.getEntries()) gcMs += e.duration; }).observe({ entryTypes: ['gc'] });
  return {
    reset: () => { delay.reset(); gcMs = 0; since = performance.now(); },
    read: () => ({ delayP50: delay.percentile(50) / 1e6, delayP99: delay.percentile(99) / 1e6, gcMsPerSecond: gcMs / ((performance.now() - since) / 1000) }),
  };
}

interface Percentiles { p50: number; p95: number; p99: number; max: number; mean: number }

/** A basket at the review step, ready for POST /checkout/place (scenario 4). */
interface PreparedOrder { cookie: string; csrf: string; number: string }
/** How the prepared baskets pay: invoice; the card gateway (card typed on the review page); the hosted payment page. */
type Payment = 'invoice' | 'card' | 'hosted';
/** prepared: baskets per connection, kept by the worker (each placed once: a run after a warm-up goes on with the rest). */
type ToWorker = { run: Scenario; prepared?: PreparedOrder[][]; refusalsExpected?: boolean; payment?: Payment; seconds?: number };
type FromWorker = { ready: true } | { result: Measured } | { failed: string };

// ---------------------------------------------------------------------------------------------------------
// Small helpers

/** Starts V8's CPU profiler on this thread (the app's) when BENCH_PROFILE names a folder; stop() writes the profile there. */
async function startProfile(): Promise<{ stop: (title: string) => Promise<void> } | undefined> {
  if (!PROFILE_DIR || APP_PROCESSES > 1) return undefined;
  const session = new inspector.Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    stop: async (title) => {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      fs.mkdirSync(PROFILE_DIR, { recursive: true });
      fs.writeFileSync(path.join(PROFILE_DIR, `${title.replace(/\W+/g, '-').replace(/^-|-$/g, '')}.cpuprofile`), JSON.stringify(profile));
    },
  };
}

function percentiles(samples: number[]): Percentiles {
  if (samples.length === 0) return { p50: NaN, p95: NaN, p99: NaN, max: NaN, mean: NaN };
  const s = Float64Array.from(samples).sort();
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
  return { p50: at(50), p95: at(95), p99: at(99), max: s[s.length - 1], mean: s.reduce((a, b) => a + b, 0) / s.length };
}

/** CPU seconds (user + system) of this process's main thread, where the app runs (or of another process); undefined off Linux. */
function mainThreadCpuSeconds(pid: number | 'self' = 'self'): number | undefined {
  try {
    return cpuSeconds(pid);
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of the bench's PostgreSQL server so far: its postmaster (whose cutime/cstime hold the backends that
 * ended) and every process it started (backends, walwriter, autovacuum …), so a run tells where the CPU went besides
 * the app; Linux only. Only this server: other PostgreSQL servers on the machine (another run's tests) are not counted.
 */
function databaseCpuSeconds(postmasterPid: number | undefined): number | undefined {
  if (postmasterPid === undefined) return undefined;
  try {
    let ticks = 0;
    for (const { pid, fields } of processStats()) {
      if (pid === postmasterPid) ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]); // utime stime cutime cstime
      else if (Number(fields[1]) === postmasterPid) ticks += Number(fields[11]) + Number(fields[12]); // a child: utime stime
    }
    return ticks / 100;
  } catch {
    return undefined;
  }
}

/** The postmaster of the server a connection's backend belongs to (its parent process), when it runs on this machine. */
function postmasterOf(backendPid: number): number | undefined {
  try {
    return Number(statFields(`/proc/${backendPid}/stat`)[1]);
  } catch {
    return undefined; // the server is on another machine
  }
}

/**
 * Puts the server's postmaster and its current children under SCHED_BATCH (children it forks later inherit the
 * policy from it). Lowering a policy needs no privilege for one's own processes; another user's need CAP_SYS_NICE.
 */
function scheduleAsBatch(postmasterPid: number | undefined): string {
  if (postmasterPid === undefined) throw new Error('BENCH_PG_SCHED=batch needs the PostgreSQL server on this machine');
  const children = [...processStats()].filter((p) => Number(p.fields[1]) === postmasterPid).map((p) => String(p.pid));
  for (const pid of [String(postmasterPid), ...children]) execFileSync('chrt', ['--batch', '--pid', '0', pid]);
  return `SCHED_BATCH (BENCH_PG_SCHED=batch: postmaster ${postmasterPid} and ${children.length} processes it started; new ones inherit it)`;
}

/** CPU seconds the whole machine spent busy so far (all cores: user, nice, system, irq, softirq), Linux only. */
function machineCpuSeconds(): number | undefined {
  try {
    const [user, nice, system, , , irq, softirq] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (user + nice + system + irq + softirq) / 100;
  } catch {
    return undefined;
  }
}

/** One app process's (or the in-process app thread's) CPU seconds and event-loop times so far. */
interface AppUsage { cpuSeconds?: number; active: number; idle: number }

function ownUsage(cpuSeconds: number | undefined): AppUsage {
  const { active, idle } = performance.eventLoopUtilization();
  return { cpuSeconds, active, idle };
}

/** Event-loop utilization (mean over the app processes) and CPU seconds (summed) between two readings. */
function usageBetween(before: AppUsage[], after: AppUsage[]): { busy: number; cpuSeconds?: number } {
  const busy = after.map((a, i) => (a.active - before[i].active) / Math.max(1e-9, a.active - before[i].active + a.idle - before[i].idle));
  const cpu = after.map((a, i) => (a.cpuSeconds === undefined || before[i].cpuSeconds === undefined ? undefined : a.cpuSeconds - before[i].cpuSeconds));
  return { busy: busy.reduce((x, y) => x + y, 0) / busy.length, cpuSeconds: cpu.includes(undefined) ? undefined : cpu.reduce((x, y) => x! + y!, 0) };
}

/** The app thread's load and where the CPU of one request went: app thread, worker process, PostgreSQL, whole machine. */
function cpuSummary(m: Measured): string {
  const a = m.app;
  if (!a) return '';
  const part = (label: string, v?: number) => (v === undefined ? '' : `, ${label} ${v.toFixed(2)} ms`);
  return `app thread busy ${(a.busy * 100).toFixed(0)} %; CPU per request:${part('app thread', a.cpuMsPerRequest).slice(1)}` +
    `${part('worker process', a.workerCpuMsPerRequest)}${part('PostgreSQL', a.dbCpuMsPerRequest)}${part('whole machine', a.machineCpuMsPerRequest)}` +
    (a.pauses ? `; event-loop delay p50 ${a.pauses.delayP50.toFixed(1)} ms, p99 ${a.pauses.delayP99.toFixed(1)} ms; GC ${a.pauses.gcMsPerSecond.toFixed(0)} ms/s` : '');
}

const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(1)) : '–');
const rate = (n: number, seconds: number) => (n / seconds).toFixed(n / seconds >= 100 ? 0 : 1);

// ---------------------------------------------------------------------------------------------------------
// Load worker: a browser-like HTTP client per shopper, plus autocannon

interface HttpResult { status: number; headers: http.IncomingHttpHeaders; body: string; ms: number }

/** One shopper: one keep-alive connection, a cookie jar and the session's CSRF token. */
class Shopper {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  readonly cookies = new Map<string, string>();
  csrf = '';

  constructor(private readonly base: URL) {}

  cookieHeader(): string {
    return cookieHeader(this.cookies);
  }

  request(method: 'GET' | 'POST', path: string, form?: Record<string, string | number>): Promise<HttpResult> {
    const body = form ? new URLSearchParams(Object.entries({ ...form, _csrf: this.csrf }).map(([k, v]): [string, string] => [k, String(v)])).toString() : undefined;
    const headers: http.OutgoingHttpHeaders = { cookie: this.cookieHeader(), accept: 'text/html' };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) });
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request({ host: this.base.hostname, port: this.base.port, method, path, headers, agent: this.agent, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          keepCookies(this.cookies, res.headers['set-cookie']);
          const text = Buffer.concat(chunks).toString('utf8');
          // As a browser does, the next form carries the token of the page seen last: a first visit's page has a
          // first-visit token (good for the first add only); pages with a session have the session's token.
          const token = /name="_csrf" value="([^"]+)"/.exec(text)?.[1];
          if (token) this.csrf = token;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, ms: performance.now() - started });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${path}`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** GET / as a browser's first visit: the session cookie and its CSRF token. */
  async start(): Promise<void> {
    const res = await this.request('GET', '/');
    const m = /name="_csrf" value="([^"]+)"/.exec(res.body);
    if (res.status !== 200 || !m) throw new Error(`no CSRF token on / (status ${res.status})`);
    this.csrf = m[1];
  }

  close(): void {
    this.agent.destroy();
  }

}

interface AutocannonRequest { method?: string; path?: string; headers?: Record<string, string>; body?: string }
interface AutocannonClient { setRequests(requests: AutocannonRequest[]): void }
interface AutocannonResult { errors: number; timeouts: number; duration: number; statusCodeStats: Record<string, { count: number }> }
interface AutocannonInstance { on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void }
type Autocannon = (opts: Record<string, unknown>, done: (err: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

/** Runs autocannon; success is decided per response status, latency percentiles come from every response. */
function cannon(opts: Record<string, unknown>, isSuccess: (status: number) => boolean): Promise<Omit<Measured, 'scenario'>> {
  // autocannon ships no type declarations; the few members used here are typed above.
  const autocannon = require('autocannon') as Autocannon;
  const latencies: number[] = [];
  let ok = 0;
  let bad = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => {
      if (err) return reject(err);
      const statuses: Record<string, number> = {};
      for (const [code, { count }] of Object.entries(result.statusCodeStats)) statuses[code] = count;
      resolve({
        seconds: result.duration, requests: latencies.length, ok, errors: bad + result.errors + result.timeouts,
        statuses, latency: percentiles(latencies),
        errorSamples: result.errors + result.timeouts ? [`${result.errors} connection errors, ${result.timeouts} timeouts`] : [],
      });
    });
    instance.on('response', (_client, status, _bytes, took) => {
      latencies.push(took);
      if (isSuccess(status)) ok++;
      else bad++;
    });
  });
}

async function productPage(setup: LoadSetup): Promise<Measured> {
  const r = await cannon({ url: `${setup.baseUrl}/products/${PRODUCT_PAGE}`, connections: setup.connections, duration: setup.seconds }, (s) => s >= 200 && s < 300);
  return { scenario: 'product', ...r };
}

/** The product page for returning visitors: every connection a shopper with a basket (see warmShoppers). */
async function productPageReturning(setup: LoadSetup): Promise<Measured> {
  const shoppers = await warmShoppers(setup);
  let next = 0;
  const setupClient = (client: AutocannonClient) => {
    const s = shoppers[next++ % shoppers.length];
    client.setRequests([{ method: 'GET', path: `/products/${PRODUCT_PAGE}`, headers: { cookie: s.cookieHeader(), accept: 'text/html' } }]);
  };
  const r = await cannon({ url: setup.baseUrl, connections: setup.connections, duration: setup.seconds, setupClient }, (s) => s >= 200 && s < 300);
  return { scenario: 'returning', ...r };
}

/**
 * One shopper per connection that visited /, added once (basket cookie) and saw its basket (its message, and the CSRF
 * token of its forms). A visitor has no session until they log in or place an order: messages travel in a cookie.
 */
function warmShoppers(setup: LoadSetup): Promise<Shopper[]> {
  const base = new URL(setup.baseUrl);
  return Promise.all(Array.from({ length: setup.connections }, async (_, i) => {
    const s = new Shopper(base);
    await s.start();
    const warm = await s.request('POST', '/cart/add', { productId: setup.productIds[i % setup.productIds.length], quantity: 1 });
    if (warm.status !== 303 || !s.cookies.has('basket')) throw new Error(`warm-up add to cart failed: ${warm.status} ${warm.body.slice(0, 200)}`);
    const basket = await s.request('GET', String(warm.headers.location));
    if (basket.status !== 200 || !basket.body.includes('Added to your basket.')) throw new Error(`warm-up: the basket page did not show the add (${basket.status})`);
    s.close();
    return s;
  }));
}

/**
 * Each connection is its own shopper: it visits / (session cookie + CSRF token) and adds once (basket
 * cookie) before the clock starts, then keeps adding 1 × one of four products to its own basket.
 */
async function addToCart(setup: LoadSetup): Promise<Measured> {
  const shoppers = await warmShoppers(setup);
  let next = 0;
  const setupClient = (client: AutocannonClient) => {
    const s = shoppers[next++ % shoppers.length];
    client.setRequests([0, 1, 2, 3].map((k) => ({
      method: 'POST', path: '/cart/add',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: s.cookieHeader(), accept: 'text/html' },
      body: new URLSearchParams({ productId: String(setup.productIds[(next * 4 + k) % setup.productIds.length]), quantity: '1', _csrf: s.csrf }).toString(),
    })));
  };
  const r = await cannon({ url: setup.baseUrl, connections: setup.connections, duration: setup.seconds, setupClient }, (s) => s === 303);
  if (next !== setup.connections) r.errorSamples.push(`autocannon set up ${next} clients for ${setup.connections} shoppers`);
  return { scenario: 'add', ...r };
}

/** Every connection a shopper walking the whole checkout in a loop, as a browser does (it follows each 303). */
async function placeOrders(setup: LoadSetup): Promise<Measured> {
  const base = new URL(setup.baseUrl);
  const steps: Record<string, number[]> = {};
  const statuses: Record<string, number> = {};
  const errorSamples: string[] = [];
  let requests = 0;
  let placed = 0;
  let errors = 0;

  const step = async (s: Shopper, name: string, method: 'GET' | 'POST', path: string, expect: number, form?: Record<string, string | number>) => {
    const res = await s.request(method, path, form);
    requests++;
    (steps[name] ??= []).push(res.ms);
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    if (res.status !== expect) throw new Error(`${name}: ${res.status} ${res.body.replace(/\s+/g, ' ').slice(0, 160)}`);
    return res;
  };

  const started = performance.now();
  const deadline = started + setup.seconds * 1000;
  await Promise.all(Array.from({ length: setup.connections }, async (_, i) => {
    const s = new Shopper(base);
    await s.start();
    for (let n = 0; performance.now() < deadline; n++) {
      try {
        await step(s, 'add', 'POST', '/cart/add', 303, { productId: setup.productIds[(i + n) % setup.productIds.length], quantity: 1 });
        await step(s, 'start checkout', 'POST', '/checkout', 303, {});
        await step(s, 'addresses page', 'GET', '/checkout/addresses', 200);
        await step(s, 'addresses', 'POST', '/checkout/addresses', 303, ADDRESS);
        await step(s, 'methods page', 'GET', '/checkout/methods', 200);
        await step(s, 'methods', 'POST', '/checkout/methods', 303, { shippingMethodId: setup.shippingMethodId, paymentMethodId: setup.paymentMethodId });
        const review = await step(s, 'review', 'GET', '/checkout/review', 200);
        const number = /name="orderNumber" value="([^"]+)"/.exec(review.body)?.[1];
        if (!number) throw new Error('review: no order number on the page');
        const place = await step(s, 'place', 'POST', '/checkout/place', 303, { orderNumber: number, customerComment: '' });
        if (place.headers.location !== `/checkout/receipt/${encodeURIComponent(number)}`) throw new Error(`place: redirected to ${place.headers.location}`);
        placed++;
        await step(s, 'receipt', 'GET', place.headers.location, 200);
      } catch (e) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push((e as Error).message);
        if (/^(add|start checkout|addresses|methods|place): 403/.test((e as Error).message)) await s.start().catch(() => undefined); // fresh CSRF token
      }
    }
    s.close();
  }));
  const seconds = (performance.now() - started) / 1000;

  const stepStats: NonNullable<Measured['steps']> = {};
  for (const [name, samples] of Object.entries(steps)) stepStats[name] = { ...percentiles(samples), count: samples.length };
  return { scenario: 'place', seconds, requests, ok: placed, errors, statuses, latency: percentiles(steps.place ?? []), steps: stepStats, errorSamples };
}

/**
 * Records the statements of one add-to-cart of a shopper whose basket holds the four products the load adds (as in
 * scenario 2), then has pgbench replay them (bench/pgbench-add.ts).
 */
async function pgbenchAddToCart(baseUrl: string, databaseUrl: string, productIds: number[], q: <T extends Record<string, any>>(text: string, params?: unknown[]) => Promise<T[]>) {
  process.stdout.write('2b. pgbench with the statements of one add-to-cart … ');
  const shopper = new Shopper(new URL(baseUrl));
  await shopper.start();
  for (const id of productIds.slice(0, 4)) {
    const added = await shopper.request('POST', '/cart/add', { productId: id, quantity: 1 });
    if (added.status !== 303) throw new Error(`pgbench: add to cart answered ${added.status}`);
    await shopper.request('GET', String(added.headers.location)); // the basket page: the session's CSRF token
  }
  let status = 0;
  const recorded = await recordStatements(async () => { status = (await shopper.request('POST', '/cart/add', { productId: productIds[0], quantity: 1 })).status; });
  if (status !== 303) throw new Error(`pgbench: the recorded add to cart answered ${status}`);
  shopper.close();
  // A visitor without a session sends no session read (flash messages travel in a cookie): then there is no sid.
  const sid = recorded.find((st) => st.text.includes('FROM "session" WHERE sid'))?.values[0];
  const basketToken = shopper.cookies.get('basket');
  if ((sid !== undefined && typeof sid !== 'string') || !basketToken) throw new Error('pgbench: could not find the basket token (or the session id) in the recorded statements');
  const { script, statements } = await preparePgbench(q, recorded, { sid: sid as string | undefined, basketToken }, CONNECTIONS);
  const result = await runPgbench(databaseUrl, script, CONNECTIONS, SECONDS);
  // The same with commits that do not wait for the disk: the yardstick of a machine whose disk commits fast.
  const fastCommits = await runPgbench(databaseUrl, script, CONNECTIONS, SECONDS, '-c synchronous_commit=off');
  console.log(`done (${result.tps.toFixed(0)} tps; ${fastCommits.tps.toFixed(0)} tps with synchronous_commit=off)`);
  return { ...result, fastCommits, script, statements };
}

/**
 * Only the placing request: every connection places its own list of baskets already at the review step (prepared
 * by the main thread), one after the other, until the list or the time runs out.
 */
async function placePrepared(setup: LoadSetup, prepared: PreparedOrder[][], refusalsExpected: boolean, payment: Payment = 'invoice'): Promise<Measured> {
  const base = new URL(setup.baseUrl);
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const errorSamples: string[] = [];
  let placed = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + setup.seconds * 1000;
  await Promise.all(prepared.map(async (orders) => {
    const s = new Shopper(base);
    while (orders.length > 0 && performance.now() < deadline) {
      const order = orders.shift()!;
      s.cookies.clear();
      for (const pair of order.cookie.split('; ')) s.cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
      s.csrf = order.csrf;
      try {
        const res = await placeWith(s, order, payment);
        latencies.push(res.ms);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
        if (res.status === 303 && res.headers.location === `/checkout/receipt/${encodeURIComponent(order.number)}`) placed++;
        else if (!(refusalsExpected && res.status === 409)) {
          errors++;
          if (errorSamples.length < 5) errorSamples.push(`${res.status} ${res.body.replace(/\s+/g, ' ').slice(0, 160)}`);
        }
      } catch (e) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push((e as Error).message);
      }
    }
    s.close();
  }));
  const seconds = (performance.now() - started) / 1000;
  return { scenario: 'placeOnly', seconds, requests: latencies.length, ok: placed, errors, statuses, latency: percentiles(latencies), errorSamples };
}

/**
 * Places one prepared basket; answers the last response (the redirect to the receipt when it worked) with the time
 * of the whole payment. Hosted: place → the sandbox payment page (pay with the approved card) → back to the shop.
 */
async function placeWith(s: Shopper, order: PreparedOrder, payment: Payment): Promise<HttpResult> {
  const started = performance.now();
  const placed = await s.request('POST', '/checkout/place', { orderNumber: order.number, customerComment: '', ...(payment === 'card' ? BENCH_CARD : {}) });
  if (payment !== 'hosted' || placed.status !== 303) return placed;
  const page = new URL(String(placed.headers.location));
  const paid = await s.request('POST', page.pathname, { cardNumber: BENCH_CARD.cardNumber, cardExpiry: BENCH_CARD.cardExpiry, cardCvc: BENCH_CARD.cardCvc, action: 'pay' });
  if (paid.status !== 303) return paid;
  const back = new URL(String(paid.headers.location));
  const returned = await s.request('GET', back.pathname + back.search);
  return { ...returned, ms: performance.now() - started };
}

function chunk<T>(items: T[], parts: number): T[][] {
  const out: T[][] = Array.from({ length: parts }, () => []);
  items.forEach((item, i) => out[i % parts].push(item));
  return out;
}

/**
 * `count` anonymous baskets at the review step, each with 1 × productId and its own session and basket cookie:
 * one is walked there through the app (so it is exactly what checkout makes), the rest are SQL copies of it.
 */
async function prepareReviewBaskets(
  ctx: { baseUrl: string; q: <T extends Record<string, any>>(text: string, params?: unknown[]) => Promise<T[]>; shippingMethodId: number; paymentMethodId: number; secret: string },
  productId: number, count: number,
): Promise<PreparedOrder[]> {
  const { q } = ctx;
  const s = new Shopper(new URL(ctx.baseUrl));
  await s.start();
  await s.request('POST', '/cart/add', { productId, quantity: 1 });
  await s.request('POST', '/checkout', {});
  await s.request('GET', '/checkout/addresses');
  await s.request('POST', '/checkout/addresses', ADDRESS);
  await s.request('GET', '/checkout/methods');
  await s.request('POST', '/checkout/methods', { shippingMethodId: ctx.shippingMethodId, paymentMethodId: ctx.paymentMethodId });
  const review = await s.request('GET', '/checkout/review');
  s.close();
  const number = /name="orderNumber" value="([^"]+)"/.exec(review.body)?.[1];
  if (!number) throw new Error(`could not walk a basket to the review step (${review.status})`);
  // A guest has no session before placing (its forms carry the first-visit token of its orderflow.csrf cookie).
  const signed = decodeURIComponent(s.cookies.get('orderflow.sid') ?? '');
  const sid = signed.startsWith('s:') ? signed.slice(2, signed.lastIndexOf('.')) : undefined;
  const [source] = await q<{ id: number }>('select id from orders where number = $1', [number]);
  const orders = await copyColumns(q, 'orders', 'r');
  const orderLines = await copyColumns(q, 'order_lines', 'r');
  const clones = await q<{ id: number; number: string; anonymous_token: string }>(
    `insert into ${orders.into} select ${orders.select} from orders o, generate_series(1, $2::int) g,
       jsonb_populate_record(null::orders, to_jsonb(o) || jsonb_build_object('id', nextval('orders_id_seq'), 'number', o.number || '-' || g, 'anonymous_token', gen_random_uuid())) r
     where o.id = $1 returning id, number, anonymous_token`,
    [source.id, count],
  );
  await q(
    `insert into ${orderLines.into} select ${orderLines.select} from order_lines l, unnest($2::bigint[]) c(id),
       jsonb_populate_record(null::order_lines, to_jsonb(l) || jsonb_build_object('id', nextval('order_lines_id_seq'), 'order_id', c.id)) r
     where l.order_id = $1`,
    [source.id, clones.map((c) => c.id)],
  );
  if (sid) await q(`insert into session (sid, sess, expire) select 'bench-' || c.number, s.sess, s.expire from session s, unnest($2::text[]) c(number) where s.sid = $1`, [sid, clones.map((c) => c.number)]);
  // express-session's signed cookie: s:<sid>.<base64 HMAC-SHA256 without padding>
  const sign = (value: string) => `s:${value}.${createHmac('sha256', ctx.secret).update(value).digest('base64').replace(/=+$/, '')}`;
  const nonce = s.cookies.get('orderflow.csrf');
  const cookieOf = (c: { number: string; anonymous_token: string }) => [
    sid ? `orderflow.sid=${encodeURIComponent(sign('bench-' + c.number))}` : `orderflow.csrf=${nonce}`, `basket=${c.anonymous_token}`,
  ].join('; ');
  return clones.map((c) => ({ number: c.number, csrf: s.csrf, cookie: cookieOf(c) }));
}

/**
 * The outside world, in a worker thread of its own: the SMTP server the mail worker sends the receipts to (it accepts
 * and counts every mail, as a relay would, without parsing it) and the hosted provider's webhook sender — on other machines in a deployment,
 * so their CPU is not the app thread's (in the same process they cost the app thread ~15 % of a placing run).
 */
type ToOutside = { webhook: { url: string; body: string; headers: Record<string, string>; times: number; spreadMs: number } } | { counts: true };
type FromOutside = { smtpUrl: string } | { counts: { mailsCaught: number; webhooksSent: number } };

function outsideWorker(): void {
  const port = parentPort!;
  let mailsCaught = 0;
  let webhooksSent = 0;
  void startSmtpCounter(() => { mailsCaught++; }).then((catcher) => port.postMessage({ smtpUrl: catcher.url } satisfies FromOutside));
  port.on('message', (m: ToOutside) => {
    if ('counts' in m) return port.postMessage({ counts: { mailsCaught, webhooksSent } } satisfies FromOutside);
    const { url, body, headers, times, spreadMs } = m.webhook;
    for (let i = 0; i < times; i++) {
      setTimeout(() => {
        webhooksSent++;
        fetch(url, { method: 'POST', body, headers }).catch(() => undefined);
      }, Math.random() * spreadMs);
    }
  });
}

async function startOutside() {
  const worker = new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(__filename)});`, { eval: true, workerData: { outside: true } });
  const next = () => new Promise<FromOutside>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
  const first = await next();
  if (!('smtpUrl' in first)) throw new Error('the outside worker did not start its SMTP catcher');
  return {
    smtpUrl: first.smtpUrl,
    send: (m: ToOutside) => worker.postMessage(m),
    counts: async () => {
      const answer = next();
      worker.postMessage({ counts: true } satisfies ToOutside);
      const m = await answer;
      if (!('counts' in m)) throw new Error('unexpected message from the outside worker');
      return m.counts;
    },
    stop: () => worker.terminate(),
  };
}

function loadWorker(): void {
  const setup = workerData as LoadSetup;
  const port = parentPort!;
  const run: Record<Scenario, (s: LoadSetup, msg: ToWorker) => Promise<Measured>> = {
    product: productPage, returning: productPageReturning, add: addToCart, place: placeOrders,
    placeOnly: (s, msg) => placePrepared(s, msg.prepared ?? [], msg.refusalsExpected === true, msg.payment),
  };
  let prepared: PreparedOrder[][] = [];
  port.on('message', (msg: ToWorker) => {
    if (msg.prepared) prepared = msg.prepared;
    run[msg.run]({ ...setup, seconds: msg.seconds ?? setup.seconds }, { ...msg, prepared }).then(
      (result) => port.postMessage({ result } satisfies FromWorker),
      (e: Error) => port.postMessage({ failed: e.stack ?? String(e) } satisfies FromWorker),
    );
  });
  port.postMessage({ ready: true } satisfies FromWorker);
}

// ---------------------------------------------------------------------------------------------------------
// Main thread: database, app, mail, the scenarios, the checks and the report

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = os.loadavg();
  const config = loadConfig();
  console.log(`Orderflow storefront bench: ${CONNECTIONS} connections, ${SECONDS} s per scenario`);
  const db = await benchServer(config); // bench/bench-db.ts: DATABASE_URL's server, else the embedded PostgreSQL
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await Promise.resolve().then(fn).catch((e) => console.error('cleanup:', e));
  };
  if (db.embedded) cleanups.push(() => db.embedded!.stop());
  process.once('SIGINT', () => {
    // Only the PostgreSQL server outlives this process; everything else ends with it.
    console.log('\nInterrupted: stopping …');
    process.on('uncaughtException', () => undefined); // pooled connections drop while the server stops
    void Promise.resolve(db.embedded?.stop()).finally(() => process.exit(130));
  });
  console.log(`PostgreSQL: ${db.label}`);

  try {
    const { url, version: pgVersion, settings: pgSettings } = await createBenchDatabase(db, BENCH_DATABASE, {
      settings: ['fsync', 'synchronous_commit', 'shared_buffers', 'max_connections'],
    });

    const orm = await initOrm(url, { preparedStatements: config.preparedStatements });
    cleanups.push(() => orm.close());
    await migrate(orm);
    await seedDemoData(orm.em.fork());
    const sql = new pg.Pool({ connectionString: url, max: 2 });
    cleanups.push(() => sql.end());
    const q = async <T extends Record<string, any>>(text: string, params: unknown[] = []) => (await sql.query<T>(text, params)).rows;
    const postmasterPid = postmasterOf(Number((await q<{ pid: number }>('select pg_backend_pid() as pid'))[0].pid));
    if (PG_SCHED) console.log(`PostgreSQL's processes: ${scheduleAsBatch(postmasterPid)}`);
    await q('update stock_levels set quantity = $1', [STOCK_LEVEL]);
    // The last units (scenario 5): one product, kept out of the other scenarios, with exactly LAST_UNITS in stock.
    const activeProducts = (await q<{ id: number }>('select id from products where active order by id')).map((r) => r.id);
    const lastUnitsProduct = activeProducts[activeProducts.length - 1];
    const productIds = activeProducts.slice(0, -1);
    await q('update stock_levels set quantity = 0 where product_id = $1', [lastUnitsProduct]);
    await q('update stock_levels set quantity = $2 where product_id = $1 and location_id = (select min(location_id) from stock_levels where product_id = $1)', [lastUnitsProduct, LAST_UNITS]);
    await q('drop table if exists bench_stock_before');
    await q('create table bench_stock_before as select product_id, location_id, quantity from stock_levels');
    const [{ id: shippingMethodId }] = await q<{ id: number }>(`select id from shipping_methods where code = 'STANDARD'`);
    const [{ id: paymentMethodId }] = await q<{ id: number }>(`select id from payment_methods where code = 'INVOICE'`);

    const outside = await startOutside();
    cleanups.push(() => outside.stop());
    let workerProcess: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
    if (WORKER_PROCESS) {
      workerProcess = await startWorkerProcess(url, outside.smtpUrl, config);
      cleanups.push(() => workerProcess!.stop());
    } else {
      const mailWorker = new MailWorker(orm, outside.smtpUrl);
      const mailJob = await startJobs(url, config, [mailWorker.job(config.workerIntervalMs)], []);
      cleanups.push(() => mailWorker.close(), () => mailJob.stop(5000));
    }

    const built = createApp(orm, config, url);
    cleanups.push(() => built.close());
    const server = http.createServer(built.app);
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
    const baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    // With several app processes the load goes to them; this process's app only walks baskets and records statements.
    const appProcesses = APP_PROCESSES > 1 ? await startAppProcesses(url, config.sessionSecret) : undefined;
    if (appProcesses) cleanups.push(() => appProcesses.stop());
    const loadUrl = appProcesses?.baseUrl ?? baseUrl;
    const appUsage = appProcesses ? appProcesses.usage : async () => [ownUsage(mainThreadCpuSeconds())];
    const loopPauses = appProcesses ? undefined : watchLoopPauses();
    console.log(`App on ${loadUrl}${appProcesses ? ` (${APP_PROCESSES} processes)` : ''}${workerProcess ? `, background jobs in worker process ${workerProcess.pid}` : ', mail job on the app thread'} (database ${BENCH_DATABASE}); ready after ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

    const setup: LoadSetup = { baseUrl: loadUrl, productIds, shippingMethodId, paymentMethodId, seconds: SECONDS, connections: CONNECTIONS };
    const load = new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(__filename)});`, { eval: true, workerData: setup });
    cleanups.push(() => load.terminate());
    const inbox: FromWorker[] = [];
    let wake: (() => void) | undefined;
    load.on('message', (m: FromWorker) => { inbox.push(m); wake?.(); });
    load.on('error', (e) => { inbox.push({ failed: e.stack ?? String(e) }); wake?.(); });
    const receive = async (): Promise<FromWorker> => {
      while (inbox.length === 0) await new Promise<void>((r) => { wake = r; });
      return inbox.shift()!;
    };
    const ready = await receive();
    if (!('ready' in ready)) throw new Error('load worker failed: ' + ('failed' in ready ? ready.failed : '?'));
    let warmupPlaced = 0;
    const measure = async (scenario: Scenario, title: string, prepared?: PreparedOrder[][], refusalsExpected = false, payment?: Payment): Promise<Measured> => {
      process.stdout.write(`${title} … `);
      // As pgbench vacuums before each run: a scenario does not pay for the dead rows the one before left (the add
      // and pgbench rewrite the same 50 baskets tens of thousands of times in a minute, faster than autovacuum wakes).
      if (SETTLE) await q('vacuum (analyze)');
      if (WARMUP_SECONDS > 0 && !refusalsExpected) {
        load.postMessage({ run: scenario, prepared, payment, seconds: WARMUP_SECONDS } satisfies ToWorker);
        const warm = await receive();
        if ('failed' in warm) throw new Error(`${scenario} warm-up failed: ${warm.failed}`);
        if ('result' in warm && (scenario === 'place' || scenario === 'placeOnly')) warmupPlaced += warm.result.ok; // orders placed, not page views or adds
        prepared = undefined; // the worker goes on with the baskets the warm-up left
      }
      const profiling = await startProfile();
      const before = await appUsage();
      loopPauses?.reset();
      const workerBefore = workerProcess?.cpuSeconds();
      const dbBefore = databaseCpuSeconds(postmasterPid);
      const machineBefore = machineCpuSeconds();
      load.postMessage({ run: scenario, prepared, refusalsExpected, payment } satisfies ToWorker);
      const m = await receive();
      if ('failed' in m) throw new Error(`${scenario} failed: ${m.failed}`);
      if (!('result' in m)) throw new Error('unexpected message from the load worker');
      const { busy, cpuSeconds: used } = usageBetween(before, await appUsage());
      await profiling?.stop(title);
      const perRequest = (before?: number, after?: number) => (before === undefined || after === undefined ? undefined : ((after - before) * 1000) / Math.max(1, m.result.requests));
      m.result.app = {
        busy, cpuMsPerRequest: perRequest(0, used), workerCpuMsPerRequest: perRequest(workerBefore, workerProcess?.cpuSeconds()),
        dbCpuMsPerRequest: perRequest(dbBefore, databaseCpuSeconds(postmasterPid)), machineCpuMsPerRequest: perRequest(machineBefore, machineCpuSeconds()),
        pauses: loopPauses?.read(),
      };
      console.log(`done (${cpuSummary(m.result)})`);
      return m.result;
    };

    const ordersBefore = Number((await q<{ n: string }>('select count(*) as n from orders where completed'))[0].n);
    const product = ONLY.has('product') ? await measure('product', `1. GET /products/${PRODUCT_PAGE}`) : undefined;
    const returning = ONLY.has('returning') ? await measure('returning', `1b. GET /products/${PRODUCT_PAGE} (returning visitors)`) : undefined;
    const add = ONLY.has('add') ? await measure('add', '2. POST /cart/add') : undefined;
    const pgbench = add && process.env.BENCH_PGBENCH !== '0' ? await pgbenchAddToCart(baseUrl, url, productIds, q) : undefined;
    const place = ONLY.has('place') ? await measure('place', '3. checkout and place order') : undefined;
    const reviewStep = { baseUrl, q, shippingMethodId, paymentMethodId, secret: config.sessionSecret };
    let placeOnly: Measured | undefined;
    if (ONLY.has('placeOnly')) {
      process.stdout.write(`   preparing ${CONNECTIONS * PREPARED_PER_CONNECTION} baskets at the review step … `);
      const baskets = await prepareReviewBaskets(reviewStep, productIds[0], CONNECTIONS * PREPARED_PER_CONNECTION);
      console.log('done');
      placeOnly = await measure('placeOnly', '4. POST /checkout/place only', chunk(baskets, CONNECTIONS));
    }
    let lastUnits: Measured | undefined;
    if (ONLY.has('lastUnits')) {
      const baskets = await prepareReviewBaskets(reviewStep, lastUnitsProduct, 2 * LAST_UNITS);
      lastUnits = await measure('placeOnly', `5. ${2 * LAST_UNITS} shoppers place at once for the last ${LAST_UNITS} units`, chunk(baskets, 2 * LAST_UNITS), true);
    }

    // 6 and 7: every buyer wants the same product while the payment provider takes GATEWAY_LATENCY_MS to answer —
    // the card gateway (authorized while the shop waits), and the hosted page (its webhook sent 3 times, at random
    // moments around the shopper's return: whichever comes first completes the order).
    const [{ id: cardMethodId }] = await q<{ id: number }>(`select id from payment_methods where code = 'CARD'`);
    const [{ id: hostedMethodId }] = await q<{ id: number }>(`select id from payment_methods where code = 'PAYPAGE'`);
    const sandbox = built.services.payments.sandbox;
    // The provider sends each webhook 3 times, from the outside thread (a real provider's servers), not the app's.
    const deliver = (webhookUrl: string, webhook: { body: string; headers: Record<string, string> }) => {
      outside.send({ webhook: { url: webhookUrl, ...webhook, times: 3, spreadMs: 2 * GATEWAY_LATENCY_MS } });
    };
    const hotRun = async (payment: 'card' | 'hosted', title: string): Promise<Measured> => {
      process.stdout.write(`   preparing ${CONNECTIONS * PREPARED_PER_CONNECTION} baskets at the review step (${payment}) … `);
      const baskets = await prepareReviewBaskets({ ...reviewStep, paymentMethodId: payment === 'card' ? cardMethodId : hostedMethodId }, productIds[1], CONNECTIONS * PREPARED_PER_CONNECTION);
      console.log('done');
      sandbox.options.latencyMs = GATEWAY_LATENCY_MS;
      const webhookSender = sandbox.sendWebhook;
      sandbox.sendWebhook = deliver;
      try {
        return await measure('placeOnly', title, chunk(baskets, CONNECTIONS), false, payment);
      } finally {
        sandbox.options.latencyMs = 0;
        sandbox.sendWebhook = webhookSender;
      }
    };
    const hotCard = ONLY.has('hotCard') && !appProcesses ? await hotRun('card', `6. one product, card gateway answering in ${GATEWAY_LATENCY_MS} ms`) : undefined;
    const hotHosted = ONLY.has('hotHosted') && !appProcesses ? await hotRun('hosted', `7. one product, hosted payment page answering in ${GATEWAY_LATENCY_MS} ms, each webhook 3 times`) : undefined;
    // Late webhooks and reservations of baskets the time ran out on settle before the checks.
    await new Promise((r) => setTimeout(r, 3 * GATEWAY_LATENCY_MS));
    await q(`update payment_attempts set expires_at = now() where status = 'reserved'`);
    await built.services.checkout.releaseExpired(10_000);

    // The database must agree with what the shoppers were told.
    const [dup] = await q<{ n: string }>('select count(*) as n from (select number from orders where completed group by number having count(*) > 1) d');
    const [completed] = await q<{ n: string }>('select count(*) as n from orders where completed');
    const [negative] = await q<{ n: string }>('select count(*) as n from stock_levels where quantity < 0');
    const [taken] = await q<{ n: string }>('select coalesce(sum(b.quantity - s.quantity), 0) as n from stock_levels s join bench_stock_before b using (product_id, location_id)');
    const [lastLeft] = await q<{ n: string }>('select coalesce(sum(quantity), 0) as n from stock_levels where product_id = $1', [lastUnitsProduct]);
    const [sold] = await q<{ n: string }>('select coalesce(sum(l.quantity), 0) as n from order_lines l join orders o on o.id = l.order_id where o.completed');
    const placedInDb = Number(completed.n) - ordersBefore;
    const placedOk = warmupPlaced + (place?.ok ?? 0) + (placeOnly?.ok ?? 0) + (lastUnits?.ok ?? 0) + (hotCard?.ok ?? 0) + (hotHosted?.ok ?? 0);
    const [attempts] = await q<{ twice: string; open: string; charged: string; receipts: string }>(`select
      (select count(*) from (select order_id from payment_attempts where status = 'completed' group by order_id having count(*) > 1) d) as twice,
      (select count(*) from payment_attempts where status = 'reserved' or needs_void) as open,
      (select count(*) from sandbox_payments s where s.status = 'authorized' and not exists (select 1 from orders o where o.transaction_number = s.reference and o.completed)) as charged,
      (select count(*) from orders o where o.completed and (select count(*) from outbox_messages m where m.dedupe_key = 'receipt:' || o.id) <> 1) as receipts`);
    const checks = [
      ...(lastUnits ? [
        { name: `orders for the last ${LAST_UNITS} units (of ${2 * LAST_UNITS} tries; the rest refused with 409)`, value: lastUnits.ok, ok: lastUnits.ok === LAST_UNITS && (lastUnits.statuses['409'] ?? 0) === LAST_UNITS },
        { name: 'units left of that product', value: Number(lastLeft.n), ok: Number(lastLeft.n) === 0 },
      ] : []),
      { name: 'duplicate order numbers among completed orders', value: Number(dup.n), ok: Number(dup.n) === 0 },
      { name: `completed orders in DB (${placedInDb}) vs successful place responses (${placedOk})`, value: placedInDb - placedOk, ok: placedInDb === placedOk },
      { name: 'stock levels below zero', value: Number(negative.n), ok: Number(negative.n) === 0 },
      { name: 'orders completed by more than one payment attempt', value: Number(attempts.twice), ok: Number(attempts.twice) === 0 },
      { name: 'payment attempts still holding stock or waiting to be voided', value: Number(attempts.open), ok: Number(attempts.open) === 0 },
      { name: 'authorizations held at the provider without a completed order', value: Number(attempts.charged), ok: Number(attempts.charged) === 0 },
      { name: 'completed orders without exactly one receipt', value: Number(attempts.receipts), ok: Number(attempts.receipts) === 0 },
      { name: `units taken from stock (${taken.n}) vs units on completed orders (${sold.n})`, value: Number(taken.n) - Number(sold.n), ok: taken.n === sold.n },
    ];
    // The mail worker sends receipts in the background: how far behind is it, and how long does it take to catch up?
    const outboxNow = async () => (await q<{ queued: string; sent: string; failed: string }>(
      `select count(*) filter (where status = 'queued') as queued, count(*) filter (where status = 'sent') as sent, count(*) filter (where status = 'failed') as failed from outbox_messages`))[0];
    const outboxAtEnd = await outboxNow();
    const drainStarted = Date.now();
    let outbox = outboxAtEnd;
    while (Number(outbox.queued) > 0 && Date.now() - drainStarted < 60_000) {
      await new Promise((r) => setTimeout(r, 250));
      outbox = await outboxNow();
    }
    const drainSeconds = (Date.now() - drainStarted) / 1000;
    const [sessions] = await q<{ n: string }>('select count(*) as n from session');
    const { mailsCaught, webhooksSent } = await outside.counts();

    // Report
    const results = [
      { label: `1. product page GET /products/${PRODUCT_PAGE}`, unit: 'req/s', m: product },
      { label: `1b. product page, returning visitors (basket cookie)`, unit: 'req/s', m: returning },
      { label: '2. add to cart POST /cart/add (303)', unit: 'req/s', m: add },
      { label: '3. place order, whole checkout (9 requests per order)', unit: 'orders/s', m: place },
      { label: '4. place order, POST /checkout/place only (baskets prepared at the review step)', unit: 'orders/s', m: placeOnly },
      { label: `5. last ${LAST_UNITS} units, ${2 * LAST_UNITS} buyers at once (409 = refused, expected, not an error)`, unit: 'orders/s', m: lastUnits },
      { label: `6. one product, card gateway answering in ${GATEWAY_LATENCY_MS} ms`, unit: 'orders/s', m: hotCard },
      { label: `7. one product, hosted payment page + return (3 requests), ${GATEWAY_LATENCY_MS} ms provider latency, webhook storm (${webhooksSent} webhooks)`, unit: 'orders/s', m: hotHosted },
    ].filter((r): r is { label: string; unit: string; m: Measured } => r.m !== undefined);
    console.log('');
    for (const { label, unit, m } of results) {
      console.log(`${label}\n   ${rate(m.ok, m.seconds)} ${unit} ok over ${m.seconds.toFixed(1)} s; latency p50 ${ms(m.latency.p50)} ms, p95 ${ms(m.latency.p95)} ms, p99 ${ms(m.latency.p99)} ms, max ${ms(m.latency.max)} ms; errors ${m.errors}; statuses ${JSON.stringify(m.statuses)}`);
      if (m.app) console.log(`   ${cpuSummary(m)}${m.scenario === 'place' ? ` (per request: all ${m.requests} checkout requests)` : ''}`);
      for (const e of m.errorSamples) console.log(`   error: ${e}`);
    }
    if (add && pgbench) {
      console.log(`\n   pgbench, the same ${pgbench.statements} statements as one add-to-cart (${CONNECTIONS} clients, ${SECONDS} s, each on its own basket): ` +
        `${pgbench.tps.toFixed(0)} tps, latency average ${pgbench.latencyMs.toFixed(1)} ms, ${pgbench.failed} failed; ` +
        `app ÷ pgbench = ${((100 * add.ok) / add.seconds / pgbench.tps).toFixed(0)} % (script: ${pgbench.script})`);
      console.log(`   pgbench with synchronous_commit=off (commits as fast as a fast disk's): ${pgbench.fastCommits.tps.toFixed(0)} tps, ` +
        `latency average ${pgbench.fastCommits.latencyMs.toFixed(1)} ms; app ÷ pgbench = ${((100 * add.ok) / add.seconds / pgbench.fastCommits.tps).toFixed(0)} %`);
    }
    if (place) {
      console.log(`\n   checkout steps (${rate(place.requests, place.seconds)} req/s over all steps):`);
      for (const [name, p] of Object.entries(place.steps ?? {})) {
        console.log(`   ${name.padEnd(15)} n=${String(p.count).padStart(6)}  p50 ${ms(p.p50).padStart(6)}  p95 ${ms(p.p95).padStart(6)}  p99 ${ms(p.p99).padStart(6)} ms`);
      }
    }
    console.log('\nDatabase checks after the place-order run:');
    for (const c of checks) console.log(`   ${c.ok ? 'OK  ' : 'FAIL'} ${c.name}: ${c.value}`);
    console.log(`   mail outbox when the load stopped: ${outboxAtEnd.sent} sent, ${outboxAtEnd.queued} queued; ` +
      `${Number(outbox.queued) ? `still ${outbox.queued} queued after` : 'all sent'} ${drainSeconds.toFixed(1)} s later (${outbox.failed} failed, ${mailsCaught} caught by the SMTP catcher)`);
    console.log(`   session rows stored: ${sessions.n}`);
    // Every non-HOT update of an order inserts into each of its indexes whose predicate the row meets (issue 15).
    // Pooled backends report their counts up to 10 s late (PGSTAT_IDLE_INTERVAL): a sample, read it as a ratio.
    const [upd] = await q<{ upd: string; hot: string }>(`select n_tup_upd as upd, n_tup_hot_upd as hot from pg_stat_user_tables where relname = 'orders'`);
    console.log(`   orders row updates reported so far: ${upd.upd}, of them HOT (no index entries written): ${upd.hot} (${((100 * Number(upd.hot)) / Math.max(1, Number(upd.upd))).toFixed(0)} %)`);

    const cpus = os.cpus();
    console.log('\n| scenario | throughput | p50 ms | p95 ms | p99 ms | errors / non-2xx* | app CPU ms / request | PostgreSQL CPU ms / request | machine CPU ms / request |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    const cpuMs = (v?: number) => (v === undefined ? '–' : v.toFixed(2));
    for (const { label, unit, m } of results) {
      console.log(`| ${label} | ${rate(m.ok, m.seconds)} ${unit} | ${ms(m.latency.p50)} | ${ms(m.latency.p95)} | ${ms(m.latency.p99)} | ${m.errors} | ${cpuMs(m.app?.cpuMsPerRequest)} | ${cpuMs(m.app?.dbCpuMsPerRequest)} | ${cpuMs(m.app?.machineCpuMsPerRequest)} |`);
    }
    console.log(`\n\\* errors = connection errors + timeouts + unexpected statuses (for 2 and 3 a 303 is success; for 3 any failed step counts).`);
    console.log(`App CPU ms / request: CPU time of ${appProcesses ? `the ${APP_PROCESSES} app processes` : 'the app thread'} divided by the requests completed (for 3: every step of the checkout, 9 per order); ` +
      'PostgreSQL: every process of the bench\'s PostgreSQL server; machine: all cores\' busy time (app, load generator, PostgreSQL, the bench\'s SMTP catcher, anything else running).');
    console.log(`Checks: ${checks.map((c) => `${c.ok ? 'OK' : 'FAIL'} ${c.name.replace(/ \(.*/, '')}`).join('; ')}.`);
    console.log(`\nMachine: nproc ${os.availableParallelism()}, ${cpus[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, load average (1/5/15 min) before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; ` +
      `node ${process.version}; PostgreSQL ${pgVersion} (${pgSettings.map((r) => `${r.name}=${r.setting}`).join(', ')}${PG_SCHED ? ', its processes SCHED_BATCH' : ''}); ` +
      `${CONNECTIONS} connections, ${SECONDS} s per scenario, NODE_ENV=${process.env.NODE_ENV}; app (${APP_PROCESSES} process${APP_PROCESSES > 1 ? 'es' : ''}${workerProcess ? ' + a PROCESS_ROLE=worker process running the jobs' : ', the mail job on its thread'}), load generator (worker thread) and PostgreSQL share this machine.`);

    if (!checks.every((c) => c.ok)) process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

// ---------------------------------------------------------------------------------------------------------
// App processes (BENCH_APP_PROCESSES > 1): node:cluster workers, each the real app, sharing one port

type FromApp = { listening: true } | { usage: AppUsage };

async function startAppProcesses(databaseUrl: string, sessionSecret: string) {
  const port = await freePort();
  const env = { BENCH_APP_DATABASE_URL: databaseUrl, BENCH_APP_PORT: String(port), SESSION_SECRET: sessionSecret };
  const workers = Array.from({ length: APP_PROCESSES }, () => cluster.fork(env));
  await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
    w.on('message', (m: FromApp) => { if ('listening' in m) resolve(); });
    w.once('exit', (code) => reject(new Error(`app process exited (${code}) before listening`)));
  })));
  const ask = (w: (typeof workers)[number]) => new Promise<AppUsage>((resolve) => {
    const onMessage = (m: FromApp) => {
      if (!('usage' in m)) return;
      w.off('message', onMessage);
      resolve(m.usage);
    };
    w.on('message', onMessage);
    w.send('usage');
  });
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    usage: () => Promise.all(workers.map(ask)),
    stop: () => Promise.all(workers.map((w) => new Promise<void>((resolve) => { w.once('exit', () => resolve()); w.kill(); }))),
  };
}

/**
 * BENCH_WORKER_PROCESS=1: the real server as a worker (src/server.ts, PROCESS_ROLE=worker) on the bench database,
 * sending to the outside thread's SMTP catcher; resolves once its jobs run. Its output is shown only if it fails.
 */
async function startWorkerProcess(databaseUrl: string, smtpUrl: string, config: ReturnType<typeof loadConfig>) {
  const exportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orderflow-bench-export-'));
  // The node flags production starts with (package.json's start scripts; `npm run bench` passes them to this process).
  const nodeFlags = process.execArgv.filter((a) => a.startsWith('--max-semi-space-size'));
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', 'src/server.ts'], {
    cwd: path.resolve(__dirname, '..'),
    env: {
      ...process.env, PROCESS_ROLE: 'worker', NODE_ENV: 'production', DATABASE_URL: databaseUrl, SMTP_URL: smtpUrl, DEMO: '1',
      SESSION_SECRET: config.sessionSecret, WORKER_INTERVAL_MS: String(config.workerIntervalMs), EXPORT_DIR: exportDir, EXPORT_XSL: '', LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const keep = (chunk: Buffer) => {
      out = (out + chunk.toString('utf8')).slice(-20_000);
      if (out.includes('Orderflow worker running')) resolve();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    void exited.then((code) => reject(new Error(`the worker process exited (${code}) before its jobs ran:\n${out}`)));
  });
  return {
    pid: child.pid!,
    cpuSeconds: () => mainThreadCpuSeconds(child.pid!), // the whole process: every thread of the worker
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      fs.rmSync(exportDir, { recursive: true, force: true });
    },
  };
}

/** One app process of the cluster: the real app on the shared port; answers "usage" with its CPU and event-loop times. */
async function appProcess(): Promise<void> {
  const url = process.env.BENCH_APP_DATABASE_URL!;
  const config = loadConfig();
  const orm = await initOrm(url, { preparedStatements: config.preparedStatements });
  const built = createApp(orm, config, url);
  const server = http.createServer(built.app);
  server.listen(Number(process.env.BENCH_APP_PORT), '127.0.0.1', () => process.send!({ listening: true } satisfies FromApp));
  process.on('disconnect', () => process.exit(0)); // the bench ended or died
  process.on('message', (m) => {
    if (m !== 'usage') return;
    const cpu = process.cpuUsage();
    process.send!({ usage: ownUsage((cpu.user + cpu.system) / 1e6) } satisfies FromApp);
  });
}

/**
 * Logs as production does (JSON lines, `LOG_LEVEL`, default info: one line per request, written synchronously as
 * process.stdout is on Linux) but into /dev/null, so the bench pays for logging as a real deployment does without the
 * development pretty-printer or a terminal (an fs stream would add a thread-pool write per line production never pays).
 */
function productionLogging(): void {
  configureLogging({ production: true, level: loadConfig().logLevel, destination: pino.destination({ dest: '/dev/null', sync: true }) });
}

if (isMainThread) productionLogging(); // app processes of the cluster are main threads too

if (cluster.isWorker) {
  appProcess().catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else if (isMainThread) {
  main().then(
    () => process.exit(),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
} else if ((workerData as { outside?: boolean }).outside) {
  outsideWorker();
} else {
  loadWorker();
}
