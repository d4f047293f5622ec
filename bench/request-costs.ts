/**
 * What each storefront request costs, one request type at a time: `npm run bench:requests` (REQUESTS=300 repeats,
 * SHOW_SQL=0 to leave the statements out, PROFILE=dir to write a .cpuprofile per request type, HEAP_PROFILE=dir a
 * .heapprofile of everything allocated — garbage included — and the bytes allocated per request).
 *
 * One shopper walks the storefront as the checkout bench does (add, product page, basket, each checkout step, place,
 * receipt) against the real app in this process, on a fresh `orderflow_requests` database. For each request type it
 * prints the SQL statements the app sends (recorded as bench/sql-recorder.ts does) and the CPU time of the process's
 * main thread per request over REQUESTS repeats, one after the other (no concurrency, so the figure is the request's
 * own work; the client's share is in it too, ~0.1 ms). Run it before and after a change, a few minutes apart: the
 * figures move with the machine's load, the statement counts do not. Timings belong here, never in test assertions.
 */
import fs from 'node:fs';
import http from 'node:http';
import inspector from 'node:inspector/promises';
import pino from 'pino';
import { createApp } from '../src/app';
import { loadConfig } from '../src/config';
import { initOrm } from '../src/db/database';
import { configureLogging } from '../src/shared/log';
import { cookieHeader, keepCookies } from '../test/helpers/cookie-jar';
import { benchServer, createBenchDatabase, migrateAndSeed, positiveInt } from './bench-db';
import { cpuSeconds } from './proc-stat';
import { recordStatements } from './sql-recorder';

process.env.NODE_ENV = 'production'; // cached templates, as in production
process.env.SESSION_SECRET ||= 'bench-only-session-secret-of-32-characters';

const REQUESTS = positiveInt(process.env.REQUESTS, 300);
const SHOW_SQL = process.env.SHOW_SQL !== '0';
const PROFILE_DIR = process.env.PROFILE;
const HEAP_PROFILE_DIR = process.env.HEAP_PROFILE;
/** One sample per this many bytes allocated (V8's default is 32 KiB: too coarse for one request's garbage). */
const HEAP_SAMPLING_BYTES = 4096;
const ADDRESS = {
  billing_name: 'Kim Customer', billing_company: '', billing_address: 'Main Street 1', billing_address2: '',
  billing_zip: '2100', billing_city: 'Copenhagen', billing_country: 'DK', billing_region: '', billing_phone: '', billing_email: 'kim@example.test',
  deliverySameAsBilling: 'on',
};

const CARD = { cardHolder: 'Kim Customer', cardNumber: '4242 4242 4242 4242', cardExpiry: '12/39', cardCvc: '123' };

function treeBytes(node: inspector.HeapProfiler.SamplingHeapProfileNode): number {
  return node.selfSize + node.children.reduce((sum, child) => sum + treeBytes(child), 0);
}

async function main(): Promise<void> {
  const config = loadConfig();
  configureLogging({ production: true, level: config.logLevel, destination: pino.destination({ dest: '/dev/null', sync: true }) });
  const server = await benchServer(config);
  try {
    const db = await createBenchDatabase(server, process.env.BENCH_DATABASE ?? 'orderflow_requests');
    await migrateAndSeed(db.url);
    const orm = await initOrm(db.url, { preparedStatements: config.preparedStatements });
    const built = createApp(orm, config, db.url);
    const app = http.createServer(built.app);
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const port = (app.address() as { port: number }).port;
    try {
      await walk(port, async (text, values) => orm.em.fork().execute(text, values));
    } finally {
      app.closeAllConnections();
      app.close();
      await built.close();
      await orm.close();
    }
  } finally {
    await server.embedded?.stop();
  }
}

