import { createHash } from 'node:crypto';
import pg from 'pg';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { apiRoutes } from '../../src/integration/api.routes';
import { placeGuestOrder } from '../helpers/shopping';
import { insertableColumns } from '../helpers/table-columns';
import { csrfToken, login, newAgent, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
/** One key with every permission, and one per single permission. */
let full: string;
let readOnly: string;
let writeOnly: string;
let captureOnly: string;

beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
  full = (await createKey('ERP production', ['orders:read', 'orders:write', 'payments:capture'])).secret;
  readOnly = (await createKey('Reporting', ['orders:read'])).secret;
  writeOnly = (await createKey('Warehouse', ['orders:write'])).secret;
  captureOnly = (await createKey('Billing', ['payments:capture'])).secret;
});
afterAll(async () => { await t.close(); });

// ——— helpers ———

const PRODUCT = 'P-1050';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The staff form, as a browser sends it (repeated "scopes" fields). */
async function postKeyForm(agent: TestAgent, fields: [string, string][]) {
  const token = await csrfToken(agent, '/admin/settings/api-keys');
  const body = new URLSearchParams([['_csrf', token], ...fields]).toString();
  return agent.post('/admin/settings/api-keys').type('form').send(body);
}

async function createKey(name: string, scopes: string[]): Promise<{ secret: string; page: string; res: request.Response }> {
  const res = await postKeyForm(staff, [['name', name], ...scopes.map((s): [string, string] => ['scopes', s])]);
  if (res.status !== 201) throw new Error(`creating key ${name} failed: ${res.status} ${res.text.slice(0, 500)}`);
  const m = /value="(of_live_[A-Za-z0-9_-]+)"/.exec(res.text);
  if (!m) throw new Error('no key on the created page');
  return { secret: m[1], page: res.text, res };
}

const api = () => request(t.app);
const get = (path: string, key: string | null = full) => {
  const req = api().get(`/api/v1${path}`);
  return key ? req.set('Authorization', `Bearer ${key}`) : req;
};
const post = (path: string, body: unknown, key: string | null = full, idempotencyKey?: string) => {
  let req = api().post(`/api/v1${path}`);
  if (key) req = req.set('Authorization', `Bearer ${key}`);
  if (idempotencyKey) req = req.set('Idempotency-Key', idempotencyKey);
  return req.send(body as object);
};

const stateId = async (flow: string, name: string) =>
  (await t.sql('select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = $1 and s.name = $2', [flow, name]))[0].id as number;
const orderRow = async (number: string) => (await t.sql(
  `select o.id::int, o.version, s.name as state, o.captured_minor::int as captured, o.total_minor::int as total, o.capture_state,
          o.exported, o.api_tracking_number, o.tracking_url
   from orders o left join flow_states s on s.id = o.state_id where o.number = $1`, [number]))[0];
const captures = async (number: string) => t.sql<{ amount: number }>(
  `select p.amount_minor::int as amount from payment_transactions p join orders o on o.id = p.order_id
   where o.number = $1 and p.operation = 'capture' and p.success order by p.id`, [number]);
const placed = () => placeGuestOrder(t, PRODUCT);

function expectError(res: request.Response, status: number, code: string) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(typeof res.body.error.message).toBe('string');
  expect(res.body.error.message.length).toBeGreaterThan(0);
  expect(res.headers['content-type']).toMatch(/application\/json/);
  validate(res.body, ref('Error'));
}

// ——— a small JSON Schema checker for what the document uses (type, enum, properties, required, items, anyOf, $ref, limits) ———

let doc: any;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

