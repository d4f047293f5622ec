/**
 * Staff roles: existing staff are administrators, the demo has an order clerk, and what an order clerk may do (edit,
 * delete/restore, capture, refund, flow and shop settings) is a setting — enforced by the services, on the staff
 * pages and in the JSON API (a key acts with the role of the staff user who created it).
 */
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { DomainError } from '../../src/shared/errors';
import { placeGuestOrder } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
let admin: TestAgent;
let clerk: TestAgent;
let adminId: number;
let clerkId: number;
beforeAll(async () => {
  t = await startTestApp();
  admin = await staffAgent(t);
  clerk = newAgent(t);
  await login(clerk, 'clerk@orderflow.test', 'clerk-pass-1');
  [adminId, clerkId] = await Promise.all(['admin@orderflow.test', 'clerk@orderflow.test'].map(async (e) => Number((await t.sql('select id from users where email = $1', [e]))[0].id)));
});
afterAll(async () => { await t.close(); });

const PAGE = '/admin/settings/staff-roles';
const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => (e instanceof DomainError ? e : Promise.reject(e)));
const clerkMay = async () => (await t.sql<{ permission: string }>(`select permission from staff_role_permissions where staff_role = 'order_clerk' order by 1`)).map((r) => r.permission);
const setClerkMay = (permissions: string[]) => postForm(admin, `${PAGE}/permissions`, { clerk: permissions } as never, PAGE);
const money = async (number: string) => (await t.sql('select captured_minor::int as captured, refunded_minor::int as refunded, deleted from orders where number = $1', [number]))[0];

/** A placed card order, fully captured by the administrator. */
async function capturedOrder(): Promise<string> {
  const number = await placeGuestOrder(t, 'P-1030');
  await t.services.paymentDesk.captureFull(number, { userId: adminId, source: 'backend' });
  return number;
}

