import type TestAgent from 'supertest/lib/agent';
import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { csrfToken, newAgent, postForm, staffAgent, startTestApp, stockAndPrice, type TestApp } from '../helpers/test-app';

/**
 * What a card order may be charged: never more than the provider authorized, by every capture path (capture,
 * capture amount, final capture, bulk capture, shipment).
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
