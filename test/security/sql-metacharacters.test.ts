import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { ADDRESS, addToBasket, checkoutToReview } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';
import { type Customer, placeOrder, registerCustomer } from './security-helpers';

/**
 * SQL metacharacters in every search and filter field: the answer is 200 with no false matches, or a clear 4xx —
 * never a 500 — and LIKE wildcards (% and _) and the escape character (\) are taken literally.
 */
const META = [
  "'", '"', '\\', '%', '_', ';--', "' OR 1=1 --", "' OR '1'='1", "%' OR '1'='1' --", '") OR ("1"="1', "'; drop table orders; --",
  '\\\'', '%%', '__', '?', '$1', ':name', '??', 'æøå ÆØÅ', '😀🔥', 'ﬁ İı', '\u202Eevil', 'a\u0000b', 'x'.repeat(300),
];

// Hundreds of requests per test on a shared 2-core machine.
jest.setTimeout(180_000);

let t: TestApp;
let staff: TestAgent;
let customer: Customer;
/** Orders whose text holds the characters searched for, and look-alikes that must not match. */
const orders = { percent: '', lookalike: '', backslash: '', quote: '' };
let apiKey = '';

beforeAll(async () => {
  t = await startTestApp();
  // Catalog: one product with the wildcard characters in its name, one that a wildcard would also match.
  await t.sql(`update products set name = 'Mug 50%_off edition' where number = 'P-1047'`);
  await t.sql(`update products set name = 'Mug 50XYoff edition' where number = 'P-1048'`);
  await t.sql(`update products set name = 'Mug back\\slash edition' where number = 'P-1049'`);
  staff = await staffAgent(t);
  customer = await registerCustomer(t, 'Quinn Query');
  const addr = (street: string) => ({ billing_address: street, billing_name: 'Quinn Query' });
  orders.percent = await placeOrder(t, customer.agent, 'P-1001', { address: addr('Percent 50%_off Street 1') });
  orders.lookalike = await placeOrder(t, customer.agent, 'P-1002', { address: addr('Percent 50XYoff Street 1') });
  orders.backslash = await placeOrder(t, customer.agent, 'P-1003', { address: addr('Back\\slash Road 2') });
  orders.quote = await placeOrder(t, customer.agent, 'P-1004', { address: addr("O'Brien's Lane 3") });
  const token = await csrfToken(staff, '/admin/settings/api-keys');
  const created = await staff.post('/admin/settings/api-keys').type('form').send(new URLSearchParams([['_csrf', token], ['name', 'sql test'], ['scopes', 'orders:read']]).toString());
  apiKey = /value="(of_live_[A-Za-z0-9_-]+)"/.exec(created.text)![1];
}, 90_000);
afterAll(async () => { await t.close(); });

function expectNoServerError(res: request.Response, what: string, allowed = [200, 400, 404, 422]): void {
  if (res.status >= 500) throw new Error(`${what} → ${res.status}: ${res.text.slice(0, 300)}`);
  expect({ what, status: res.status, ok: allowed.includes(res.status) }).toEqual({ what, status: res.status, ok: true });
  expect(res.text).not.toMatch(/syntax error|DriverException|pg_catalog|SELECT .* FROM/i);
}

const qs = (params: Record<string, string>) => new URLSearchParams(params).toString();
const catalogCount = (html: string) => Number(/(\d+) products?/.exec(html)?.[1] ?? NaN);
const rowNumbers = (html: string) => [...html.matchAll(/data-testid="row-([A-Z0-9-]+)"/g)].map((m) => m[1]);