describe('staff roles and permissions', () => {
  it('staff become administrators; the demo order clerk starts with "edit placed orders" and "capture and cancel payments"', async () => {
    expect(await t.sql(`select email, staff_role from users where role = 'staff' order by email`)).toEqual([
      { email: 'admin@orderflow.test', staff_role: 'administrator' }, { email: 'clerk@orderflow.test', staff_role: 'order_clerk' },
    ]);
    expect(await clerkMay()).toEqual(['order.edit', 'payment.capture']);
    const page = await clerk.get(PAGE).expect(200);
    expect(page.text).toContain('Only administrators can change these settings.');
    expect(page.text).not.toContain('Save permissions');
  });

  it('the service refuses an order clerk a refund, delete and restore; the staff page answers 403 and nothing changes', async () => {
    const number = await capturedOrder();
    const asClerk = { userId: clerkId, source: 'backend' as const };
    const refused = await refusal(t.services.paymentDesk.refund(number, 1000, asClerk));
    expect(refused).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('Your staff role may not refund payments') });
    expect((await refusal(t.services.paymentDesk.delete(number, asClerk)))?.code).toBe('FORBIDDEN');
    expect((await refusal(t.services.paymentDesk.restore(number, asClerk)))?.code).toBe('FORBIDDEN');

    const page = await postForm(clerk, `/admin/orders/${number}/refund`, { amount: '10.00', confirmed: '1' }, `/admin/orders/${number}`);
    expect(page.status).toBe(403);
    expect(page.text).toContain('Your staff role may not refund payments');
    // Told at the first submit, before a confirmation that would be refused anyway, by the form it came from.
    for (const [action, form] of [['refund', { amount: '10.00' }], ['delete', {}]] as const) {
      const first = await postForm(clerk, `/admin/orders/${number}/${action}`, form, `/admin/orders/${number}`);
      expect({ action, status: first.status }).toEqual({ action, status: 403 });
      expect(first.text).toMatch(new RegExp(`data-testid="refused-${action}">[^<]*Your staff role may not`));
      expect(first.text).not.toContain('data-testid="consequences"');
    }
    expect(await money(number)).toMatchObject({ refunded: 0, deleted: false });

    // The administrator may, always.
    await t.services.paymentDesk.refund(number, 1000, { userId: adminId, source: 'backend' });
    expect((await money(number)).refunded).toBe(1000);
  });

  it('an administrator allows refunds for order clerks on the settings page; from then on the clerk may refund', async () => {
    expect((await setClerkMay(['order.edit', 'payment.capture', 'payment.refund'])).status).toBe(303);
    expect(await clerkMay()).toEqual(['order.edit', 'payment.capture', 'payment.refund']);
    const number = await capturedOrder();
    expect((await postForm(clerk, `/admin/orders/${number}/refund`, { amount: '10.00', confirmed: '1' }, `/admin/orders/${number}`)).status).toBe(303);
    expect((await money(number)).refunded).toBe(1000);

    // An order clerk cannot change the permissions (the service checks, whatever the form says).
    const sneaky = await postForm(clerk, `${PAGE}/permissions`, { clerk: ['order.delete', 'settings.flows'] } as never, PAGE);
    expect(sneaky.status).toBe(403);
    expect(sneaky.text).toContain('data-testid="refused-permissions"');
    expect(await clerkMay()).toEqual(['order.edit', 'payment.capture', 'payment.refund']);
  });

  it('a clerk who may not capture and cancel payments cannot void one through a state change either (page, bulk, forged)', async () => {
    expect((await setClerkMay(['order.edit'])).status).toBe(303);
    try {
      const number = await placeGuestOrder(t, 'P-1030');
      const [cancelled] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.is_default and f.type = 'order' and s.role = 'cancelled'`);
      const page = await clerk.get(`/admin/orders/${number}`).expect(200);
      expect(page.text).not.toContain(`<option value="${cancelled.id}"`);
      const version = /name="version" value="(\d+)"/.exec(page.text)![1];
      const forged = await postForm(clerk, `/admin/orders/${number}/state`, { stateId: cancelled.id, version }, `/admin/orders/${number}`);
      expect(forged.status).toBe(409);
      expect(forged.text).toContain('cancelling voids its payment authorization, and your staff role may not capture and cancel payments');
      const token = await csrfToken(clerk, '/admin/orders');
      const bulk = await clerk.post('/admin/orders/bulk-state').type('form').send(`_csrf=${encodeURIComponent(token)}&numbers=${number}&stateId=${cancelled.id}`);
      expect(bulk.text).toMatch(new RegExp(`data-testid="bulk-${number}".*Refused`, 's'));
      const [order] = await t.sql(`select o.payment_status, s.role from orders o join flow_states s on s.id = o.state_id where o.number = $1`, [number]);
      expect(order).toEqual({ payment_status: 'authorized', role: 'new' });
      expect(await t.sql(`select 1 from payment_operations p join orders o on o.id = p.order_id where o.number = $1 and p.operation = 'cancel'`, [number])).toHaveLength(0);
    } finally {
      await setClerkMay(['order.edit', 'payment.capture', 'payment.refund']);
    }
  });

  it('flow and shop settings: an order clerk may look but not change them', async () => {
    const [flow] = await t.sql(`select id, name from flows where type = 'order' and is_default`);
    // Told before typing: the pages say the clerk may look but not change them; an administrator is not told so.
    expect((await clerk.get(`/admin/settings/flows/${flow.id}`).expect(200)).text).toContain('your staff role may not change flow settings: its forms are switched off');
    expect((await clerk.get('/admin/shop-settings').expect(200)).text).toContain('data-testid="read-only-settings"');
    expect((await admin.get('/admin/shop-settings').expect(200)).text).not.toContain('data-testid="read-only-settings"');
    // Every control of such a page is switched off, so nothing is typed only to be refused.
    expect((await clerk.get('/admin/shop-settings')).text).toContain('<fieldset disabled class="read-only-settings">');
    expect((await admin.get('/admin/shop-settings')).text).not.toContain('<fieldset disabled');
    const res = await postForm(clerk, `/admin/settings/flows/${flow.id}`, { name: 'Renamed by clerk', description: '', isDefault: 'on' }, '/admin/settings/flows');
    expect(res.status).toBe(403);
    expect(res.text).toContain('Your staff role may not change flow settings');
    expect(res.text).not.toContain('Continue shopping');
    expect((await t.sql('select name from flows where id = $1', [flow.id]))[0].name).toBe(flow.name);
    const shop = await postForm(clerk, '/admin/shop-settings', { name: 'Clerk shop', orderPrefix: 'X', orderNextNumber: 999999, orderNumberPadding: 0, cartPrefix: 'C' }, '/admin/shop-settings');
    expect(shop.status).toBe(403);
    expect((await t.sql('select name from shops'))[0].name).not.toBe('Clerk shop');

    // Order fields and track & trace configurations are shop settings too.
    for (const page of ['/admin/settings/order-fields', '/admin/track-and-trace']) {
      expect((await clerk.get(page).expect(200)).text).toContain('your staff role may not change shop, export, mail template, order field and track &amp; trace settings');
    }
    const field = await postForm(clerk, '/admin/settings/order-fields', { systemName: 'clerk_po', name: 'Clerk PO number', type: 'text', appliesTo: 'order', sortOrder: '1' }, '/admin/settings/order-fields');
    expect(field.status).toBe(403);
    const tracking = await postForm(clerk, '/admin/track-and-trace', { name: 'GLS', urlTemplate: 'https://gls.example/track?no={TrackingNumber}' }, '/admin/track-and-trace');
    expect(tracking.status).toBe(403);
    expect(await t.sql(`select 1 from order_field_definitions where system_name = 'clerk_po'`)).toHaveLength(0);
    expect(await t.sql(`select 1 from track_and_trace_configs where name = 'GLS'`)).toHaveLength(0);
    expect((await postForm(admin, '/admin/track-and-trace', { name: 'GLS', urlTemplate: 'https://gls.example/track?no={TrackingNumber}' }, '/admin/track-and-trace')).status).toBe(303);
  });

  it('the API: a key acts with its creator’s staff role — a clerk’s key may not capture once clerks may not', async () => {
    const keyOf = async (agent: TestAgent, name: string) => {
      const token = await csrfToken(agent, '/admin/settings/api-keys');
      const res = await agent.post('/admin/settings/api-keys').type('form').send(`_csrf=${encodeURIComponent(token)}&name=${name}&scopes=orders%3Aread&scopes=payments%3Acapture`);
      expect(res.status).toBe(201);
      return /value="(of_live_[A-Za-z0-9_-]+)"/.exec(res.text)![1];
    };
    const [clerkKey, adminKey] = [await keyOf(clerk, 'Clerk ERP'), await keyOf(admin, 'Admin ERP')];
    expect((await setClerkMay(['order.edit'])).status).toBe(303);
    const number = await placeGuestOrder(t, 'P-1031');
    const capture = (key: string) => request(t.app).post(`/api/v1/orders/${number}/capture`).set('Authorization', `Bearer ${key}`).send({ amountMinor: 1000 });

    const refused = await capture(clerkKey);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('may not capture and cancel payments') });
    expect((await money(number)).captured).toBe(0);
    expect((await capture(adminKey)).status).toBe(200);
    expect((await money(number)).captured).toBe(1000);
  });

  it('roles: an administrator makes the clerk an administrator and back; the last administrator cannot be demoted', async () => {
    expect((await postForm(admin, `${PAGE}/users/${clerkId}`, { staffRole: 'administrator' }, PAGE)).status).toBe(303);
    expect((await postForm(admin, `${PAGE}/users/${clerkId}`, { staffRole: 'order_clerk' }, PAGE)).status).toBe(303);
    const last = await postForm(admin, `${PAGE}/users/${adminId}`, { staffRole: 'order_clerk' }, PAGE);
    expect(last.status).toBe(422);
    expect(last.text).toMatch(/data-testid="refused-role">[^<]*is the only administrator/);
    expect(last.text).toContain(`id="role-${adminId}-error"`);
    expect(last.text).not.toContain('Continue shopping');
    expect(await t.sql(`select email, staff_role from users where role = 'staff' order by email`)).toEqual([
      { email: 'admin@orderflow.test', staff_role: 'administrator' }, { email: 'clerk@orderflow.test', staff_role: 'order_clerk' },
    ]);
    expect((await postForm(clerk, `${PAGE}/users/${clerkId}`, { staffRole: 'administrator' }, PAGE)).status).toBe(403);
  });
});
