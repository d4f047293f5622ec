import request from 'supertest';
import { csrfToken, newAgent, productId, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

/** The headers helmet sets, on every kind of answer the app gives, and how the session cookie is set. */
let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

function expectSecurityHeaders(res: request.Response, what: string): void {
  const h = res.headers;
  const csp = String(h['content-security-policy'] ?? '');
  const directives = Object.fromEntries(csp.split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
    const [name, ...values] = d.split(/\s+/);
    return [name, values.join(' ')];
  }));
  expect({ what, directives }).toMatchObject({
    what,
    directives: {
      'default-src': "'self'", 'script-src': "'self'", 'script-src-attr': "'none'", 'object-src': "'none'", 'base-uri': "'self'",
      'form-action': "'self'", 'frame-ancestors': "'self'", 'img-src': "'self' data:",
    },
  });
  // No way to run inline or foreign script.
  expect(directives['script-src']).not.toMatch(/unsafe-inline|unsafe-eval|\*|https?:/);
  expect({ what, headers: {
    'x-content-type-options': h['x-content-type-options'], 'x-frame-options': h['x-frame-options'],
    'referrer-policy': h['referrer-policy'], 'strict-transport-security': h['strict-transport-security'],
    'cross-origin-opener-policy': h['cross-origin-opener-policy'], 'cross-origin-resource-policy': h['cross-origin-resource-policy'],
    'x-dns-prefetch-control': h['x-dns-prefetch-control'], 'x-permitted-cross-domain-policies': h['x-permitted-cross-domain-policies'],
    'x-download-options': h['x-download-options'], 'origin-agent-cluster': h['origin-agent-cluster'], 'x-xss-protection': h['x-xss-protection'],
    'x-powered-by': h['x-powered-by'],
  } }).toEqual({ what, headers: {
    'x-content-type-options': 'nosniff', 'x-frame-options': 'SAMEORIGIN',
    'referrer-policy': 'same-origin', 'strict-transport-security': 'max-age=31536000; includeSubDomains',
    'cross-origin-opener-policy': 'same-origin', 'cross-origin-resource-policy': 'same-origin',
    'x-dns-prefetch-control': 'off', 'x-permitted-cross-domain-policies': 'none',
    'x-download-options': 'noopen', 'origin-agent-cluster': '?1', 'x-xss-protection': '0',
    'x-powered-by': undefined,
  } });
}