describe('catalog search', () => {
  it('never fails and matches nothing by accident', async () => {
    const guest = newAgent(t);
    for (const q of META) {
      const res = await guest.get(`/?${qs({ q })}`);
      expectNoServerError(res, `catalog q=${JSON.stringify(q)}`);
      if (res.status !== 200) continue;
      // Only the one product whose name holds the character itself: Mug 50%_off (% and _), Mug back\slash (\).
      const expected = ['%', '_', '\\'].includes(q) ? 1 : 0;
      expect({ q, count: catalogCount(res.text) }).toEqual({ q, count: expected });
    }
    for (const group of META) expectNoServerError(await guest.get(`/?${qs({ group })}`), `catalog group=${group}`);
    for (const page of META) expectNoServerError(await guest.get(`/?${qs({ page })}`), `catalog page=${page}`);
  });

  it('takes % _ and \\ literally', async () => {
    const guest = newAgent(t);
    const found = async (q: string) => {
      const res = await guest.get(`/?${qs({ q })}`);
      expect(res.status).toBe(200);
      return [...res.text.matchAll(/href="\/products\/(P-\d+)"/g)].map((m) => m[1]).filter((v, i, a) => a.indexOf(v) === i);
    };
    expect(await found('50%_off')).toEqual(['P-1047']);
    expect(await found('%_')).toEqual(['P-1047']);
    expect(await found('50__off')).toEqual([]);
    expect(await found('k\\s')).toEqual(['P-1049']);
  });

  it('answers a product path with metacharacters with 404 or 422', async () => {
    for (const m of META) expectNoServerError(await newAgent(t).get(`/products/${encodeURIComponent(m)}`), `product ${m}`);
  });
});

describe('staff order and cart lists', () => {
  it('never fail on any search mode or filter parameter, for orders and carts', async () => {
    const params = ['dateFrom', 'dateTo', 'preset', 'shop', 'state', 'company', 'progress', 'capture', 'imported', 'searchIn', 'sort', 'dir', 'after', 'before', 'last', 'apply'];
    const some = ["'", '\\', '%', '_', "' OR 1=1 --", ';--', '?', '😀', 'a\u0000b', 'x'.repeat(300)];
    for (const base of ['/admin/orders', '/admin/carts']) {
      for (const m of META) {
        for (const searchIn of ['id', 'customer', 'all']) {
          expectNoServerError(await staff.get(`${base}?${qs({ apply: '1', searchIn, search: m })}`), `${base} search(${searchIn})=${m}`);
        }
      }
      for (const m of some) {
        for (const p of params) expectNoServerError(await staff.get(`${base}?${qs({ apply: '1', [p]: m })}`), `${base} ${p}=${m}`);
        // Paging links work on the remembered filter, without apply.
        for (const p of ['after', 'before', 'last']) expectNoServerError(await staff.get(`${base}?${qs({ [p]: m })}`), `${base} (not applied) ${p}=${m}`);
        // A list of states, as the form sends it.
        expectNoServerError(await staff.get(`${base}?apply=1&state=1&state=${encodeURIComponent(m)}`), `${base} state[]=${m}`);
      }
      // The remembered filter still loads afterwards.
      expect((await staff.get(base)).status).toBe(200);
      expect((await staff.post(`${base}/reset-filter`).type('form').send({ _csrf: await csrfToken(staff, base) })).status).toBe(303);
    }
  });

  it('find exactly the order that holds the characters: no false matches, % _ \\ and quotes literal', async () => {
    const all = async (search: string, searchIn = 'all') => {
      const res = await staff.get(`/admin/orders?${qs({ apply: '1', searchIn, search })}`);
      expect({ search, status: res.status }).toEqual({ search, status: 200 });
      return rowNumbers(res.text).sort();
    };
    expect(await all('50%_off')).toEqual([orders.percent]);
    expect(await all('0%_o')).toEqual([orders.percent]);
    expect(await all('50__off')).toEqual([]);
    expect(await all('50%%off')).toEqual([]);
    expect(await all('k\\s')).toEqual([orders.backslash]);
    expect(await all("O'Brien")).toEqual([orders.quote]);
    expect(await all("' OR 1=1 --")).toEqual([]);
    expect(await all("%' OR '1'='1' --")).toEqual([]);
    expect(await all('%%%')).toEqual([]);
    expect(await all('___')).toEqual([]);
    // Exact modes: metacharacters match nothing, and the real values still match.
    for (const m of ["'", '%', '_', "' OR 1=1 --", `${orders.percent}' --`, '%ORDER%']) {
      expect(await all(m, 'id')).toEqual([]);
      expect(await all(m, 'customer')).toEqual([]);
    }
    expect(await all(orders.percent, 'id')).toEqual([orders.percent]);
    expect(await all(customer.email, 'customer')).toEqual(Object.values(orders).sort());
    await staff.post('/admin/orders/reset-filter').type('form').send({ _csrf: await csrfToken(staff, '/admin/orders') });
  });

  it('never fail on the other staff lists and their filters', async () => {
    for (const m of META) {
      for (const url of [`/admin/quotes?${qs({ q: m, state: m })}`, `/admin/returns?${qs({ q: m, state: m })}`, `/admin/recurring?${qs({ status: m })}`,
        `/admin/orders/deleted?${qs({ q: m })}`, `/admin/mail?${qs({ q: m })}`, `/admin/recurring/new?${qs({ order: m })}`]) {
        expectNoServerError(await staff.get(url), url);
      }
    }
  });
});