function resolve(schema: any): any {
  if (schema?.$ref) {
    const target = schema.$ref.replace('#/', '').split('/').reduce((o: any, k: string) => o?.[k], doc);
    if (!target) throw new Error(`unresolved ${schema.$ref}`);
    return { ...resolve(target), ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$ref')) };
  }
  return schema;
}

function problems(value: unknown, raw: any, path = '$'): string[] {
  const schema = resolve(raw);
  if (!schema || Object.keys(schema).length === 0) return [];
  if (schema.anyOf) return schema.anyOf.some((s: any) => problems(value, s, path).length === 0) ? [] : [`${path}: matches none of anyOf`];
  const out: string[] = [];
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
    if (!types.some((ty: string) => ty === actual || (ty === 'number' && actual === 'integer'))) return [`${path}: is ${actual}, documented ${types.join('|')}`];
  }
  if (schema.enum && !schema.enum.includes(value)) out.push(`${path}: ${JSON.stringify(value)} not in enum`);
  if (typeof value === 'string') {
    if (schema.minLength != null && value.length < schema.minLength) out.push(`${path}: shorter than ${schema.minLength}`);
    if (schema.maxLength != null && value.length > schema.maxLength) out.push(`${path}: longer than ${schema.maxLength}`);
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) out.push(`${path}: does not match ${schema.pattern}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum != null && value < schema.minimum) out.push(`${path}: below ${schema.minimum}`);
    if (schema.exclusiveMinimum != null && value <= schema.exclusiveMinimum) out.push(`${path}: not above ${schema.exclusiveMinimum}`);
    if (schema.maximum != null && value > schema.maximum) out.push(`${path}: above ${schema.maximum}`);
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const k of schema.required ?? []) if (!(k in obj)) out.push(`${path}.${k}: required but missing`);
    for (const [k, v] of Object.entries(obj)) {
      if (schema.properties?.[k]) out.push(...problems(v, schema.properties[k], `${path}.${k}`));
      else if (schema.additionalProperties === false) out.push(`${path}.${k}: not documented`);
      else if (typeof schema.additionalProperties === 'object') out.push(...problems(v, schema.additionalProperties, `${path}.${k}`));
    }
    // Every property the implementation sends must be documented (the document is complete, not just a subset).
    if (schema.properties && schema.additionalProperties === undefined) {
      for (const k of Object.keys(obj)) if (!(k in schema.properties)) out.push(`${path}.${k}: sent but not documented`);
    }
  }
  if (Array.isArray(value) && schema.items) value.forEach((v, i) => out.push(...problems(v, schema.items, `${path}[${i}]`)));
  return out;
}

function validate(value: unknown, schema: any) {
  expect(problems(value, schema)).toEqual([]);
}

beforeAll(async () => {
  doc = (await request(t.app).get('/api/v1/openapi.json').expect(200)).body;
});

const responseSchema = (path: string, method: string, status: number) =>
  resolve(doc.paths[path][method].responses[String(status)]).content['application/json'].schema;

// ——— API keys (staff) ———

describe('API keys: staff create, list and revoke them', () => {
  it('shows a new key once and stores only its SHA-256 and a short prefix', async () => {
    const { secret, page, res } = await createKey('Fulfilment centre', ['orders:read', 'orders:write']);
    expect(secret).toMatch(/^of_live_[A-Za-z0-9_-]{43}$/);
    expect(res.headers['cache-control']).toContain('no-store');
    expect(page).toContain('shown only this once');

    const [row] = await t.sql(`select * from api_keys where name = 'Fulfilment centre'`);
    expect(row.secret_hash).toBe(sha256(secret));
    expect(row.prefix).toBe(secret.slice(0, 16));
    expect(row.scopes).toEqual(['orders:read', 'orders:write']);
    expect(row.created_at).toBeInstanceOf(Date);
    expect(row.last_used_at).toBeNull();
    // The secret is nowhere in the database (not in the key row, not in the session store).
    expect(JSON.stringify(await t.sql('select * from api_keys'))).not.toContain(secret.slice(16));
    expect(JSON.stringify(await t.sql('select sess from session'))).not.toContain(secret.slice(16));

    // The list shows the prefix, never the secret again.
    const list = await staff.get('/admin/settings/api-keys').expect(200);
    expect(list.text).toContain(`${row.prefix}…`);
    expect(list.text).not.toContain(secret);
    expect(list.text).toContain('Fulfilment centre');

    // The key works, and using it records when it was last used.
    await get('/orders', secret).expect(200);
    const [used] = await t.sql(`select last_used_at from api_keys where id = $1`, [row.id]);
    expect(used.last_used_at).toBeInstanceOf(Date);
  });

  it('refuses a key without a name or without a permission, and a second active key with the same name', async () => {
    const before = (await t.sql('select count(*)::int as n from api_keys'))[0].n;
    const noScope = await postKeyForm(staff, [['name', 'Nothing allowed']]);
    expect(noScope.status).toBe(422);
    expect(noScope.text).toContain('Permissions: choose at least one');
    const noName = await postKeyForm(staff, [['name', '  '], ['scopes', 'orders:read']]);
    expect(noName.status).toBe(422);
    const badScope = await postKeyForm(staff, [['name', 'Root'], ['scopes', 'admin:all']]);
    expect(badScope.status).toBe(422);
    const duplicate = await postKeyForm(staff, [['name', 'erp production'], ['scopes', 'orders:read']]);
    expect(duplicate.status).toBe(422);
    expect(duplicate.text).toContain('already called');
    expect((await t.sql('select count(*)::int as n from api_keys'))[0].n).toBe(before);
  });

  it('is for staff only, and its forms need the CSRF token', async () => {
    const guest = await request(t.app).get('/admin/settings/api-keys');
    expect(guest.status).toBe(302);
    expect(guest.headers.location).toMatch(/^\/login/);
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    await shopper.get('/admin/settings/api-keys').expect(403);
    const noToken = await staff.post('/admin/settings/api-keys').type('form').send('name=Sneaky&scopes=orders%3Aread');
    expect(noToken.status).toBe(403);
    expect(await t.sql(`select 1 from api_keys where name = 'Sneaky'`)).toEqual([]);
  });

  it('a revoked key is refused at once (401), and shows as revoked', async () => {
    const { secret } = await createKey('Old ERP', ['orders:read']);
    await get('/orders', secret).expect(200);
    const [{ id }] = await t.sql(`select id from api_keys where name = 'Old ERP'`);
    const token = await csrfToken(staff, '/admin/settings/api-keys');
    const res = await staff.post(`/admin/settings/api-keys/${id}/revoke`).type('form').send({ _csrf: token });
    expect(res.status).toBe(303);
    const page = await staff.get('/admin/settings/api-keys');
    expect(page.text).toContain('Revoked “Old ERP”');
    const [row] = await t.sql(`select revoked_at, revoked_by_user_id from api_keys where id = $1`, [id]);
    expect(row.revoked_at).toBeInstanceOf(Date);
    expect(row.revoked_by_user_id).not.toBeNull();

    const refused = await get('/orders', secret);
    expectError(refused, 401, 'UNAUTHENTICATED');
    expect(refused.body.error.message).toContain('revoked');
    // A new key may take the revoked key's name.
    await createKey('Old ERP', ['orders:read']);
  });
});

// ——— authentication and permissions ———

describe('API authentication and permissions', () => {
  it('401 without a key, with a malformed key and with an unknown key; never sets a cookie', async () => {
    const number = await placed();
    for (const res of [
      await get(`/orders/${number}`, null),
      await api().get(`/api/v1/orders/${number}`).set('Authorization', `Basic ${Buffer.from('a:b').toString('base64')}`),
      await get(`/orders/${number}`, 'not-a-key'),
      await get(`/orders/${number}`, `of_live_${'A'.repeat(43)}`),
      await post(`/orders/${number}/exported`, {}, null),
    ]) {
      expectError(res, 401, 'UNAUTHENTICATED');
      expect(res.headers['www-authenticate']).toContain('Bearer');
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect((await orderRow(number)).exported).toBe(false);
  });

  it('403 when the key lacks the permission; writes need no CSRF token and no session', async () => {
    const number = await placed();
    expectError(await post(`/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Received') }, readOnly), 403, 'FORBIDDEN');
    expectError(await post(`/orders/${number}/capture`, { amountMinor: 100 }, writeOnly), 403, 'FORBIDDEN');
    expectError(await post(`/orders/${number}/tracking`, { trackingNumber: 'X1' }, captureOnly), 403, 'FORBIDDEN');
    expectError(await get(`/orders/${number}`, writeOnly), 403, 'FORBIDDEN');
    expectError(await get('/orders', captureOnly), 403, 'FORBIDDEN');
    expect(await orderRow(number)).toMatchObject({ state: 'New', captured: 0, api_tracking_number: null });

    const ok = await post(`/orders/${number}/exported`, {}, writeOnly);
    expect(ok.status).toBe(200);
    expect(ok.headers['set-cookie']).toBeUndefined();
  });

  it('a key that may not read orders gets only what its write changed, never the customer, addresses or lines', async () => {
    const number = await placed();
    const row = await orderRow(number);
    const minimal = {
      number, version: row.version + 1, state: expect.objectContaining({ name: 'New' }), paymentStatus: 'authorized', captureState: 'not_captured',
      capturedMinor: 0, exported: false, trackingNumber: 'WH-1',
    };
    const tracked = await post(`/orders/${number}/tracking`, { trackingNumber: 'WH-1' }, writeOnly).expect(200);
    expect(tracked.body.order).toEqual(minimal);
    validate(tracked.body, responseSchema('/orders/{number}/tracking', 'post', 200));
    expect(tracked.text).not.toContain('Kim Customer');
    expect(tracked.text).not.toContain('kim@example.test');

    const captured = await post(`/orders/${number}/capture`, { amountMinor: 100 }, captureOnly).expect(200);
    expect(captured.body.order).toEqual({ ...minimal, version: expect.any(Number), paymentStatus: 'partly_captured', captureState: 'split_captured', capturedMinor: 100 });
    validate(captured.body, responseSchema('/orders/{number}/capture', 'post', 200));
    expect(captured.text).not.toContain('Main Street 1');

    // The same write with a key that may also read orders answers with the whole order.
    const full200 = await post(`/orders/${number}/tracking`, { trackingNumber: 'WH-2' }).expect(200);
    expect(full200.body.order).toMatchObject({ trackingNumber: 'WH-2', customer: { email: 'kim@example.test' }, billingAddress: { address: 'Main Street 1' } });
    expect(full200.body.order.lines).toHaveLength(1);
  });

  it('404 for an unknown order, a cart, and an unknown endpoint', async () => {
    expectError(await get('/orders/ORDER999999'), 404, 'NOT_FOUND');
    expectError(await post('/orders/ORDER999999/state', { stateId: 1 }), 404, 'NOT_FOUND');
    expectError(await post('/orders/ORDER999999/capture', { amountMinor: 100 }), 404, 'NOT_FOUND');
    expectError(await post('/orders/ORDER999999/tracking', { trackingNumber: 'X' }), 404, 'NOT_FOUND');
    expectError(await post('/orders/ORDER999999/exported', {}), 404, 'NOT_FOUND');
    expectError(await get('/orders/..%2F..%2Fetc'), 404, 'NOT_FOUND');
    const [cart] = await t.sql(`select number from orders where type = 'cart' limit 1`);
    if (cart) expectError(await get(`/orders/${cart.number}`), 404, 'NOT_FOUND');
    expectError(await get('/nothing-here'), 404, 'NOT_FOUND');
    // An unknown API path is a JSON 404 even for POST: it never reaches the CSRF check of the pages.
    expectError(await post('/nothing-here', {}), 404, 'NOT_FOUND');
  });
});

