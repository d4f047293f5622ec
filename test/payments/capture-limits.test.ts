import type TestAgent from 'supertest/lib/agent';
import { VOID_OPEN_REST_OF_CANCELLED } from '../../migrations/Migration20261208100000_void_rest_of_cancelled';
import { formFields } from '../helpers/forms';
import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { csrfToken, newAgent, postForm, staffAgent, startTestApp, stockAndPrice, type TestApp } from '../helpers/test-app';

/**
 * What a card order may be charged: never more than the provider authorized, never anything once the authorization
 * was voided — by every capture path (capture, capture amount, final capture, bulk capture, shipment).
 */
let t: TestApp;
let staff: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  await stockAndPrice(t, ['P-1010'], 10000, 2500);
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

/** 3 × 100.00 + 39.00 shipping, 25 % VAT: 423.75, authorized by card. */
async function cardOrder(): Promise<string> {
  const agent = newAgent(t);
  await addToBasket(t, agent, 'P-1010', 3);
  const number = await checkoutToReview(t, agent);
  expect((await place(agent, number)).status).toBe(303);
  return number;
}

const post = (number: string, action: string, form: Record<string, string> = {}) =>
  postForm(staff, `/admin/orders/${number}/${action}`, { confirmed: '1', ...form }, '/admin');

const facts = async (number: string) => (await t.sql(`select o.payment_status, o.total_minor::int as total, o.authorized_minor::int as authorized,
    o.captured_minor::int as captured, o.refunded_minor::int as refunded, o.capture_state, s.role
  from orders o left join flow_states s on s.id = o.state_id where o.number = $1`, [number]))[0];

/** The provider calls logged for the order (not the authorization), and those the sandbox provider received. */
const calls = async (number: string) => ({
  logged: (await t.sql(`select p.operation || ' ' || p.amount_minor || ' ' || p.success as c from payment_transactions p join orders o on o.id = p.order_id
    where o.number = $1 and p.operation <> 'authorize' order by p.id`, [number])).map((r) => r.c),
  provider: (await t.sql(`select p.operation || ' ' || p.amount_minor as c from sandbox_payment_operations p join orders o on o.transaction_number = p.reference
    where o.number = $1 order by p.created_at, p.operation`, [number])).map((r) => r.c),
});

async function bulkCapture(numbers: string[]) {
  const token = await csrfToken(staff, '/admin/orders');
  return staff.post('/admin/orders/bulk-capture').type('form').send(`_csrf=${encodeURIComponent(token)}&${numbers.map((n) => `numbers=${n}`).join('&')}&confirmed=1`);
}

describe('a cancelled order is never charged', () => {
  it('moving a refunded order to Cancelled voids the rest of its authorization once; every capture path refuses afterwards', async () => {
    const number = await cardOrder();
    expect((await post(number, 'capture-amount', { amount: '5.00' })).status).toBe(303);
    expect((await post(number, 'refund', { amount: '5.00' })).status).toBe(303);

    // Staff pick the cancelled-role state in the state select of the details page.
    const page = await staff.get(`/admin/orders/${number}`);
    const form = formFields(page.text, `/admin/orders/${number}/state`);
    const [{ id: cancelled }] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default and s.role = 'cancelled'`);
    const moved = await staff.post(`/admin/orders/${number}/state`).type('form').send({ ...form, stateId: String(cancelled) });
    expect(moved.status).toBe(303);

    expect(await facts(number)).toMatchObject({ role: 'cancelled', payment_status: 'cancelled', captured: 500, refunded: 500 });
    // 423.75 authorized − 5.00 captured: the rest is released, after the commit, once.
    expect(await calls(number)).toEqual({ logged: ['capture 500 true', 'refund 500 true', 'cancel 41875 true'], provider: ['capture 500', 'refund 500', 'cancel 0'] });
    await t.services.paymentDesk.settleVoids();
    expect((await calls(number)).provider).toEqual(['capture 500', 'refund 500', 'cancel 0']);

    for (const [action, form] of [['capture', {}], ['capture-amount', { amount: '1.00' }], ['final-capture', {}]] as const) {
      const refused = await post(number, action, form);
      expect({ action, status: refused.status }).toEqual({ action, status: 409 });
      expect(refused.text).toMatch(new RegExp(`data-testid="refused-${action}">${number} has been cancelled; its authorization is void\\.<`));
    }
    const bulk = await bulkCapture([number]);
    expect(bulk.text).toMatch(new RegExp(`data-testid="capture-${number}">.*?Refused.*?has been cancelled; its authorization is void`, 's'));
    const [line] = await t.sql(`select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [number]);
    const shipped = await postForm(staff, `/admin/orders/${number}/shipments`, { [`qty_${line.id}`]: '3' }, '/admin');
    expect(shipped.status).toBe(409);
    expect(shipped.text).toContain(`${number} has been cancelled, so nothing can be shipped.`);

    expect(await facts(number)).toMatchObject({ payment_status: 'cancelled', captured: 500 });
    expect((await calls(number)).provider).toHaveLength(3);
    // The database refuses it too.
    await expect(t.sql(`update orders set captured_minor = captured_minor + 100 where number = $1`, [number])).rejects.toThrow(/authorization has been voided/);
  });

  it('the payment desk cancels an order whose captures were refunded in full, voiding the rest', async () => {
    const number = await cardOrder();
    expect((await post(number, 'capture-amount', { amount: '5.00' })).status).toBe(303);
    expect((await post(number, 'cancel')).status).toBe(409);
    expect((await post(number, 'refund', { amount: '5.00' })).status).toBe(303);

    const cancelled = await post(number, 'cancel');
    expect(cancelled.status).toBe(303);
    expect(await facts(number)).toMatchObject({ role: 'cancelled', payment_status: 'cancelled' });
    expect((await calls(number)).logged).toEqual(['capture 500 true', 'refund 500 true', 'cancel 41875 true']);
    expect((await post(number, 'capture')).status).toBe(409);
  });

  it('an order cancelled before this fix, its rest still authorized, is owed its void (the migration) and the void job makes it', async () => {
    const number = await cardOrder();
    expect((await post(number, 'capture-amount', { amount: '5.00' })).status).toBe(303);
    expect((await post(number, 'refund', { amount: '5.00' })).status).toBe(303);
    // Moved to Cancelled as before: no void, the payment status stays refunded.
    await t.sql(`with h as (insert into order_state_history (order_id, from_state_id, to_state_id, event, message, actor_kind, source)
        select o.id, o.state_id, s.id, 'state_changed', '', 'system', 'system' from orders o, flow_states s join flows f on f.id = s.flow_id
        where o.number = $1 and f.type = 'order' and f.is_default and s.role = 'cancelled' returning order_id, to_state_id)
      update orders o set state_id = h.to_state_id from h where h.order_id = o.id`, [number]);
    expect(await facts(number)).toMatchObject({ role: 'cancelled', payment_status: 'refunded' });

    await t.sql(VOID_OPEN_REST_OF_CANCELLED);
    await t.sql(VOID_OPEN_REST_OF_CANCELLED);
    expect(await facts(number)).toMatchObject({ payment_status: 'cancelled' });
    expect((await post(number, 'final-capture')).status).toBe(409);
    await t.services.paymentDesk.settleVoids();
    await t.services.paymentDesk.settleVoids();
    expect(await calls(number)).toEqual({ logged: ['capture 500 true', 'refund 500 true', 'cancel 41875 true'], provider: ['capture 500', 'refund 500', 'cancel 0'] });
  });
});