describe("the customer's order history filters", () => {
  it('answer 422 (or 200) for any metacharacter in from, to, state, page and CC — never a 500, never another customer’s order', async () => {
    for (const m of META) {
      for (const p of ['from', 'to', 'state', 'page']) {
        const res = await customer.agent.get(`/customer-center?${qs({ CC: 'Orders', [p]: m })}`);
        expectNoServerError(res, `history ${p}=${m}`);
      }
      expectNoServerError(await customer.agent.get(`/customer-center?${qs({ CC: m })}`), `CC=${m}`);
      for (const url of [`/customer-center/orders/${encodeURIComponent(m)}`, `/customer-center/returns/new?${qs({ order: m })}`,
        `/customer-center/recurring/new?${qs({ order: m })}`, `/customer-center/quotes/${encodeURIComponent(m)}`, `/checkout/receipt/${encodeURIComponent(m)}`]) {
        expectNoServerError(await customer.agent.get(url), url);
      }
    }
    const other = newAgent(t);
    await login(other, 'shopper@orderflow.test', 'shopper-pass-1');
    for (const state of ["1 OR 1=1", "1) OR (1=1", "0 or true"]) {
      const res = await other.get(`/customer-center?${qs({ CC: 'Orders', state })}`);
      expect(res.status).toBe(422);
      for (const n of Object.values(orders)) expect(res.text).not.toContain(n);
    }
  });
});

describe('statistics dates', () => {
  it('answer 422 (or 200) for any metacharacter in from, to, interval, shop and format', async () => {
    for (const m of META) {
      for (const p of ['from', 'to', 'interval', 'shop', 'format']) {
        expectNoServerError(await staff.get(`/admin/statistics?${qs({ [p]: m })}`), `statistics ${p}=${m}`);
      }
    }
    for (const [from, to] of [['2026-02-30', '2026-03-01'], ['0000-01-01', '0001-01-01'], ['1900-01-01', '1900-01-02'], ['9999-12-30', '9999-12-31']]) {
      expectNoServerError(await staff.get(`/admin/statistics?${qs({ from, to })}`), `statistics ${from}..${to}`);
    }
  });
});