// ——— reading orders ———

describe('GET /api/v1/orders/:number', () => {
  it('returns the order with lines, totals, addresses, state and capture state, as documented', async () => {
    const number = await placed();
    const res = await get(`/orders/${number}`).expect(200);
    const o = res.body;
    const row = await orderRow(number);
    expect(o).toMatchObject({
      number, shopId: 'SHOP1', version: row.version, currencyCode: 'DKK', totalMinor: row.total, captureState: 'not_captured',
      paymentStatus: 'authorized', capturedMinor: 0, exported: false, trackingNumber: null,
      state: { name: 'New', flowName: 'Standard order flow' },
      customer: { name: 'Kim Customer', email: 'kim@example.test', customerNumber: null },
      billingAddress: { name: 'Kim Customer', address: 'Main Street 1', zip: '2100', city: 'Copenhagen', country: 'DK' },
      deliveryAddress: { name: 'Kim Customer', city: 'Copenhagen' },
      paymentMethod: { code: 'CARD' }, shippingMethod: { code: 'STANDARD' },
    });
    expect(o.lines).toHaveLength(1);
    expect(o.lines[0]).toMatchObject({ productNumber: PRODUCT, quantity: 1 });
    expect(o.totals.totalMinor).toBe(row.total);
    expect(o.totals.totalExclVatMinor + o.totals.vatMinor).toBe(o.totals.totalMinor);
    expect(o.totals.vat.length).toBeGreaterThan(0);
    expect(res.headers['cache-control']).toContain('no-store');
    validate(o, responseSchema('/orders/{number}', 'get', 200));
  });
});