async function walk(port: number, sql: (text: string, values?: unknown[]) => Promise<Record<string, any>[]>): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const jar = new Map<string, string>();
  let csrf = '';
  const request = (method: 'GET' | 'POST', path: string, form?: Record<string, string | number>) => new Promise<{ status: number; location?: string; body: string }>((resolve, reject) => {
    const body = form ? new URLSearchParams(Object.entries({ ...form, _csrf: csrf }).map(([k, v]): [string, string] => [k, String(v)])).toString() : undefined;
    const headers: http.OutgoingHttpHeaders = { cookie: cookieHeader(jar), accept: 'text/html' };
    if (body) Object.assign(headers, { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) });
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        keepCookies(jar, res.headers['set-cookie']);
        const text = Buffer.concat(chunks).toString('utf8');
        csrf = /name="_csrf" value="([^"]+)"/.exec(text)?.[1] ?? csrf; // as a browser: the token of the page seen last
        resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
  const [{ id: shippingMethodId }] = await sql(`select id from shipping_methods where code = 'STANDARD'`);
  const [{ id: paymentMethodId }] = await sql(`select id from payment_methods where code = 'INVOICE'`);
  const [{ id: cardMethodId }] = await sql(`select id from payment_methods where code = 'CARD'`);
  const [{ id: productId }] = await sql(`select id from products where number = 'P-1013'`);
  await sql('update stock_levels set quantity = 10000000');

  /** Records the statements of one request, then repeats it (or `again`) REQUESTS times for the CPU figure. */
  /** `setup` runs before each repeat of `again`, outside the CPU figure (what a request that changes the basket needs first). */
  const measure = async (name: string, once: () => Promise<{ status: number }>, again: (() => Promise<unknown>) | null = once, setup?: () => Promise<unknown>) => {
    let status = 0;
    const statements = await recordStatements(async () => { status = (await once()).status; });
    let cpu = '';
    if (again) {
      for (let i = 0; i < 20; i++) { await setup?.(); await again(); } // warm-up
      const session = PROFILE_DIR || HEAP_PROFILE_DIR ? new inspector.Session() : undefined;
      if (session) session.connect();
      if (session && PROFILE_DIR) { await session.post('Profiler.enable'); await session.post('Profiler.start'); }
      // Garbage too: what a request allocates is what the scavenger (and its helper threads) must sweep up.
      if (session && HEAP_PROFILE_DIR) await session.post('HeapProfiler.startSampling', { samplingInterval: HEAP_SAMPLING_BYTES, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      let spent = 0;
      for (let i = 0; i < REQUESTS; i++) {
        await setup?.();
        const before = cpuSeconds() * 1000; // 10 ms ticks: summed over many requests the figure is fair
        await again();
        spent += cpuSeconds() * 1000 - before;
      }
      cpu = `, ${(spent / REQUESTS).toFixed(2)} ms CPU per request`;
      const file = name.replace(/\W+/g, '-');
      if (session && PROFILE_DIR) {
        const { profile } = await session.post('Profiler.stop');
        fs.mkdirSync(PROFILE_DIR, { recursive: true });
        fs.writeFileSync(`${PROFILE_DIR}/${file}.cpuprofile`, JSON.stringify(profile));
      }
      if (session && HEAP_PROFILE_DIR) {
        const { profile } = await session.post('HeapProfiler.stopSampling');
        fs.mkdirSync(HEAP_PROFILE_DIR, { recursive: true });
        fs.writeFileSync(`${HEAP_PROFILE_DIR}/${file}.heapprofile`, JSON.stringify(profile));
        const bytes = treeBytes(profile.head); // the nodes' sizes are scaled up for the sampling, the samples' are not
        cpu += `, ~${Math.round(bytes / REQUESTS / 1024)} KiB allocated per request (client included)`;
      }
      session?.disconnect();
    }
    console.log(`${name}: ${status}, ${statements.length} statements${cpu}`);
    if (SHOW_SQL) for (const s of statements) console.log('    ' + s.text.replace(/\s+/g, ' ').slice(0, 150));
  };

  await request('GET', '/');
  const add = () => request('POST', '/cart/add', { productId, quantity: 1 });
  await measure('POST /cart/add (first: a new basket; then its page)', async () => { const r = await add(); await request('GET', r.location!); return r; }, null);
  await measure('POST /cart/add (the basket exists)', add);
  await request('GET', '/cart'); // shows the flash message of the last add
  // As a browser adds: the add and the page it redirects to, which shows (and so uses up) the add's message.
  await measure('POST /cart/add + the page it leads to (a browser)', async () => { const r = await add(); await request('GET', r.location!); return r; });
  await measure('GET /products/P-1013 (returning visitor: basket)', () => request('GET', '/products/P-1013'));
  await measure('GET /cart', () => request('GET', '/cart'));
  const startCheckout = () => request('POST', '/checkout', {});
  // Repeated: an add first makes the order a cart again (downgrade-on-change), outside the figure.
  await measure('POST /checkout (the cart becomes an order)', startCheckout, startCheckout, add);
  await measure('GET /checkout/addresses', () => request('GET', '/checkout/addresses'));
  await measure('POST /checkout/addresses', () => request('POST', '/checkout/addresses', ADDRESS));
  await measure('GET /checkout/methods', () => request('GET', '/checkout/methods'));
  await measure('POST /checkout/methods', () => request('POST', '/checkout/methods', { shippingMethodId, paymentMethodId }));
  const review = await request('GET', '/checkout/review');
  const number = /name="orderNumber" value="([^"]+)"/.exec(review.body)?.[1];
  if (!number) throw new Error(`no order number on the review page (${review.status})`);
  await measure('GET /checkout/review', () => request('GET', '/checkout/review'));
  const place = (orderNumber: string) => request('POST', '/checkout/place', { orderNumber, customerComment: '' });
  let next = '';
  // Repeated: a new basket walked to the review step first, outside the figure.
  const toReview = async (payWith = paymentMethodId) => {
    await add();
    await startCheckout();
    await request('POST', '/checkout/addresses', ADDRESS);
    await request('POST', '/checkout/methods', { shippingMethodId, paymentMethodId: payWith });
    next = /name="orderNumber" value="([^"]+)"/.exec((await request('GET', '/checkout/review')).body)?.[1] ?? '';
  };
  await measure('POST /checkout/place (invoice)', () => place(number), () => place(next), toReview);
  // The sandbox card gateway (SANDBOX_GATEWAY_LATENCY_MS, 0 unless set): reserve, authorize, confirm.
  const placeByCard = () => request('POST', '/checkout/place', { orderNumber: next, customerComment: '', ...CARD });
  await toReview(cardMethodId);
  await measure('POST /checkout/place (card)', placeByCard, placeByCard, () => toReview(cardMethodId));
  await measure('GET /checkout/receipt/:number', () => request('GET', `/checkout/receipt/${next}`));
  // The same shopper registers: a logged-in shopper's page and add (passport reads the user on each request).
  await request('GET', '/register');
  const registered = await request('POST', '/register', { name: 'Kim Customer', email: `kim-${Date.now()}@example.test`, password: 'bench-pass-12345' });
  if (registered.status !== 303) throw new Error(`register failed (${registered.status})`);
  await request('GET', '/products/P-1013');
  await measure('GET /products/P-1013 (logged-in shopper)', () => request('GET', '/products/P-1013'));
  await measure('POST /cart/add (logged-in shopper, the basket exists)', async () => { const r = await add(); await request('GET', '/products/P-1013'); return r; }, add);
  agent.destroy();
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