describe('captures stay within the authorization', () => {
  /** An order whose total was raised above its authorization (an edit saved before edits were held to it). */
  async function raisedAbove(number: string, byMinor: number) {
    await t.sql(`update orders set total_minor = total_minor + $2 where number = $1`, [number, byMinor]);
  }

  it('final capture takes only what the authorization has left, then nothing more can be captured', async () => {
    const number = await cardOrder();
    expect((await post(number, 'capture-amount', { amount: '200.00' })).status).toBe(303);
    await raisedAbove(number, 39780);

    const tooMuch = await post(number, 'capture-amount', { amount: '223.76' });
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.text).toContain(`223.76 DKK is more than the 223.75 DKK left to capture on ${number} (total 821.55 DKK, the card authorization covers only 423.75 DKK, captured 200.00 DKK).`);

    expect((await post(number, 'final-capture')).status).toBe(303);
    expect(await facts(number)).toMatchObject({ authorized: 42375, captured: 42375, capture_state: 'captured' });
    expect((await calls(number)).provider).toEqual(['capture 20000', 'capture 22375']);
    for (const action of ['capture', 'final-capture'] as const) expect((await post(number, action)).status).toBe(409);
    expect((await post(number, 'capture-amount', { amount: '0.01' })).status).toBe(409);
    await expect(t.sql(`update orders set captured_minor = captured_minor + 1 where number = $1`, [number])).rejects.toThrow(/more than the 42375 authorized/);
  });

  it('bulk capture and the last shipment capture no more than the authorization has left', async () => {
    const [bulk, shipped] = [await cardOrder(), await cardOrder()];
    for (const number of [bulk, shipped]) {
      expect((await post(number, 'capture-amount', { amount: '200.00' })).status).toBe(303);
      await raisedAbove(number, 39780);
    }

    const token = await csrfToken(staff, '/admin/orders');
    const plan = await staff.post('/admin/orders/bulk-capture').type('form').send(`_csrf=${encodeURIComponent(token)}&numbers=${bulk}`);
    expect(plan.text).toMatch(new RegExp(`data-testid="plan-${bulk}">.*?223.75 DKK.*?Will be captured`, 's'));
    const done = await bulkCapture([bulk]);
    expect(done.text).toMatch(new RegExp(`data-testid="capture-${bulk}">.*?Captured`, 's'));
    expect(await facts(bulk)).toMatchObject({ captured: 42375, capture_state: 'captured' });

    const [line] = await t.sql(`select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [shipped]);
    expect((await postForm(staff, `/admin/orders/${shipped}/shipments`, { [`qty_${line.id}`]: '3' }, '/admin')).status).toBe(303);
    expect(await facts(shipped)).toMatchObject({ captured: 42375, capture_state: 'captured' });
    for (const number of [bulk, shipped]) expect((await calls(number)).provider).toEqual(['capture 20000', 'capture 22375']);
  });
});