describe('GET /api/v1/orders: placed orders, filtered, cursor-paged on (updated_at, id)', () => {
  let source: string;
  const BASE = '2090-01-01T00:00:00Z';

  beforeAll(async () => {
    source = await placed();
    // 60 copies of a placed order, cheaply by SQL. Groups of 7 share an updated_at (ties broken by id), and the groups
    // are one microsecond apart, so a cursor that lost microseconds would skip or repeat orders.
    const cols = (await insertableColumns(t.sql, 'orders', ['id', 'number', 'anonymous_token', 'updated_at', 'exported', 'shop_id'])).join(', ');
    await t.sql(
      `insert into orders (number, updated_at, exported, shop_id, ${cols})
       select 'PAGE' || lpad(g::text, 3, '0'), $2::timestamptz + ((g / 7) * interval '1 microsecond'), g % 3 = 0, shop_id, ${cols}
       from orders, generate_series(1, 60) g where number = $1`, [source, BASE]);
  });

  const copies = async () => (await t.sql<{ number: string }>(
    `select number from orders where number like 'PAGE%' order by updated_at, id`)).map((r) => r.number);

  it('pages through 60 orders: every order exactly once, in a stable order, and nextCursor null at the end', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: Record<string, string | number> = { changedSince: BASE, limit: 7, ...(cursor ? { cursor } : {}) };
      const res = await get(`/orders?${new URLSearchParams(query as Record<string, string>)}`).expect(200);
      validate(res.body, responseSchema('/orders', 'get', 200));
      expect(res.body.data.length).toBeLessThanOrEqual(7);
      seen.push(...res.body.data.map((o: { number: string }) => o.number));
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 20);
    expect(pages).toBe(9);
    expect(seen).toEqual(await copies());
    expect(new Set(seen).size).toBe(60);

    // The same walk again gives the same pages (stable order).
    const first = await get(`/orders?changedSince=${BASE}&limit=7`).expect(200);
    expect(first.body.data.map((o: { number: string }) => o.number)).toEqual(seen.slice(0, 7));
  });

  it('an order changed while paging moves to the end and is seen again; none is skipped', async () => {
    const page1 = await get(`/orders?changedSince=${BASE}&limit=30`).expect(200);
    const moved = page1.body.data[0].number;
    await t.sql(`update orders set updated_at = '2090-06-01T00:00:00Z' where number = $1`, [moved]);
    const page2 = await get(`/orders?changedSince=${BASE}&limit=100&cursor=${page1.body.nextCursor}`).expect(200);
    const all = [...page1.body.data, ...page2.body.data].map((o: { number: string }) => o.number);
    expect(new Set(all).size).toBe(60);
    expect(all[all.length - 1]).toBe(moved);
    expect(page2.body.nextCursor).toBeNull();
  });

  it('filters by state, shop and exported; leaves out carts and orders in checkout', async () => {
    const exported = await get(`/orders?changedSince=${BASE}&exported=true&limit=200`).expect(200);
    expect(exported.body.data).toHaveLength(20);
    expect(exported.body.data.every((o: { exported: boolean }) => o.exported)).toBe(true);
    const notExported = await get(`/orders?changedSince=${BASE}&exported=false&limit=200`).expect(200);
    expect(notExported.body.data).toHaveLength(40);

    const newState = await stateId('Standard order flow', 'New');
    const received = await stateId('Standard order flow', 'Received');
    await t.sql(`with moved as (update orders set state_id = $1 where number in ('PAGE001', 'PAGE002') returning id)
      insert into order_state_history (order_id, to_state_id, event, actor_kind, source) select id, $1, 'state_changed', 'system', 'system' from moved`, [received]);
    const inReceived = await get(`/orders?changedSince=${BASE}&state=${received}`).expect(200);
    expect(inReceived.body.data.map((o: { number: string }) => o.number).sort()).toEqual(['PAGE001', 'PAGE002']);
    expect((await get(`/orders?changedSince=${BASE}&state=${newState}&limit=200`).expect(200)).body.data).toHaveLength(58);

    expect((await get(`/orders?changedSince=${BASE}&shop=SHOP1&limit=200`).expect(200)).body.data).toHaveLength(60);
    expect((await get(`/orders?changedSince=${BASE}&shop=NOSHOP`).expect(200)).body.data).toHaveLength(0);

    const all = await get('/orders?limit=200').expect(200);
    const numbers = all.body.data.map((o: { number: string }) => o.number);
    const carts = await t.sql<{ number: string }>(`select number from orders where type <> 'order' or not completed`);
    expect(numbers.filter((n: string) => carts.some((c) => c.number === n))).toEqual([]);
  });

  it('422 for bad query parameters and a made-up cursor', async () => {
    for (const q of ['changedSince=yesterday', 'limit=0', 'limit=201', 'limit=ten', 'state=abc', 'exported=yes', 'shop=%3Cx%3E',
      'changed_since=2026-01-01T00:00:00Z', `cursor=${Buffer.from('nonsense').toString('base64url')}`, 'limit=5&limit=6']) {
      const res = await get(`/orders?${q}`);
      expectError(res, 422, 'VALIDATION');
      expect(Object.keys(res.body.error.fields).length).toBeGreaterThan(0);
    }
  });
});

// ——— writes ———