describe('security headers', () => {
  it('are on storefront, account, customer, staff, error, API and asset answers alike', async () => {
    const guest = newAgent(t);
    const staff = await staffAgent(t);
    const token = await csrfToken(guest);
    const answers: [string, request.Response][] = [
      ['catalog', await guest.get('/')],
      ['product page', await guest.get('/products/P-1001')],
      ['login', await guest.get('/login')],
      ['basket', await guest.get('/cart')],
      ['login redirect', await guest.get('/customer-center')],
      ['404 page', await guest.get('/no-such-page')],
      ['CSRF 403', await guest.post('/cart/add').type('form').send({ productId: 1 })],
      ['422', await guest.get('/?page=1&group=NOT%20A%20GROUP')],
      ['413', await guest.post('/cart/add').type('form').send({ _csrf: token, junk: 'x'.repeat(100_000) })],
      ['admin', await staff.get('/admin/orders')],
      ['admin CSV', await staff.get('/admin/statistics?format=csv')],
      ['API JSON', await request(t.app).get('/api/v1/orders')],
      ['OpenAPI', await request(t.app).get('/api/v1/openapi.json')],
      ['stylesheet', await request(t.app).get('/public/css/app.css')],
      ['script', await request(t.app).get('/public/js/app.js')],
      ['health', await request(t.app).get('/healthz')],
    ];
    for (const [what, res] of answers) expectSecurityHeaders(res, `${what} (${res.status})`);
  });

  it('sets every cookie (session, basket, first-visit CSRF nonce) httpOnly and SameSite=Lax', async () => {
    const visitor = newAgent(t);
    const cookies: string[] = [];
    const seen = (res: request.Response) => cookies.push(...((res.headers['set-cookie'] as unknown as string[] | undefined) ?? []));
    seen(await visitor.get('/products/P-1002'));
    seen(await visitor.get('/'));
    const add = await visitor.post('/cart/add').type('form').send({ _csrf: await csrfToken(visitor), productId: (await t.sql(`select id from products where number = 'P-1002'`))[0].id, quantity: 1 });
    expect(add.status).toBe(303);
    seen(add);
    expect(cookies.some((c) => c.startsWith('basket='))).toBe(true);
    for (const c of cookies.filter((x) => !/Expires=Thu, 01 Jan 1970/.test(x))) {
      expect(c).toMatch(/; HttpOnly/);
      expect(c).toMatch(/; SameSite=Lax/);
    }
  });

  it("answers an add with a redirect to the page it came from, its message kept an hour and the header's count dropped", async () => {
    const shopper = newAgent(t);
    const form = { _csrf: await csrfToken(shopper), productId: await productId(t, 'P-1002'), quantity: 1, returnTo: 'product', productNumber: 'P-1002' };
    await shopper.post('/cart/add').type('form').send(form);
    expect((await shopper.get('/products/P-1002')).text).toContain('Added to your basket.'); // the page stores the header's count in a cookie
    const add = await shopper.post('/cart/add').type('form').send(form);
    expect(add.status).toBe(303);
    expect(add.headers.location).toBe('/products/P-1002');
    expect(add.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(add.text).toBe('See Other. Redirecting to /products/P-1002');
    expect(Number(add.headers['content-length'])).toBe(add.text.length);
    const cookies = (add.headers['set-cookie'] as unknown as string[]).map((c) => [c.split('=')[0], c] as const);
    const message = cookies.find(([name]) => name === 'orderflow.flash')?.[1] ?? '';
    expect(message).toMatch(/; Max-Age=3600; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax$/);
    const expires = Date.parse(/Expires=([^;]+)/.exec(message)![1]);
    expect(expires - Date.now()).toBeGreaterThan(3590_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(3600_000);
    expect(cookies.find(([name]) => name === 'orderflow.count')?.[1]).toMatch(/^orderflow\.count=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
    // One header per cookie, however often the request changed its mind.
    expect(new Set(cookies.map(([name]) => name)).size).toBe(cookies.length);
    // The page it leads to shows the message and the count read again.
    const page = await shopper.get('/products/P-1002');
    expect(page.text).toContain('Added to your basket.');
    expect(page.text).toContain('aria-label="Basket, 2 items"');
  });

  it('sets the session cookie httpOnly, SameSite=Lax, without Secure over plain HTTP', async () => {
    const res = await signIn(t);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/orderflow\.sid=[^;]+;.*HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toMatch(/Secure/);
  });
});

describe('with SECURE_COOKIES=true behind an HTTPS proxy', () => {
  let secure: TestApp;
  beforeAll(async () => { secure = await startTestApp({ secureCookies: true }); });
  afterAll(async () => { await secure.close(); });

  it('marks the session cookie Secure, and sets none on a plain-HTTP request', async () => {
    const https = await signIn(secure, 'https');
    expect(https.status).toBe(303);
    expect(String(https.headers['set-cookie'])).toMatch(/orderflow\.sid=[^;]+;.*HttpOnly; Secure; SameSite=Lax/);
    const plain = await signIn(secure, 'http');
    expect(String(plain.headers['set-cookie'] ?? '')).not.toMatch(/orderflow\.sid=/);
  });
});

/** Logs the demo shopper in from a first visit to /login (cookies passed by hand, so a Secure one travels over http). */
async function signIn(app: TestApp, proto: 'http' | 'https' = 'http') {
  const page = await request(app.app).get('/login').set('X-Forwarded-Proto', proto);
  const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
  const cookies = ((page.headers['set-cookie'] as unknown as string[]) ?? []).map((c) => c.split(';')[0]).join('; ');
  return request(app.app).post('/login').set('X-Forwarded-Proto', proto).set('Cookie', cookies).type('form')
    .send({ _csrf: token, email: 'shopper@orderflow.test', password: 'shopper-pass-1' });
}