describe('the JSON API', () => {
  const api = (path: string) => request(t.app).get(`/api/v1${path}`).set('Authorization', `Bearer ${apiKey}`);
  const cursor = (s: string) => Buffer.from(s).toString('base64url');

  it('answers 422 in its JSON format for any metacharacter in a query parameter, and 404 in a path', async () => {
    for (const m of META) {
      for (const p of ['changedSince', 'state', 'shop', 'exported', 'cursor', 'limit']) {
        const res = await api(`/orders?${qs({ [p]: m })}`);
        expectNoServerError(res, `API ${p}=${m}`);
        if (res.status !== 200) expect(res.body.error).toBeDefined();
      }
      expectNoServerError(await api(`/orders/${encodeURIComponent(m)}`), `API order ${m}`);
      expectNoServerError(await api(`/orders?${qs({ cursor: cursor(m) })}`), `API cursor(${m})`);
    }
  });

  it('refuses impossible dates in changedSince and in a crafted cursor with 422, not 500', async () => {
    for (const changedSince of ['2026-02-30T00:00:00Z', '2026-02-29T00:00:00Z', '0000-01-01T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:00+99:00']) {
      const res = await api(`/orders?${qs({ changedSince })}`);
      expectNoServerError(res, `changedSince=${changedSince}`);
    }
    for (const c of ['2026-02-30T00:00:00.000000Z|1', '0000-01-01T00:00:00.000000Z|1', '2026-01-01T00:00:00.000000Z|999999999999999999',
      "2026-01-01T00:00:00.000000Z|1' OR 1=1 --", '2026-01-01T00:00:00.000000Z|1;--']) {
      const res = await api(`/orders?${qs({ cursor: cursor(c) })}`);
      expectNoServerError(res, `cursor ${c}`);
    }
  });

  it('still pages with its own cursor (the checks above do not refuse good input)', async () => {
    const first = await api('/orders?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const next = await api(`/orders?${qs({ limit: '2', cursor: first.body.nextCursor })}`);
    expect(next.status).toBe(200);
  });
});

describe('free-text form fields', () => {
  it('answer a NUL character (which PostgreSQL text cannot hold) and SQL metacharacters with 422 or success — never a 500', async () => {
    const c = await registerCustomer(t, 'Nul Tester');
    const nul = 'bad\u0000value';
    const regAgent = newAgent(t);
    const regToken = await csrfToken(regAgent, '/register');
    const regRes = await regAgent.post('/register').type('form').send({ _csrf: regToken, name: nul, email: 'nul@example.test', password: 'nul-pass-12345' });
    expect(regRes.status).toBe(422);
    const posts: [string, Record<string, string>, string][] = [
      ['/customer-center/carts', { name: nul }, '/customer-center?CC=Carts'],
      ['/customer-center/carts', { name: "'; drop table orders; --" }, '/customer-center?CC=Carts'],
      ['/checkout/voucher', { voucherCode: nul }, '/'],
      ['/checkout/quote', { customerComment: nul }, '/'],
    ];
    for (const [path, form, from] of posts) {
      const token = await csrfToken(c.agent, from);
      const res = await c.agent.post(path).type('form').send({ ...form, _csrf: token });
      // Saved (303), refused as invalid (422), or nothing to act on (409: the basket is empty).
      expectNoServerError(res, `${path} ${JSON.stringify(form)}`, [303, 409, 422]);
    }
    const order = await placeOrder(t, c.agent, 'P-1005');
    expect((await postForm(c.agent, '/customer-center/carts', { name: 'Nul cart' })).status).toBe(303);
    const [{ number: cart }] = await t.sql(`select number from orders where name = 'Nul cart'`);
    const rename = await postForm(c.agent, `/customer-center/carts/${cart}/rename`, { name: nul });
    expectNoServerError(rename, 'rename with NUL', [422]);
    await addToBasket(t, c.agent, 'P-1006');
    for (const field of ['billing_name', 'billing_address', 'billing_city', 'billing_zip', 'billing_phone', 'billing_region', 'billing_company']) {
      const res = await postForm(c.agent, '/checkout/addresses', { ...ADDRESS, [field]: 'x\u0000y' }, '/checkout/addresses');
      expectNoServerError(res, `address ${field} with NUL`);
      expect(res.status).toBe(422);
    }
    const number = await checkoutToReview(t, c.agent);
    const placed = await postForm(c.agent, '/checkout/place', { orderNumber: number, customerComment: nul, cardHolder: nul, cardNumber: '4242 4242 4242 4242', cardExpiry: '12/39', cardCvc: '123' });
    expectNoServerError(placed, 'place with NUL comment');
    expect(placed.status).toBe(422);
    const history = await c.agent.get(`/customer-center/orders/${order}`);
    expect(history.status).toBe(200);
  });
});

describe('afterwards', () => {
  it('every table is still there and no order was changed by a search', async () => {
    const [{ n }] = await t.sql(`select count(*)::int as n from orders where number = any($1)`, [Object.values(orders)]);
    expect(n).toBe(4);
    const [{ users }] = await t.sql('select count(*)::int as users from users');
    expect(users).toBeGreaterThan(4);
  });
});