describe('POST /api/v1/orders/:number/state', () => {
  it('moves the order by the flow rules; the history says source api with the key name, the customer mail does not', async () => {
    const number = await placed();
    const received = await stateId('Standard order flow', 'Received');
    const res = await post(`/orders/${number}/state`, { stateId: received, expectedVersion: (await orderRow(number)).version }).expect(200);
    validate(res.body, responseSchema('/orders/{number}/state', 'post', 200));
    expect(res.body.order.state).toMatchObject({ id: received, name: 'Received' });
    expect(res.body.order.version).toBe((await orderRow(number)).version);

    const [h] = await t.sql(
      `select f.name as from_name, s.name as to_name, h.actor_kind, h.source, h.actor_user_id, h.message
       from order_state_history h join orders o on o.id = h.order_id left join flow_states f on f.id = h.from_state_id
       join flow_states s on s.id = h.to_state_id where o.number = $1 and h.event = 'state_changed'`, [number]);
    expect(h).toMatchObject({ from_name: 'New', to_name: 'Received', actor_kind: 'system', source: 'api', actor_user_id: null });
    expect(h.message).toContain('ERP production');
    // Staff see it on the order page.
    const page = await staff.get(`/admin/orders/${number}`).expect(200);
    expect(page.text).toContain('through the API by key “ERP production”');

    // Shipped mails the customer: the mail does not mention the key.
    await post(`/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Picked') }).expect(200);
    await post(`/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Shipped') }).expect(200);
    const mails = await t.sql(`select html, text from outbox_messages where order_id = $1`, [(await orderRow(number)).id]);
    expect(mails.length).toBeGreaterThan(0);
    expect(JSON.stringify(mails)).not.toContain('ERP production');
  });

  it('409 TRANSITION_NOT_ALLOWED for a move the rules refuse, 409 CONFLICT for a stale version; nothing changes', async () => {
    const number = await placed();
    const before = await orderRow(number);
    expectError(await post(`/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Shipped') }), 409, 'TRANSITION_NOT_ALLOWED');
    expectError(await post(`/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Received'), expectedVersion: before.version - 1 }), 409, 'CONFLICT');
    // A state of another flow type is not an order state.
    expectError(await post(`/orders/${number}/state`, { stateId: await stateId('Standard cart', 'Open') }), 409, 'TRANSITION_NOT_ALLOWED');
    expect(await orderRow(number)).toEqual(before);
    expect(await t.sql(`select 1 from order_state_history where order_id = $1 and event = 'state_changed'`, [before.id])).toEqual([]);
  });

  it('422 for bad input: missing or wrong stateId, unknown fields, unknown state, a body that is not JSON', async () => {
    const number = await placed();
    for (const body of [{}, { stateId: 'two' }, { stateId: 1.5 }, { stateId: -1 }, { stateId: 2, expectedVersion: 0 }, { stateId: 2, extra: true }, { stateId: 99999 }]) {
      const res = await post(`/orders/${number}/state`, body);
      expectError(res, 422, 'VALIDATION');
    }
    const notJson = await api().post(`/api/v1/orders/${number}/state`).set('Authorization', `Bearer ${full}`)
      .set('Content-Type', 'application/json').send('{"stateId": ');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('BAD_REQUEST');
    expect((await orderRow(number)).state).toBe('New');
  });
});

describe('POST /api/v1/orders/:number/tracking', () => {
  it('stores the tracking number and link, raises the version and records it in the history', async () => {
    const number = await placed();
    const before = await orderRow(number);
    const res = await post(`/orders/${number}/tracking`, { trackingNumber: ' 00370712345678901234 ', trackingUrl: 'https://track.example.com/00370712345678901234' }).expect(200);
    validate(res.body, responseSchema('/orders/{number}/tracking', 'post', 200));
    expect(res.body.order).toMatchObject({ trackingNumber: '00370712345678901234', trackingUrl: 'https://track.example.com/00370712345678901234', version: before.version + 1 });
    expect(await orderRow(number)).toMatchObject({ api_tracking_number: '00370712345678901234', tracking_url: 'https://track.example.com/00370712345678901234' });
    const [h] = await t.sql(`select source, actor_kind, message from order_state_history where order_id = $1 and event = 'tracking_number_set'`, [before.id]);
    expect(h).toMatchObject({ source: 'api', actor_kind: 'system' });
    expect(h.message).toContain('00370712345678901234');

    // A number without a link keeps the link; the version moves on, so a stale expectedVersion is refused.
    await post(`/orders/${number}/tracking`, { trackingNumber: 'NEW-1' }).expect(200);
    expect(await orderRow(number)).toMatchObject({ api_tracking_number: 'NEW-1', tracking_url: 'https://track.example.com/00370712345678901234' });
    expectError(await post(`/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Received'), expectedVersion: before.version }), 409, 'CONFLICT');
  });

  it('422 for a missing number, a too long number, a link that is not http(s)', async () => {
    const number = await placed();
    for (const body of [{}, { trackingNumber: '' }, { trackingNumber: 'x'.repeat(101) }, { trackingNumber: 'A1', trackingUrl: 'javascript:alert(1)' },
      { trackingNumber: 'A1', trackingUrl: 'ftp://x.example' }, { trackingNumber: 42 }]) {
      expectError(await post(`/orders/${number}/tracking`, body), 422, 'VALIDATION');
    }
    expect((await orderRow(number)).api_tracking_number).toBeNull();
  });

  it('accepts and refuses the same tracking numbers as the staff shipment form, with the same field message', async () => {
    const number = await placed();
    const staffForm = async (trackingNumber: string) => {
      const token = await csrfToken(staff, `/admin/orders/${number}`);
      // Shipment 99 does not exist: a number the form accepts gets as far as looking it up (404).
      return staff.post(`/admin/orders/${number}/shipments/99/tracking`).type('form').send({ _csrf: token, trackingNumber });
    };
    for (const good of ['00370712345678901234', 'JJD 0001/234.5_6-7', 'x'.repeat(60)]) {
      expect([good, (await staffForm(good)).status]).toEqual([good, 404]);
      const res = await post(`/orders/${number}/tracking`, { trackingNumber: good });
      expect([good, res.status]).toEqual([good, 200]);
      expect(res.body.order.trackingNumber).toBe(good);
    }
    for (const [bad, message] of [['x'.repeat(61), 'must be at most 60 characters'], ['-00370712', 'may contain only the letters A–Z, digits, spaces and . _ / -, as carriers write them'],
      ['AB<script>', 'may contain only the letters A–Z, digits, spaces and . _ / -, as carriers write them'], ['AB\n12', 'may contain only the letters A–Z, digits, spaces and . _ / -, as carriers write them']]) {
      const page = await staffForm(bad);
      expect([bad, page.status]).toEqual([bad, 422]);
      expect(page.text).toContain(message);
      const res = await post(`/orders/${number}/tracking`, { trackingNumber: bad });
      expectError(res, 422, 'VALIDATION');
      expect(res.body.error.fields).toEqual({ trackingNumber: message });
    }
    expect((await orderRow(number)).api_tracking_number).toBe('x'.repeat(60));
  });
});

describe('POST /api/v1/orders/:number/capture', () => {
  it('captures through the payment desk with its limits: split capture, then the rest; more than is left is 409', async () => {
    const number = await placed();
    const { total } = await orderRow(number);
    const res = await post(`/orders/${number}/capture`, { amountMinor: 1000 }).expect(200);
    validate(res.body, responseSchema('/orders/{number}/capture', 'post', 200));
    expect(res.body).toMatchObject({ amountMinor: 1000, order: { captureState: 'split_captured', capturedMinor: 1000 } });

    const tooMuch = await post(`/orders/${number}/capture`, { amountMinor: total });
    expectError(tooMuch, 409, 'CONFLICT');
    expect(tooMuch.body.error.reason).toBe('AMOUNT_TOO_HIGH');

    await post(`/orders/${number}/capture`, { amountMinor: total - 1000 }).expect(200);
    expect(await orderRow(number)).toMatchObject({ capture_state: 'captured', captured: total });
    expect(await captures(number)).toEqual([{ amount: 1000 }, { amount: total - 1000 }]);
    const again = await post(`/orders/${number}/capture`, { amountMinor: 1 });
    expectError(again, 409, 'CONFLICT');
    expect(again.body.error.reason).toBe('NOT_CAPTURABLE');

    const [h] = await t.sql(`select source, message from order_state_history where order_id = $1 and event = 'payment_captured' order by id limit 1`, [(await orderRow(number)).id]);
    expect(h.source).toBe('api');
    expect(h.message).toContain('ERP production');
  });

  it('409 for an order whose payment cannot be captured here; 422 for amounts that are not positive whole minor units', async () => {
    const number = await placed();
    for (const body of [{}, { amountMinor: 0 }, { amountMinor: -5 }, { amountMinor: 10.5 }, { amountMinor: '1000' }]) {
      expectError(await post(`/orders/${number}/capture`, body), 422, 'VALIDATION');
    }
    expect(await captures(number)).toEqual([]);
    await t.sql(`update orders set capture_state = 'not_supported' where number = $1`, [number]);
    const refused = await post(`/orders/${number}/capture`, { amountMinor: 100 });
    expectError(refused, 409, 'CONFLICT');
    expect(refused.body.error.reason).toBe('CAPTURE_NOT_SUPPORTED');
  });
});

describe('POST /api/v1/orders/:number/exported', () => {
  it('marks the order as exported once; the exported=false list no longer has it', async () => {
    const number = await placed();
    const listed = async (exported: boolean) => {
      const numbers: string[] = [];
      let cursor: string | null = null;
      do {
        const res: request.Response = await get(`/orders?exported=${exported}&limit=200${cursor ? `&cursor=${cursor}` : ''}`).expect(200);
        numbers.push(...res.body.data.map((o: { number: string }) => o.number));
        cursor = res.body.nextCursor;
      } while (cursor);
      return numbers;
    };
    expect(await listed(false)).toContain(number);
    const res = await post(`/orders/${number}/exported`, {}).expect(200);
    validate(res.body, responseSchema('/orders/{number}/exported', 'post', 200));
    expect(res.body.order.exported).toBe(true);
    expect(await listed(false)).not.toContain(number);
    expect(await listed(true)).toContain(number);

    const version = (await orderRow(number)).version;
    const again = await api().post(`/api/v1/orders/${number}/exported`).set('Authorization', `Bearer ${full}`).expect(200);
    expect(again.body.message).toContain('already');
    expect((await orderRow(number)).version).toBe(version);
    expect(await t.sql(`select 1 from order_state_history where order_id = $1 and event = 'exported'`, [(await orderRow(number)).id])).toHaveLength(1);
    expectError(await post(`/orders/${number}/exported`, { exported: false }), 422, 'VALIDATION');
  });
});

// ——— idempotency ———

describe('Idempotency-Key', () => {
  it('two parallel captures with the same key: one capture, both answers identical', async () => {
    const number = await placed();
    const key = `cap-${number}`;
    const [a, b] = await Promise.all([
      post(`/orders/${number}/capture`, { amountMinor: 1500 }, full, key),
      post(`/orders/${number}/capture`, { amountMinor: 1500 }, full, key),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.text).toBe(b.text);
    expect([a.headers['idempotent-replayed'], b.headers['idempotent-replayed']].filter(Boolean)).toEqual(['true']);
    expect(await captures(number)).toEqual([{ amount: 1500 }]);
    expect((await orderRow(number)).captured).toBe(1500);

    // Later retries replay the same answer (even though the order has changed since).
    await post(`/orders/${number}/capture`, { amountMinor: 500 }).expect(200);
    const retry = await post(`/orders/${number}/capture`, { amountMinor: 1500 }, full, key).expect(200);
    expect(retry.text).toBe(a.text);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(await captures(number)).toEqual([{ amount: 1500 }, { amount: 500 }]);
  });

  it('a capture with a key holds no lock while the provider answers: the key is claimed and committed first, the repeat waits for its answer, one provider capture', async () => {
    const number = await placed();
    const { id } = await orderRow(number);
    const key = `nolock-${number}`;
    const gateway = t.services.payments.get('sandbox_card');
    const capture = gateway.capture;
    const seen: { keyClaimed: number; orderFree: boolean; openTransactions: number }[] = [];
    const probe = new pg.Client({ connectionString: t.orm.config.get('clientUrl') });
    await probe.connect();
    gateway.capture = async (req) => {
      // While the provider "answers": the claim is visible (committed), the order row can be locked at once, and no
      // other connection of this database sits in an open transaction.
      await probe.query('begin');
      const orderFree = (await probe.query(`select id from orders where id = $1 for update nowait`, [id]).then(() => true, () => false));
      await probe.query('rollback');
      const [{ n }] = (await probe.query(`select count(*)::int as n from api_idempotency_keys where idempotency_key = $1 and response_status is null`, [key])).rows;
      const [{ open }] = (await probe.query(`select count(*)::int as open from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state like 'idle in transaction%'`)).rows;
      seen.push({ keyClaimed: n, orderFree, openTransactions: open });
      await new Promise((r) => setTimeout(r, 200));
      return capture.call(gateway, req);
    };
    try {
      const [a, b] = await Promise.all([
        post(`/orders/${number}/capture`, { amountMinor: 1200 }, full, key),
        post(`/orders/${number}/capture`, { amountMinor: 1200 }, full, key),
      ]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(b.text).toBe(a.text);
      expect([a.headers['idempotent-replayed'], b.headers['idempotent-replayed']].filter(Boolean)).toEqual(['true']);
    } finally {
      gateway.capture = capture;
      await probe.end();
    }
    expect(seen).toEqual([{ keyClaimed: 1, orderFree: true, openTransactions: 0 }]);
    expect(await captures(number)).toEqual([{ amount: 1200 }]);
    expect((await orderRow(number)).captured).toBe(1200);
    expect((await t.sql(`select count(*)::int as n from sandbox_payment_operations where operation = 'capture' and reference = (select transaction_number from orders where id = $1)`, [id]))[0].n).toBe(1);
  });

  it('a capture the provider made but the shop failed to record answers that its outcome is unknown, keeps the key, and a retry with it never captures again', async () => {
    const number = await placed();
    const { id } = await orderRow(number);
    const key = `lost-${number}`;
    const desk = t.services.paymentDesk;
    const settle = desk.settle;
    desk.settle = async () => { throw new Error('Connection terminated unexpectedly'); };
    let first: request.Response;
    try {
      first = await post(`/orders/${number}/capture`, { amountMinor: 1500 }, full, key);
    } finally {
      desk.settle = settle;
    }
    expectError(first, 409, 'CONFLICT');
    expect(first.body.error.reason).toBe('PROVIDER_NO_ANSWER');
    expect(first.body.error.message).toContain('may or may not have been done');
    const providerCaptures = async () => (await t.sql(`select count(*)::int as n from sandbox_payment_operations where operation = 'capture' and reference = (select transaction_number from orders where id = $1)`, [id]))[0].n;
    expect(await providerCaptures()).toBe(1);

    // The recovery job records the capture the provider made; a retry with the key replays the answer, capturing nothing.
    await t.sql(`update payment_operations set created_at = now() - interval '2 minutes' where order_id = $1 and status = 'pending'`, [id]);
    expect((await desk.recoverStale()).filter((r) => r.orderId === id)).toEqual([{ orderId: id, operation: 'capture', outcome: 'confirmed' }]);
    const retry = await post(`/orders/${number}/capture`, { amountMinor: 1500 }, full, key);
    expect({ status: retry.status, text: retry.text, replayed: retry.headers['idempotent-replayed'] }).toEqual({ status: 409, text: first.text, replayed: 'true' });
    expect(await providerCaptures()).toBe(1);
    expect(await captures(number)).toEqual([{ amount: 1500 }]);
    expect((await orderRow(number)).captured).toBe(1500);
  });

  it('five parallel state changes with the same key apply once', async () => {
    const number = await placed();
    const received = await stateId('Standard order flow', 'Received');
    const answers = await Promise.all(Array.from({ length: 5 }, () => post(`/orders/${number}/state`, { stateId: received }, full, `state-${number}`)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(answers.map((r) => r.text)).size).toBe(1);
    expect(answers.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(4);
    expect(await t.sql(`select 1 from order_state_history where order_id = $1 and event = 'state_changed'`, [(await orderRow(number)).id])).toHaveLength(1);
  });

  it('a repeat sent while the first request is still running waits for it, then replays its answer', async () => {
    const number = await placed();
    const { id } = await orderRow(number);
    // Hold the order row, so the first request stops inside its transaction (after claiming the key).
    const blocker = new pg.Client({ connectionString: t.orm.config.get('clientUrl') });
    await blocker.connect();
    const waiting = async (like: string) => (await t.sql<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like $1`, [like]))[0].n;
    const until = async (check: () => Promise<boolean>) => {
      for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 25));
      expect(await check()).toBe(true);
    };
    try {
      await blocker.query('begin');
      await blocker.query('select id from orders where id = $1 for update', [id]);
      const first = post(`/orders/${number}/tracking`, { trackingNumber: 'WAIT-1' }, full, `wait-${number}`).then((r) => r);
      await until(async () => (await waiting('select o.id from orders o%')) === 1);
      const second = post(`/orders/${number}/tracking`, { trackingNumber: 'WAIT-1' }, full, `wait-${number}`).then((r) => r);
      // The second waits on the first's idempotency row, not on the order.
      await until(async () => (await waiting('insert into api_idempotency_keys%')) === 1);
      await blocker.query('commit');
      const [a, b] = await Promise.all([first, second]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(b.text).toBe(a.text);
      expect([a.headers['idempotent-replayed'], b.headers['idempotent-replayed']]).toEqual([undefined, 'true']);
      expect(await t.sql(`select 1 from order_state_history where order_id = $1 and event = 'tracking_number_set'`, [id])).toHaveLength(1);
    } finally {
      await blocker.end();
    }
  });

  it('replays a refusal too; the same key with another body is 422; keys are per API key', async () => {
    const number = await placed();
    const shipped = await stateId('Standard order flow', 'Shipped');
    const first = await post(`/orders/${number}/state`, { stateId: shipped }, full, 'k-1');
    expectError(first, 409, 'TRANSITION_NOT_ALLOWED');
    const replay = await post(`/orders/${number}/state`, { stateId: shipped }, full, 'k-1');
    expect({ status: replay.status, text: replay.text }).toEqual({ status: 409, text: first.text });
    expect(replay.headers['idempotent-replayed']).toBe('true');

    const other = await post(`/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Received') }, full, 'k-1');
    expectError(other, 422, 'IDEMPOTENCY_KEY_REUSED');
    const elsewhere = await post(`/orders/${number}/tracking`, { trackingNumber: 'T-1' }, full, 'k-1');
    expectError(elsewhere, 422, 'IDEMPOTENCY_KEY_REUSED');
    expect((await orderRow(number)).state).toBe('New');

    // Another API key has its own keys: 'k-1' is new there.
    await post(`/orders/${number}/tracking`, { trackingNumber: 'T-1' }, writeOnly, 'k-1').expect(200);
    expectError(await post(`/orders/${number}/exported`, {}, writeOnly, 'bad key with spaces'), 422, 'VALIDATION');
  });

  it('does not store an answer for invalid input: the same key works once the input is fixed', async () => {
    const number = await placed();
    expectError(await post(`/orders/${number}/tracking`, { trackingNumber: '' }, full, 'fix-me'), 422, 'VALIDATION');
    await post(`/orders/${number}/tracking`, { trackingNumber: 'OK-1' }, full, 'fix-me').expect(200);
  });
});

// ——— the OpenAPI document ———

describe('GET /api/v1/openapi.json', () => {
  it('is OpenAPI 3.1 and needs no key', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: '/api/v1' }]);
    expect(doc.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('documents exactly the routes the router registers, with the same methods', () => {
    const router = apiRoutes(t.services) as unknown as { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
    const registered = router.stack.filter((l) => l.route).flatMap((l) =>
      Object.keys(l.route!.methods).filter((m) => m !== '_all').map((m) => `${m.toUpperCase()} ${l.route!.path.replace(/:(\w+)/g, '{$1}')}`)).sort();
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    expect(registered).toEqual(documented);
    expect(registered).toHaveLength(7);
  });

  it('documents every operation\u2019s parameters, answers and errors', () => {
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect([where, typeof op.summary]).toEqual([where, 'string']);
        expect([where, Object.keys(op.responses).some((s) => s.startsWith('2'))]).toEqual([where, true]);
        for (const name of path.match(/\{(\w+)\}/g) ?? []) {
          expect([where, op.parameters.map((p: any) => resolve(p)).some((p: any) => p.in === 'path' && `{${p.name}}` === name && p.required)]).toEqual([where, true]);
        }
        if (path === '/openapi.json') continue;
        const codes = Object.keys(op.responses);
        expect([where, ['401', '403'].every((c) => codes.includes(c))]).toEqual([where, true]);
        if (path.includes('{number}')) expect([where, codes.includes('404')]).toEqual([where, true]);
        if (method === 'post') {
          expect([where, ['400', '413', '415', '422'].every((c) => codes.includes(c))]).toEqual([where, true]);
          expect([where, op.parameters.some((p: any) => resolve(p).name === 'Idempotency-Key')]).toEqual([where, true]);
        }
        for (const c of codes.filter((s) => Number(s) >= 400)) {
          expect(resolve(op.responses[c]).content['application/json'].schema).toEqual(ref('Error'));
        }
      }
    }
  });

  it('the documented example requests have the required fields and are accepted; leaving out a required field is 422', async () => {
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!op.requestBody) continue;
        const media = op.requestBody.content['application/json'];
        const required: string[] = media.schema.required ?? [];
        for (const field of required) expect([path, field, field in media.example]).toEqual([path, field, true]);
        validate(media.example, media.schema);

        const number = await placed();
        const url = path.replace('{number}', number);
        expect(method).toBe('post');
        const accepted = await post(url, media.example);
        expect([path, accepted.status]).not.toEqual([path, 422]);
        expect([path, [200, 409].includes(accepted.status)]).toEqual([path, true]);
        for (const field of required) {
          const { [field]: _left, ...rest } = media.example;
          const refused = await post(url, rest);
          expectError(refused, 422, 'VALIDATION');
          expect(refused.body.error.fields).toHaveProperty(field);
        }
        const unknown = await post(url, { ...media.example, notAField: 1 });
        expectError(unknown, 422, 'VALIDATION');
      }
    }
  });

  it('the documented query parameters are the ones accepted, and their examples work', async () => {
    const params = doc.paths['/orders'].get.parameters.map((p: any) => resolve(p));
    expect(params.map((p: any) => p.name).sort()).toEqual(['changedSince', 'cursor', 'exported', 'limit', 'shop', 'state']);
    for (const p of params.filter((x: any) => x.example !== undefined)) {
      expect(problems(p.example, p.schema)).toEqual([]);
      await get(`/orders?${p.name}=${encodeURIComponent(String(p.example))}`).expect(200);
    }
  });
});
