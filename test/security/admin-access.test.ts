import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';
import { type Customer, placeOrder, registerCustomer } from './security-helpers';

/** Staff pages and staff actions: customers (shoppers and B2B buyers) get 403, guests are sent to log in. */
let t: TestApp;
let staff: TestAgent;
let shopper: Customer;
let buyer: TestAgent;
let order: string;

beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
  shopper = await registerCustomer(t, 'Ava Admin-Wannabe');
  order = await placeOrder(t, shopper.agent, 'P-1040');
  buyer = newAgent(t);
  await login(buyer, 'buyer1@acme.test', 'buyer-pass-1');
}, 60_000);
afterAll(async () => { await t.close(); });

const adminPages = () => [
  '/admin', '/admin/orders', `/admin/orders/${order}`, `/admin/orders/${order}/edit`, `/admin/orders/${order}/edit/fields`,
  `/admin/orders/${order}/versions`, `/admin/orders/${order}/versions/compare?a=1&b=1`, `/admin/orders/${order}/versions/1`,
  `/admin/orders/${order}/shipments/1`, '/admin/orders/deleted', '/admin/orders/import', '/admin/orders/import/upload.js',
  '/admin/orders/import/runs/1', '/admin/carts', '/admin/carts/CART1001', '/admin/quotes', '/admin/quotes/QUOTE1001',
  '/admin/quotes/QUOTE1001/versions/1', '/admin/returns', '/admin/returns/RMA00001', '/admin/recurring',
  `/admin/recurring/new?order=${order}`, '/admin/recurring/1', '/admin/statistics', '/admin/statistics?format=csv',
  '/admin/statistics/chart.umd.js', '/admin/mail', '/admin/mail/caught/1', '/admin/shop-settings', '/admin/settings',
  '/admin/settings/flows', '/admin/settings/flows/new', '/admin/settings/flows/1', '/admin/settings/flows/1/states/new',
  '/admin/settings/flows/1/states/1', '/admin/settings/templates/preview', '/admin/settings/order-fields',
  '/admin/settings/order-fields/1', '/admin/settings/api-keys', '/admin/track-and-trace', '/admin/track-and-trace/1',
  '/admin/products', '/admin/products/new', '/admin/products/P-1001',
];

const adminActions = (): [string, Record<string, string | number>][] => [
  [`/admin/orders/${order}/state`, { stateId: 1, version: 1 }],
  [`/admin/orders/${order}/capture`, {}],
  [`/admin/orders/${order}/capture-amount`, { amount: '1.00' }],
  [`/admin/orders/${order}/final-capture`, {}],
  [`/admin/orders/${order}/cancel`, {}],
  [`/admin/orders/${order}/refund`, { amount: '1.00' }],
  [`/admin/orders/${order}/delete`, {}],
  [`/admin/orders/${order}/restore`, {}],
  [`/admin/orders/${order}/edit`, { billing_name: 'Hacked' }],
  [`/admin/orders/${order}/edit/fields`, {}],
  [`/admin/orders/${order}/shipments`, {}],
  [`/admin/orders/${order}/shipments/capture-shipping-fee`, {}],
  ['/admin/orders/bulk-state', { numbers: order, stateId: 1 }],
  ['/admin/orders/bulk-capture', { numbers: order }],
  ['/admin/orders/print', { numbers: order }],
  ['/admin/orders/shipping-documents', { numbers: order }],
  ['/admin/orders/export-xml', { numbers: order }],
  ['/admin/orders/columns', { columns: 'email' }],
  ['/admin/orders/reset-filter', {}],
  ['/admin/orders/import', {}],
  ['/admin/carts/CART1001/lines', { addProductNumber: 'P-1001' }],
  ['/admin/quotes/QUOTE1001', { version: 1 }],
  ['/admin/quotes/QUOTE1001/offer', {}],
  ['/admin/returns/RMA00001/approve', {}],
  ['/admin/returns/RMA00001/refund', { amount: '1.00' }],
  ['/admin/recurring', { orderNumber: order, intervalCount: 1, intervalUnit: 'month', ends: 'never' }],
  ['/admin/recurring/1/pause', {}],
  ['/admin/recurring/1/retry', {}],
  ['/admin/mail/1/resend', {}],
  ['/admin/shop-settings', { name: 'Hacked shop' }],
  ['/admin/settings/flows', { type: 'order', name: 'Hacked flow' }],
  ['/admin/settings/flows/1/delete', {}],
  ['/admin/settings/order-fields', { label: 'Hacked' }],
  ['/admin/settings/api-keys', { name: 'Hacked key', scopes: 'orders:read' }],
  ['/admin/settings/api-keys/1/revoke', {}],
  ['/admin/track-and-trace', { carrier: 'Hacked', urlTemplate: 'https://evil.example/{TrackingNumber}' }],
  ['/admin/products', { number: 'HACK-1', name: 'Hacked', groupId: 1, price: '1', vatRate: '25', unit: 'pcs', active: 'on' }],
  ['/admin/products/P-1001', { number: 'P-1001', name: 'Hacked', groupId: 1, price: '1', vatRate: '25', unit: 'pcs', active: 'on' }],
  ['/admin/products/P-1001/stock', { locationId: 1, change: 100, reason: 'received' }],
  ['/admin/products/P-1001/prices', { validFrom: '2030-01-01', datedPrice: '1' }],
  ['/admin/products/P-1001/prices/delete', { validFrom: '2030-01-01' }],
  ['/admin/products/P-1001/image', { alt: 'Hacked' }],
  ['/admin/products/P-1001/image/delete', {}],
];

