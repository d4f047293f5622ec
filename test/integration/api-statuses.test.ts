/**
 * The OpenAPI document lists exactly the statuses the API answers with, per operation, and exactly the error codes:
 * every answer below is a real request against the real app and database (the 500 breaks this file's own database,
 * the 503 cancels the statements waiting on a lock, as a stalled server's statement timeout would, the 429 runs a
 * second app with a limit of 2 requests per key), and the
 * statuses seen per operation must equal the statuses documented for it.
 */
import pg from 'pg';
import request from 'supertest';
import { apiProblem } from '../../src/integration/api.routes';
import { placeGuestOrder } from '../helpers/shopping';
import { startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
let doc: any;
const keys: Record<'full' | 'readOnly' | 'writeOnly', string> = { full: '', readOnly: '', writeOnly: '' };

beforeAll(async () => {
  t = await startTestApp();
  doc = (await request(t.app).get('/api/v1/openapi.json').expect(200)).body;
  const [{ id }] = await t.sql(`select id from users where email = 'admin@orderflow.test'`);
  keys.full = (await t.services.api.createKey({ name: 'All', scopes: ['orders:read', 'orders:write', 'payments:capture'] }, id)).secret;
  keys.readOnly = (await t.services.api.createKey({ name: 'Read', scopes: ['orders:read'] }, id)).secret;
  keys.writeOnly = (await t.services.api.createKey({ name: 'Write', scopes: ['orders:write'] }, id)).secret;
});
afterAll(async () => { await t.close(); });

type Op = 'GET /openapi.json' | 'GET /orders' | 'GET /orders/{number}' | 'POST /orders/{number}/state' | 'POST /orders/{number}/tracking'
  | 'POST /orders/{number}/capture' | 'POST /orders/{number}/exported';
/** Per operation: status → the error codes seen with it ('' for a success). */
const seen = new Map<Op, Map<number, Set<string>>>();

function record(op: Op, res: request.Response, expected: number, code = '') {
  expect([op, expected, code, res.status, res.body?.error?.code ?? '']).toEqual([op, expected, code, expected, code]);
  if (expected >= 400) expect(res.headers['content-type']).toMatch(/application\/json/);
  const statuses = seen.get(op) ?? new Map<number, Set<string>>();
  seen.set(op, statuses);
  statuses.set(expected, (statuses.get(expected) ?? new Set()).add(code));
}

const call = (method: 'get' | 'post', path: string, key: string | null = keys.full) => {
  const req = request(t.app)[method](`/api/v1${path}`);
  return key ? req.set('Authorization', `Bearer ${key}`) : req;
};
const stateId = async (name: string) =>
  (await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = 'Standard order flow' and s.name = $1`, [name]))[0].id as number;

const WRITES = [
  ['POST /orders/{number}/state', 'state', async () => ({ stateId: await stateId('Received') })],
  ['POST /orders/{number}/tracking', 'tracking', async () => ({ trackingNumber: 'JJD0001' })],
  ['POST /orders/{number}/capture', 'capture', async () => ({ amountMinor: 100 })],
  ['POST /orders/{number}/exported', 'exported', async () => ({})],
] as const;

describe('the API answers with the statuses and codes its document lists, and only those', () => {
  it('drives every answer of every operation with a real request', async () => {
    const number = await placeGuestOrder(t, 'P-1050');
    record('GET /openapi.json', await call('get', '/openapi.json', null), 200);
    record('GET /orders', await call('get', '/orders'), 200);
    record('GET /orders', await call('get', '/orders', null), 401, 'UNAUTHENTICATED');
    record('GET /orders', await call('get', '/orders', keys.writeOnly), 403, 'FORBIDDEN');
    record('GET /orders', await call('get', '/orders?limit=0'), 422, 'VALIDATION');
    const one = 'GET /orders/{number}';
    record(one, await call('get', `/orders/${number}`), 200);
    record(one, await call('get', `/orders/${number}`, null), 401, 'UNAUTHENTICATED');
    record(one, await call('get', `/orders/${number}`, keys.writeOnly), 403, 'FORBIDDEN');
    record(one, await call('get', '/orders/ORDER999999'), 404, 'NOT_FOUND');
    record(one, await call('get', '/orders/ORDER%E0%A4%A'), 400, 'BAD_REQUEST');

    for (const [op, path, body] of WRITES) {
      const fresh = await placeGuestOrder(t, 'P-1050');
      record(op, await call('post', `/orders/${fresh}/${path}`).send(await body()), 200);
      record(op, await call('post', `/orders/${fresh}/${path}`, null).send(await body()), 401, 'UNAUTHENTICATED');
      record(op, await call('post', `/orders/${fresh}/${path}`, keys.readOnly).send(await body()), 403, 'FORBIDDEN');
      record(op, await call('post', `/orders/ORDER999999/${path}`).send(await body()), 404, 'NOT_FOUND');
      record(op, await call('post', `/orders/ORDER%E0%A4%A/${path}`).send(await body()), 400, 'BAD_REQUEST');
      record(op, await call('post', `/orders/${fresh}/${path}`).type('json').send('{"a": '), 400, 'BAD_REQUEST');
      record(op, await call('post', `/orders/${fresh}/${path}`).type('json').send(JSON.stringify({ pad: 'x'.repeat(300_000) })), 413, 'TOO_LARGE');
      record(op, await call('post', `/orders/${fresh}/${path}`).type('form').send('stateId=2'), 415, 'UNSUPPORTED_MEDIA_TYPE');
      record(op, await call('post', `/orders/${fresh}/${path}`).send({ ...(await body()), unknown: 1 }), 422, 'VALIDATION');
      // The same Idempotency-Key for another request (here: another order).
      await call('post', `/orders/${fresh}/${path}`).set('Idempotency-Key', `k-${path}`).send(await body());
      record(op, await call('post', `/orders/${number}/${path}`).set('Idempotency-Key', `k-${path}`).send(await body()), 422, 'IDEMPOTENCY_KEY_REUSED');
    }

    const state = 'POST /orders/{number}/state';
    record(state, await call('post', `/orders/${number}/state`).send({ stateId: await stateId('Shipped') }), 409, 'TRANSITION_NOT_ALLOWED');
    record(state, await call('post', `/orders/${number}/state`).send({ stateId: await stateId('Received'), expectedVersion: 1 }), 409, 'CONFLICT');
    const capture = 'POST /orders/{number}/capture';
    record(capture, await call('post', `/orders/${number}/capture`).send({ amountMinor: 999_999_999 }), 409, 'CONFLICT');
    // The provider no longer knows the authorization: it refuses the capture.
    await t.sql(`update orders set transaction_number = 'gone-' || number where number = $1`, [number]);
    record(capture, await call('post', `/orders/${number}/capture`).send({ amountMinor: 100 }), 402, 'PAYMENT_DECLINED');
  });

  const databaseOps = async () => {
    const number = await placeGuestOrder(t, 'P-1050');
    return [
      ['GET /orders', () => call('get', '/orders')],
      ['GET /orders/{number}', () => call('get', `/orders/${number}`)],
      ...WRITES.map(([op, path, body]) => [op, async () => call('post', `/orders/${number}/${path}`).send(await body())]),
    ] as [Op, () => Promise<request.Response>][];
  };

  it('503 UNAVAILABLE with Retry-After when the database cancels the statement (as a stalled server\u2019s timeout does)', async () => {
    const ops = await databaseOps();
    const blocker = new pg.Client({ connectionString: t.orm.config.get('clientUrl') });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table api_keys in access exclusive mode');
      const answers = ops.map(([, send]) => send().then((r) => r));
      const waiting = async () => (await t.sql<{ pid: number }>(
        `select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and pid <> $1`, [(blocker as any).processID]));
      for (let i = 0; i < 400 && (await waiting()).length < ops.length; i++) await new Promise((r) => setTimeout(r, 25));
      const pids = await waiting();
      expect(pids).toHaveLength(ops.length);
      for (const { pid } of pids) await t.sql('select pg_cancel_backend($1)', [pid]);
      const results = await Promise.all(answers);
      results.forEach((res, i) => {
        record(ops[i][0], res, 503, 'UNAVAILABLE');
        expect(res.headers['retry-after']).toMatch(/^\d+$/);
      });
    } finally {
      await blocker.query('rollback').catch(() => undefined);
      await blocker.end();
    }
  });

  it('500 INTERNAL (with the request id) for a fault on our side: here a column the API reads is missing', async () => {
    const ops = await databaseOps();
    await t.sql('alter table api_keys rename column scopes to scopes_gone');
    try {
      for (const [op, send] of ops) {
        const res = await send();
        record(op, res, 500, 'INTERNAL');
        expect(res.body.error.requestId).toBe(res.headers['x-request-id']);
      }
    } finally {
      await t.sql('alter table api_keys rename column scopes_gone to scopes');
    }
    // The one mapping says the same for anything unexpected.
    expect(apiProblem(new TypeError('x is undefined'))).toMatchObject({ status: 500, body: { error: { code: 'INTERNAL' } } });
  });

  it('429 RATE_LIMITED with Retry-After once a key has sent API_RATE_LIMIT requests in the window; other keys go on', async () => {
    const limited = await startTestApp({ apiRateLimit: { windowMs: 60_000, max: 2 } });
    try {
      const [{ id }] = await limited.sql(`select id from users where email = 'admin@orderflow.test'`);
      const scopes = ['orders:read', 'orders:write', 'payments:capture'] as const;
      const busy = (await limited.services.api.createKey({ name: 'Busy', scopes: [...scopes] }, id)).secret;
      const calm = (await limited.services.api.createKey({ name: 'Calm', scopes: [...scopes] }, id)).secret;
      const send = (method: 'get' | 'post', path: string, key: string) => request(limited.app)[method](`/api/v1${path}`).set('Authorization', `Bearer ${key}`);
      await send('get', '/orders', busy).expect(200);
      await send('get', '/orders', busy).expect(200);
      const number = (await limited.sql(`select number from orders where type = 'order' and completed limit 1`))[0]?.number ?? 'ORDER1';
      const ops: [Op, () => request.Test][] = [
        ['GET /orders', () => send('get', '/orders', busy)],
        ['GET /orders/{number}', () => send('get', `/orders/${number}`, busy)],
        ...WRITES.map(([op, path]): [Op, () => request.Test] => [op, () => send('post', `/orders/${number}/${path}`, busy).send({})]),
      ];
      for (const [op, go] of ops) {
        const res = await go();
        record(op, res, 429, 'RATE_LIMITED');
        expect(res.headers['retry-after']).toMatch(/^\d+$/);
      }
      await send('get', '/orders', calm).expect(200);
    } finally {
      await limited.close();
    }
  });

  it('per operation, the statuses seen are exactly the documented ones; the error codes seen are exactly the documented ones', () => {
    const documented: Record<string, number[]> = {};
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)) {
      for (const [method, op] of Object.entries(ops)) documented[`${method.toUpperCase()} ${path}`] = Object.keys(op.responses).map(Number).sort();
    }
    const observed = Object.fromEntries([...seen].map(([op, statuses]) => [op, [...statuses.keys()].sort()]));
    expect(observed).toEqual(documented);
    const codes = new Set([...seen.values()].flatMap((statuses) => [...statuses.values()].flatMap((c) => [...c])).filter(Boolean));
    expect([...codes].sort()).toEqual([...doc.components.schemas.Error.properties.error.properties.code.enum].sort());
  });
});