async function dbState(): Promise<string> {
  return JSON.stringify(await Promise.all([
    t.sql('select id, number, state_id, capture_state, deleted, billing_name, version from orders order by id'),
    t.sql('select * from shops order by id'),
    t.sql('select id, name from flows order by id'),
    t.sql('select count(*)::int as n from api_keys'),
    t.sql('select count(*)::int as n from payment_transactions'),
    t.sql('select count(*)::int as n from recurring_series'),
    t.sql('select count(*)::int as n from outbox_messages'),
    t.sql('select id, number, name, price_minor from products order by id'),
    t.sql('select product_id, location_id, quantity from stock_levels order by 1, 2'),
    t.sql('select (select count(*) from product_prices) as prices, (select count(*) from product_images) as images'),
  ]));
}

describe('staff pages', () => {
  it('open for staff (so the refusals below are about the role)', async () => {
    for (const url of ['/admin', '/admin/orders', `/admin/orders/${order}`, '/admin/carts', '/admin/quotes', '/admin/returns', '/admin/recurring', '/admin/statistics', '/admin/mail', '/admin/settings/flows', '/admin/settings/api-keys']) {
      expect({ url, status: (await staff.get(url)).status }).toEqual({ url, status: 200 });
    }
  });

  it("show staff what went wrong in the admin layout with a way back, never the storefront's \"Continue shopping\"", async () => {
    const missing = await staff.get('/admin/orders/NO-SUCH-ORDER');
    expect(missing.status).toBe(404);
    expect(missing.text).toContain('aria-label="Admin"');
    expect(missing.text).toContain('href="/admin">Admin dashboard</a>');
    expect(missing.text).not.toContain('Continue shopping');
    // Customers keep the storefront's page.
    expect((await shopper.agent.get('/no-such-page')).text).toContain('Continue shopping');
  });

  it('answer 403 to a shopper and to a B2B buyer, and never show staff data', async () => {
    for (const [who, agent] of [['shopper', shopper.agent], ['buyer', buyer]] as const) {
      for (const url of adminPages()) {
        const res = await agent.get(url);
        expect({ who, url, status: res.status }).toEqual({ who, url, status: 403 });
        expect(res.text).not.toContain('Payment desk');
      }
    }
  });

  it('send guests to log in, with the page to come back to', async () => {
    for (const url of adminPages()) {
      const res = await request(t.app).get(url);
      expect({ url, status: res.status }).toEqual({ url, status: 302 });
      expect(res.headers.location).toBe(`/login?next=${encodeURIComponent(url)}`);
    }
  });

  it('refuse every staff action from a customer with a valid CSRF token (403) and change nothing', async () => {
    const before = await dbState();
    for (const [who, agent] of [['shopper', shopper.agent], ['buyer', buyer]] as const) {
      for (const [path, form] of adminActions()) {
        const res = await postForm(agent, path, form);
        expect({ who, path, status: res.status }).toEqual({ who, path, status: 403 });
      }
    }
    expect(await dbState()).toBe(before);
  }, 120_000);

  it('are not reachable through the JSON API without a key, nor with a session cookie', async () => {
    for (const url of ['/api/v1/orders', `/api/v1/orders/${order}`]) {
      expect((await request(t.app).get(url)).status).toBe(401);
      expect((await shopper.agent.get(url)).status).toBe(401);
      expect((await staff.get(url)).status).toBe(401);
    }
    const forged = await request(t.app).post(`/api/v1/orders/${order}/state`).set('Authorization', 'Bearer of_live_forged').send({ stateId: 1 });
    expect(forged.status).toBe(401);
  });
});
