import { LockMode } from '@mikro-orm/core';
import type TestAgent from 'supertest/lib/agent';
import { Order } from '../../src/orders/order.entities';
import { addToBasket, checkoutToReview, place, withLostProviderAnswers } from '../helpers/shopping';
import { login, newAgent, postForm, staffAgent, startTestApp, type TestApp, waitFor } from '../helpers/test-app';

/**
 * Issue 12's reproductions: a refunded return refunds and restocks once, whatever is posted and however fast;
 * a cancelled order stays out of the figures; final states are left only by an explicit, permitted reopen; and no
 * state changes without its history entry.
 */
let t: TestApp;
let staff: TestAgent;
const today = new Date().toISOString().slice(0, 10);
beforeAll(async () => {
  t = await startTestApp();
  await t.sql(`update stock_levels set quantity = 100 where product_id in (select id from products where number in ('P-1020', 'P-1021'))`);
  await t.sql(`update products set price_minor = 8000, vat_rate_bp = 2500 where number in ('P-1020', 'P-1021')`);
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

async function stateId(role: string, type = 'order'): Promise<number> {
  const [s] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = $1 and f.is_default and s.role = $2`, [type, role]);
  return s.id;
}

/** Sam buys 2 × P-1020 by card; staff capture it and move it along to the shipped-role state. */
async function capturedOrder(ship = true): Promise<{ customer: TestAgent; number: string; id: number }> {
  const customer = newAgent(t);
  await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
  await addToBasket(t, customer, 'P-1020', 2);
  const number = await checkoutToReview(t, customer);
  expect((await place(customer, number)).status).toBe(303);
  const [order] = await t.sql('select id from orders where number = $1', [number]);
  if (!ship) return { customer, number, id: Number(order.id) };
  expect((await postForm(staff, `/admin/orders/${number}/capture`, {}, `/admin/orders/${number}`)).status).toBe(303);
  await moveToShipped(order.id);
  return { customer, number, id: Number(order.id) };
}

/** Through the seeded order flow's states to the shipped-role one, as staff would. */
async function moveToShipped(orderId: number): Promise<void> {
  for (const name of ['Received', 'Picked', 'Shipped']) {
    const [s] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = 'Standard order flow' and s.name = $1`, [name]);
    await t.services.flows.changeState({ orderId, toStateId: s.id, actor: { userId: null, kind: 'system', source: 'system' } });
  }
}

/** The customer returns both units; staff approve. Returns the RMA number. */
async function approvedReturn(customer: TestAgent, number: string): Promise<string> {
  const [line] = await t.sql(`select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [number]);
  const res = await postForm(customer, '/customer-center/returns', { orderNumber: number, reason: 'Damaged on arrival', comment: '', resolution: 'refund', [`line_${line.id}`]: 2 },
    `/customer-center/returns/new?order=${number}`);
  expect(res.status).toBe(303);
  const rma = /(RMA\d+)/.exec(res.headers.location)![1];
  expect((await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`)).status).toBe(303);
  return rma;
}

const stockOf = async (product: string) =>
  (await t.sql(`select sum(quantity)::int as n from stock_levels where product_id = (select id from products where number = $1)`, [product]))[0].n as number;
const mainWarehouse = async () => (await t.sql(`select id from stock_locations where name = 'Main warehouse'`))[0].id as number;
/** What cancelling did to an order: payment status, stock flag, voids at the provider (logged and in the sandbox's ledger), effects, pending calls. */
async function cancelFacts(orderId: number) {
  const [row] = await t.sql(`select o.payment_status, o.stock_reserved,
      (select count(*)::int from payment_transactions p where p.order_id = o.id and p.operation = 'cancel' and p.success) as voids,
      (select status from sandbox_payments s where s.reference = o.transaction_number) as provider,
      (select string_agg(effect, ',' order by effect) from record_effects e where e.order_id = o.id) as effects,
      (select count(*)::int from payment_operations p where p.order_id = o.id and p.status = 'pending') as pending
    from orders o where o.id = $1`, [orderId]);
  return row;
}
/** Reserves a capture as the payment desk does (order locked, committed) — and then, like a process that died, goes no further. */
async function reserveCaptureOf(orderId: number, amountMinor: number) {
  const [{ id: userId }] = await t.sql(`select id from users where email = 'admin@orderflow.test'`);
  return t.orm.em.fork().transactional(async (em) => {
    const order = await em.findOneOrFail(Order, orderId, { lockMode: LockMode.PESSIMISTIC_WRITE });
    return t.services.paymentDesk.reserveCapture(em, order, amountMinor, { userId, source: 'backend' });
  });
}
/** An order's captured amount and state, its capture attempts (logged), its payment operations and the provider's side. */
async function operationFacts(orderId: number) {
  const [row] = await t.sql(`select o.captured_minor::int as captured, o.capture_state,
      (select count(*)::int from payment_transactions p where p.order_id = o.id and p.operation = 'capture') as captures,
      (select string_agg(status, ',' order by id) from payment_operations p where p.order_id = o.id) as operations,
      (select status from sandbox_payments s where s.reference = o.transaction_number) as provider
    from orders o where o.id = $1`, [orderId]);
  return row;
}
const ordersCounted = async () => (await t.services.statistics.report({ from: today, to: today, interval: 'day', shopId: 'SHOP1' })).totals.orders;

describe('flows with integrity', () => {
  it('a refunded return offers no further receive or refund, and one posted anyway changes nothing (RMA00001 reproduction)', async () => {
    const { customer, number } = await capturedOrder();
    const rma = await approvedReturn(customer, number);
    const location = await mainWarehouse();
    const stock0 = await stockOf('P-1020');
    expect((await postForm(staff, `/admin/returns/${rma}/receive`, { locationId: location }, `/admin/returns/${rma}`)).status).toBe(303);
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '200', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(303);

    const page = await staff.get(`/admin/returns/${rma}`).expect(200);
    expect(page.text).not.toContain('Mark goods received');
    expect(page.text).not.toContain('>Refund<');
    expect(page.text).toContain('is a final state');

    const receiveAgain = await postForm(staff, `/admin/returns/${rma}/receive`, { locationId: location }, `/admin/returns/${rma}`);
    expect(receiveAgain.status).toBe(409);
    expect(receiveAgain.text).toContain('a final state');
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '200', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(409);
    const [order] = await t.sql('select refunded_minor from orders where number = $1', [number]);
    expect(order.refunded_minor).toBe('20000');
    expect(await stockOf('P-1020')).toBe(stock0 + 2);
  });

  it('two parallel refunds of one return refund once; two parallel receives restock once', async () => {
    const { customer, number } = await capturedOrder();
    const rma = await approvedReturn(customer, number);
    const location = await mainWarehouse();
    const stock0 = await stockOf('P-1020');
    const receives = await Promise.all([1, 2].map(() => postForm(staff, `/admin/returns/${rma}/receive`, { locationId: location }, `/admin/returns/${rma}`)));
    expect(receives.map((r) => r.status).sort()).toEqual([303, 409]);
    expect(await stockOf('P-1020')).toBe(stock0 + 2);

    const refunds = await Promise.all([1, 2].map(() => postForm(staff, `/admin/returns/${rma}/refund`, { amount: '200', confirmed: '1' }, `/admin/returns/${rma}`)));
    expect(refunds.map((r) => r.status).sort()).toEqual([303, 409]);
    const [order] = await t.sql('select refunded_minor from orders where number = $1', [number]);
    expect(order.refunded_minor).toBe('20000');
    const effects = await t.sql(`select e.effect, count(*)::int as n from record_effects e join returns r on r.id = e.return_id where r.number = $1 group by e.effect order by e.effect`, [rma]);
    expect(effects).toEqual([{ effect: 'return_refund', n: 1 }, { effect: 'return_restock', n: 1 }]);
  });

  it('a return refund the provider refuses changes nothing and releases its claim; the next try refunds once', async () => {
    const { customer, number } = await capturedOrder();
    const rma = await approvedReturn(customer, number);
    expect((await postForm(staff, `/admin/returns/${rma}/receive`, {}, `/admin/returns/${rma}`)).status).toBe(303);
    const gateway = t.services.payments.get('sandbox_card');
    const refund = gateway.refund;
    gateway.refund = async () => ({ success: false, message: 'Refund declined.', reference: '' });
    try {
      const refused = await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '200', confirmed: '1' }, `/admin/returns/${rma}`);
      expect(refused.status).toBe(402);
      expect(refused.text).toContain('The payment provider refused to refund 200.00');
    } finally {
      gateway.refund = refund;
    }
    const facts = async () => (await t.sql(`select s.role, r.refunded_minor, o.refunded_minor as order_refunded,
        (select count(*)::int from record_effects e where e.return_id = r.id and e.effect = 'return_refund') as claims,
        (select string_agg(p.status, ',' order by p.id) from payment_operations p where p.order_id = o.id and p.operation = 'refund') as calls
      from returns r join orders o on o.id = r.order_id join flow_states s on s.id = r.state_id where r.number = $1`, [rma]))[0];
    expect(await facts()).toEqual({ role: 'received', refunded_minor: '0', order_refunded: '0', claims: 0, calls: 'failed' });
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '200', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(303);
    expect(await facts()).toEqual({ role: 'refunded', refunded_minor: '20000', order_refunded: '20000', claims: 1, calls: 'failed,done' });
  });

  it('a return refund whose answer was lost is completed by the recovery job: the order and the return record it once, and the return moves to its refunded-role state with history', async () => {
    const { customer, number } = await capturedOrder();
    const rma = await approvedReturn(customer, number);
    expect((await postForm(staff, `/admin/returns/${rma}/receive`, {}, `/admin/returns/${rma}`)).status).toBe(303);
    await withLostProviderAnswers(t, 'refund', async () => {
      const res = await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '150', confirmed: '1' }, `/admin/returns/${rma}`);
      expect(res.status).toBe(409);
      expect(res.text).toContain('may or may not have been done');
    });
    const facts = async () => (await t.sql(`select s.role, r.refunded_minor::int as refunded, o.refunded_minor::int as order_refunded,
        (select count(*)::int from record_effects e where e.return_id = r.id and e.effect = 'return_refund') as claims,
        (select string_agg(p.status, ',' order by p.id) from payment_operations p where p.order_id = o.id and p.operation = 'refund') as calls,
        (select count(*)::int from sandbox_payment_operations x where x.operation = 'refund' and x.reference = o.transaction_number) as provider_refunds,
        (select count(*)::int from return_history h where h.return_id = r.id and h.to_state_id = r.state_id and h.event = 'refunded') as refunded_entries
      from returns r join orders o on o.id = r.order_id join flow_states s on s.id = r.state_id where r.number = $1`, [rma]))[0];
    expect(await facts()).toEqual({ role: 'received', refunded: 0, order_refunded: 0, claims: 1, calls: 'pending', provider_refunds: 1, refunded_entries: 0 });

    await t.sql(`update payment_operations set created_at = now() - interval '2 minutes' where status = 'pending' and order_id = (select id from orders where number = $1)`, [number]);
    const runs = await Promise.all([t.services.paymentDesk.recoverStale(), t.services.paymentDesk.recoverStale()]);
    expect(runs.flat().map((r) => r.outcome)).toEqual(['confirmed']);
    expect(await facts()).toEqual({ role: 'refunded', refunded: 15000, order_refunded: 15000, claims: 1, calls: 'done', provider_refunds: 1, refunded_entries: 1 });
    // Refunding the return again is refused: it is in a final state.
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '150', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(409);
    expect(await facts()).toMatchObject({ refunded: 15000, order_refunded: 15000, provider_refunds: 1 });
  });

  it('the database itself refuses a second refund row and a refund above the goods’ value plus the entered fee', async () => {
    const { customer, number } = await capturedOrder();
    const rma = await approvedReturn(customer, number);
    const [ret] = await t.sql(`select r.id, r.order_id, r.goods_value_minor from returns r where r.number = $1`, [rma]);
    expect(ret.goods_value_minor).toBe('20000');
    await t.sql(`insert into record_effects (order_id, return_id, effect) values ($1, $2, 'return_refund')`, [ret.order_id, ret.id]);
    await expect(t.sql(`insert into record_effects (order_id, return_id, effect) values ($1, $2, 'return_refund')`, [ret.order_id, ret.id])).rejects.toThrow(/record_effects_once/);
    await expect(t.sql(`update returns set refunded_minor = 20001 where id = $1`, [ret.id])).rejects.toThrow(/returns_refund_within_value/);
    await t.sql(`update returns set refunded_minor = 23900, refund_fee_minor = 3900 where id = $1`, [ret.id]);
  });

  it('a cancelled order is final and never counts in statistics, whatever its state is called; reopening needs the permission and a reason and repeats no effect', async () => {
    // Staff rename "Cancelled" and untick "exclude from statistics": the role still decides.
    const cancelledId = await stateId('cancelled');
    await t.sql(`update flow_states set name = 'Storniert', exclude_from_statistics = false where id = $1`, [cancelledId]);
    const { number, id } = await capturedOrder(false);
    const counted = await ordersCounted();
    const stock0 = await stockOf('P-1020');

    expect((await postForm(staff, `/admin/orders/${number}/cancel`, { confirmed: '1' }, `/admin/orders/${number}`)).status).toBe(303);
    expect(await stockOf('P-1020')).toBe(stock0 + 2);
    expect(await ordersCounted()).toBe(counted - 1);

    const details = await staff.get(`/admin/orders/${number}`).expect(200);
    expect(details.text).toContain('“Storniert” is a final state');
    const [{ version }] = await t.sql('select version from orders where id = $1', [id]);
    const back = await postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('new'), version, message: '' }, `/admin/orders/${number}`);
    expect(back.status).toBe(409);
    expect(back.text).toContain('a final state');

    // Without the permission: refused. With it but no reason: refused. With both: back in "New", the reason in the history.
    await t.sql(`update users set can_reopen_records = false where email = 'admin@orderflow.test'`);
    const denied = await postForm(staff, `/admin/orders/${number}/reopen`, { stateId: await stateId('new'), version, reason: 'Customer called' }, `/admin/orders/${number}`);
    expect(denied.status).toBe(403);
    expect(denied.text).toContain('data-testid="refused-reopen"');
    await t.sql(`update users set can_reopen_records = true where email = 'admin@orderflow.test'`);
    const noReason = await postForm(staff, `/admin/orders/${number}/reopen`, { stateId: await stateId('new'), version, reason: ' ' }, `/admin/orders/${number}`);
    expect(noReason.status).toBe(422);
    expect(noReason.text).toContain('data-testid="refused-reopen"');
    expect(noReason.text).not.toContain('Continue shopping');
    expect((await postForm(staff, `/admin/orders/${number}/reopen`, { stateId: await stateId('new'), version, reason: 'Customer called: keep it' }, `/admin/orders/${number}`)).status).toBe(303);
    const [h] = await t.sql(`select event, message from order_state_history where order_id = $1 order by id desc limit 1`, [id]);
    expect(h).toEqual({ event: 'reopened', message: 'Customer called: keep it' });

    // Its authorization stays void: it still does not count, a second cancel voids nothing and restocks nothing.
    expect(await ordersCounted()).toBe(counted - 1);
    expect((await postForm(staff, `/admin/orders/${number}/cancel`, {}, `/admin/orders/${number}`)).status).toBe(409);
    expect(await stockOf('P-1020')).toBe(stock0 + 2);
    const voids = await t.sql(`select count(*)::int as n from payment_transactions where order_id = $1 and operation = 'cancel'`, [id]);
    expect(voids[0].n).toBe(1);

    // An order moved into the cancelled-role state from the dropdown (no payment-desk cancel) leaves the figures too.
    const other = await capturedOrder(false);
    const before = await ordersCounted();
    await t.services.flows.changeState({ orderId: other.id, toStateId: cancelledId, actor: { userId: null, kind: 'staff', source: 'backend' } });
    expect(await ordersCounted()).toBe(before - 1);
    await t.sql(`update flow_states set name = 'Cancelled', exclude_from_statistics = true where id = $1`, [cancelledId]);
  });

  it('entering the cancelled-role state by the state select or the bulk change voids and restocks like the payment desk, once', async () => {
    const cancelledId = await stateId('cancelled');
    const stock0 = await stockOf('P-1020');
    // The state select on the order page.
    const picked = await capturedOrder(false);
    expect(await stockOf('P-1020')).toBe(stock0 - 2);
    const [{ version }] = await t.sql('select version from orders where id = $1', [picked.id]);
    const moved = await postForm(staff, `/admin/orders/${picked.number}/state`, { stateId: cancelledId, version, message: '' }, `/admin/orders/${picked.number}`);
    expect(moved.status).toBe(303);
    expect(await stockOf('P-1020')).toBe(stock0);
    expect(await cancelFacts(picked.id)).toEqual({ payment_status: 'cancelled', stock_reserved: false, voids: 1, provider: 'voided', effects: 'restock,void', pending: 0 });

    // The bulk change on the order list.
    const bulk = await capturedOrder(false);
    const [result] = await t.services.orderAdmin.changeStates([bulk.number], cancelledId, { userId: null, kind: 'staff', source: 'bulk' });
    expect(result.moved).toBe(true);
    expect(await stockOf('P-1020')).toBe(stock0);
    expect(await cancelFacts(bulk.id)).toEqual({ payment_status: 'cancelled', stock_reserved: false, voids: 1, provider: 'voided', effects: 'restock,void', pending: 0 });
  });

  it('two parallel cancels (payment desk and state select) cancel once: 303 + 409, one void at the provider, the stock back once', async () => {
    const stock0 = await stockOf('P-1020');
    const { number, id } = await capturedOrder(false);
    const [{ version }] = await t.sql('select version from orders where id = $1', [id]);
    const answers = await Promise.all([
      postForm(staff, `/admin/orders/${number}/cancel`, { confirmed: '1' }, `/admin/orders/${number}`),
      postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('cancelled'), version, message: '' }, `/admin/orders/${number}`),
    ]);
    expect(answers.map((r) => r.status).sort()).toEqual([303, 409]);
    expect(await stockOf('P-1020')).toBe(stock0);
    expect(await cancelFacts(id)).toEqual({ payment_status: 'cancelled', stock_reserved: false, voids: 1, provider: 'voided', effects: 'restock,void', pending: 0 });
  });

  it('a void the provider does not confirm keeps the order cancelled and is made later by the void job, once; a captured order is not offered the cancel', async () => {
    const { number, id } = await capturedOrder(false);
    const gateway = t.services.payments.get('sandbox_card');
    const cancel = gateway.cancel;
    gateway.cancel = async () => ({ success: false, message: 'Gateway timeout.', reference: '' });
    try {
      const res = await postForm(staff, `/admin/orders/${number}/cancel`, { confirmed: '1' }, `/admin/orders/${number}`);
      expect(res.status).toBe(303);
      const page = await staff.get(`/admin/orders/${number}`).expect(200);
      expect(page.text).toContain('has not confirmed voiding the authorization yet (Gateway timeout.); it is retried automatically');
    } finally {
      gateway.cancel = cancel;
    }
    expect(await cancelFacts(id)).toMatchObject({ payment_status: 'cancelled', voids: 0, provider: 'authorized', pending: 1 });
    // Not due yet (it backs off); once due, the job voids it — and only once, however often it runs.
    expect(await t.services.paymentDesk.settleVoids()).toEqual([]);
    await t.sql(`update payment_operations set lease_until = now() - interval '1 second' where order_id = $1`, [id]);
    const runs = await Promise.all([t.services.paymentDesk.settleVoids(), t.services.paymentDesk.settleVoids()]);
    expect(runs.flat().filter((r) => r.orderId === id)).toEqual([{ orderId: id, success: true, message: 'Authorization cancelled.' }]);
    expect(await cancelFacts(id)).toMatchObject({ voids: 1, provider: 'voided', pending: 0 });

    // Money captured: the state select does not offer the cancelled-role state, and a posted move is refused.
    const captured = await capturedOrder();
    const details = await staff.get(`/admin/orders/${captured.number}`).expect(200);
    expect(details.text).not.toMatch(/Standard order flow → Cancelled/);
    const [{ version }] = await t.sql('select version from orders where id = $1', [captured.id]);
    const refused = await postForm(staff, `/admin/orders/${captured.number}/state`, { stateId: await stateId('cancelled'), version, message: '' }, `/admin/orders/${captured.number}`);
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('has already been captured. Refund the captured money instead.');

    // Captured and then refunded in full (not shipped), nothing is held any more: the order may be cancelled.
    const paid = await capturedOrder(false);
    expect((await postForm(staff, `/admin/orders/${paid.number}/capture`, {}, `/admin/orders/${paid.number}`)).status).toBe(303);
    expect((await staff.get(`/admin/orders/${paid.number}`)).text).not.toMatch(/Standard order flow → Cancelled/);
    const [{ total }] = await t.sql('select total_minor::int as total from orders where id = $1', [paid.id]);
    expect((await postForm(staff, `/admin/orders/${paid.number}/refund`, { amount: (total / 100).toFixed(2), confirmed: '1' }, `/admin/orders/${paid.number}`)).status).toBe(303);
    expect((await t.sql('select refunded_minor::int as r from orders where id = $1', [paid.id]))[0].r).toBe(total);
    expect((await staff.get(`/admin/orders/${paid.number}`)).text).toMatch(/Standard order flow → Cancelled/);
    const [{ version: refundedVersion }] = await t.sql('select version from orders where id = $1', [paid.id]);
    const cancelled = await postForm(staff, `/admin/orders/${paid.number}/state`, { stateId: await stateId('cancelled'), version: refundedVersion, message: '' }, `/admin/orders/${paid.number}`);
    expect(cancelled.status).toBe(303);
    const [after] = await t.sql(`select s.role, o.stock_reserved from orders o join flow_states s on s.id = o.state_id where o.id = $1`, [paid.id]);
    expect(after).toEqual({ role: 'cancelled', stock_reserved: false });
  });

  it('two parallel captures from the payment desk capture once: 303 + 409, one capture at the provider, no lock held while it answers', async () => {
    const { number, id } = await capturedOrder(false);
    const answers = await Promise.all([1, 2].map(() => postForm(staff, `/admin/orders/${number}/capture`, {}, `/admin/orders/${number}`)));
    expect(answers.map((r) => r.status).sort()).toEqual([303, 409]);
    expect(answers.find((r) => r.status === 409)!.text).toContain('is already fully captured');
    const [facts] = await t.sql(`select o.total_minor = o.captured_minor as all_captured, o.capture_state,
        (select count(*)::int from payment_transactions p where p.order_id = o.id and p.operation = 'capture') as captures,
        (select status from sandbox_payments s where s.reference = o.transaction_number) as provider,
        (select string_agg(status, ',') from payment_operations p where p.order_id = o.id) as operations
      from orders o where o.id = $1`, [id]);
    expect(facts).toEqual({ all_captured: true, capture_state: 'captured', captures: 1, provider: 'captured', operations: 'done' });
  });

  it('a capture whose process died after reserving it recovers by itself: the job asks the provider by the operation\'s key and records the capture once, also when two jobs race', async () => {
    const { number, id } = await capturedOrder(false);
    const [{ total, transaction_number: reference }] = await t.sql('select total_minor::int as total, transaction_number from orders where id = $1', [id]);
    // The dead process: reserved the capture (committed), the provider captured under its key, the answer was never recorded.
    const op = await reserveCaptureOf(id, total);
    await t.services.payments.get('sandbox_card').capture({ reference, amountMinor: total, final: true, operationKey: op.key });
    expect(await operationFacts(id)).toMatchObject({ captured: 0, operations: 'pending', provider: 'captured' });

    // Not stale yet: the job leaves it to the (possibly still living) caller.
    expect((await t.services.paymentDesk.recoverStale()).filter((r) => r.orderId === id)).toEqual([]);
    await t.sql(`update payment_operations set created_at = now() - interval '2 minutes' where id = $1`, [op.id]);
    const runs = await Promise.all([t.services.paymentDesk.recoverStale(), t.services.paymentDesk.recoverStale()]);
    expect(runs.flat().filter((r) => r.orderId === id)).toEqual([{ orderId: id, operation: 'capture', outcome: 'confirmed' }]);
    expect(await operationFacts(id)).toEqual({ captured: total, capture_state: 'captured', captures: 1, operations: 'done', provider: 'captured' });
    expect(await t.services.paymentDesk.recoverStale()).toEqual([]);

    // The order is unblocked and shows the capture; a further capture is refused for what it is, not "waiting".
    const page = await staff.get(`/admin/orders/${number}`).expect(200);
    expect(page.text).toMatch(/data-testid="payment-status">captured</);
    const again = await postForm(staff, `/admin/orders/${number}/capture`, {}, `/admin/orders/${number}`);
    expect(again.status).toBe(409);
    expect(again.text).toContain('is already fully captured');
  });

  it('a refund whose answer was lost (the provider refunded, then the connection broke) keeps the order waiting, then the job records the refund once', async () => {
    const { number, id } = await capturedOrder();
    await withLostProviderAnswers(t, 'refund', async () => {
      const res = await postForm(staff, `/admin/orders/${number}/refund`, { amount: '50.00', confirmed: '1' }, `/admin/orders/${number}`);
      expect(res.status).toBe(409);
      expect(res.text).toContain('did not answer the refund of');
      expect(res.text).toContain('may or may not have been done');
    });
    const refundFacts = async () => (await t.sql(`select o.refunded_minor::int as refunded, o.payment_status,
        (select string_agg(status, ',' order by id) from payment_operations p where p.order_id = o.id and p.operation = 'refund') as operations,
        (select count(*)::int from sandbox_payment_operations s where s.operation = 'refund' and s.reference = o.transaction_number) as provider_refunds,
        (select string_agg(p.success::text, ',' order by p.id) from payment_transactions p where p.order_id = o.id and p.operation = 'refund') as logged
      from orders o where o.id = $1`, [id]))[0];
    expect(await refundFacts()).toEqual({ refunded: 0, payment_status: 'captured', operations: 'pending', provider_refunds: 1, logged: 'false' });

    await t.sql(`update payment_operations set created_at = now() - interval '2 minutes' where order_id = $1 and status = 'pending'`, [id]);
    const runs = await Promise.all([t.services.paymentDesk.recoverStale(), t.services.paymentDesk.recoverStale()]);
    expect(runs.flat().filter((r) => r.orderId === id)).toEqual([{ orderId: id, operation: 'refund', outcome: 'confirmed' }]);
    expect(await refundFacts()).toEqual({ refunded: 5000, payment_status: 'partly_refunded', operations: 'done', provider_refunds: 1, logged: 'false,true' });
    const page = await staff.get(`/admin/orders/${number}`).expect(200);
    expect(page.text).toMatch(/data-testid="payment-status">partly refunded</);
  });

  it('a desk capture the provider answers only after PAYMENT_GATEWAY_TIMEOUT_MS stays pending (outcome unknown); the job records it once', async () => {
    const { number, id } = await capturedOrder(false);
    const [{ total }] = await t.sql('select total_minor::int as total from orders where id = $1', [id]);
    const desk = (t.services.paymentDesk as unknown as { options: { gatewayTimeoutMs: number } }).options;
    const sandbox = t.services.payments.sandbox.options;
    const before = desk.gatewayTimeoutMs;
    desk.gatewayTimeoutMs = 300;
    sandbox.latencyMs = 4000;
    try {
      // The shop's answer comes from its own timeout (the message below), not from the provider's late answer.
      const res = await postForm(staff, `/admin/orders/${number}/capture`, {}, `/admin/orders/${number}`);
      expect(res.status).toBe(409);
      expect(res.text).toContain('did not answer the capture of');
      expect(res.text).toContain('did not answer in time');
      // The provider captured (its answer is on its way), the shop does not know: pending, nothing recorded as captured.
      expect(await operationFacts(id)).toEqual({ captured: 0, capture_state: 'not_captured', captures: 1, operations: 'pending', provider: 'captured' });
    } finally {
      desk.gatewayTimeoutMs = before;
      sandbox.latencyMs = 0;
    }
    await t.sql(`update payment_operations set created_at = now() - interval '2 minutes' where order_id = $1 and status = 'pending'`, [id]);
    const runs = await Promise.all([t.services.paymentDesk.recoverStale(), t.services.paymentDesk.recoverStale()]);
    expect(runs.flat().filter((r) => r.orderId === id)).toEqual([{ orderId: id, operation: 'capture', outcome: 'confirmed' }]);
    expect(await operationFacts(id)).toEqual({ captured: total, capture_state: 'captured', captures: 2, operations: 'done', provider: 'captured' });
    expect((await t.sql(`select count(*)::int as n from sandbox_payment_operations where operation = 'capture' and reference = (select transaction_number from orders where id = $1)`, [id]))[0].n).toBe(1);
  });

  it('a capture whose process died before the provider received it is released by the job: nothing captured, and staff can capture again', async () => {
    const { number, id } = await capturedOrder(false);
    const [{ total }] = await t.sql('select total_minor::int as total from orders where id = $1', [id]);
    const op = await reserveCaptureOf(id, total);
    await t.sql(`update payment_operations set created_at = now() - interval '2 minutes' where id = $1`, [op.id]);
    const runs = await Promise.all([t.services.paymentDesk.recoverStale(), t.services.paymentDesk.recoverStale()]);
    expect(runs.flat().filter((r) => r.orderId === id)).toEqual([{ orderId: id, operation: 'capture', outcome: 'never_sent' }]);
    expect(await operationFacts(id)).toEqual({ captured: 0, capture_state: 'not_captured', captures: 1, operations: 'failed', provider: 'authorized' });

    const res = await postForm(staff, `/admin/orders/${number}/capture`, {}, `/admin/orders/${number}`);
    expect(res.status).toBe(303);
    expect(await operationFacts(id)).toEqual({ captured: total, capture_state: 'captured', captures: 2, operations: 'failed,done', provider: 'captured' });
    const [failed] = await t.sql(`select success, message from payment_transactions where order_id = $1 and operation = 'capture' order by id limit 1`, [id]);
    expect(failed).toEqual({ success: false, message: expect.stringContaining('never received this call') });
  });

  it('capture-on-ship happens once per shipment: shipping again, re-entering the shipped-role state or a second effect row captures nothing more', async () => {
    const { number, id } = await capturedOrder(false);
    const [line] = await t.sql('select id from order_lines where order_id = $1', [id]);
    const ship = () => postForm(staff, `/admin/orders/${number}/shipments`, { [`qty_${line.id}`]: '2', trackingNumber: '' }, `/admin/orders/${number}`);
    const shipped = await Promise.all([ship(), ship()]);
    expect(shipped.map((r) => r.status).sort()).toEqual([303, 409]);
    expect(shipped.find((r) => r.status === 409)!.text).toContain('has been shipped already');
    await moveToShipped(id);
    expect((await ship()).status).toBe(409);
    const captures = await t.sql(`select amount_minor from payment_transactions where order_id = $1 and operation = 'capture'`, [id]);
    const [{ total_minor: total }] = await t.sql('select total_minor from orders where id = $1', [id]);
    expect(captures).toEqual([{ amount_minor: total }]);
    expect(await t.sql(`select effect, line_id, amount_minor from record_effects where order_id = $1`, [id])).toEqual([{ effect: 'shipment_capture', line_id: '1', amount_minor: total }]);
    await expect(t.sql(`insert into record_effects (order_id, effect, line_id) values ($1, 'shipment_capture', 1)`, [id])).rejects.toThrow(/record_effects_once/);
  });

  it('a shipment whose capture answer was lost, recovered by the job, is not captured again when it is shipped again', async () => {
    const { number, id } = await capturedOrder(false);
    const [line] = await t.sql('select id from order_lines where order_id = $1', [id]);
    const ship = (qty: number) => postForm(staff, `/admin/orders/${number}/shipments`, { [`qty_${line.id}`]: String(qty), trackingNumber: '' }, `/admin/orders/${number}`);
    await withLostProviderAnswers(t, 'capture', async () => {
      const res = await ship(1);
      expect(res.status).toBe(409);
      expect(res.text).toContain('may or may not have been done');
    });
    const facts = async () => (await t.sql(`select o.captured_minor::int as captured, o.total_minor::int as total,
        (select count(*)::int from sandbox_payment_operations s where s.operation = 'capture' and s.reference = o.transaction_number) as provider_captures,
        (select string_agg(s.shipment_no || ':' || s.captured_minor, ',' order by s.shipment_no) from shipments s where s.order_id = o.id) as shipments,
        (select string_agg(e.line_id || ':' || e.amount_minor, ',' order by e.line_id) from record_effects e where e.order_id = o.id and e.effect = 'shipment_capture') as effects
      from orders o where o.id = $1`, [id]))[0];
    expect(await facts()).toMatchObject({ captured: 0, provider_captures: 1, shipments: null });
    await t.sql(`update payment_operations set created_at = now() - interval '2 minutes' where order_id = $1 and status = 'pending'`, [id]);
    expect((await t.services.paymentDesk.recoverStale()).filter((r) => r.orderId === id)).toEqual([{ orderId: id, operation: 'capture', outcome: 'confirmed' }]);
    const { captured: first, total } = await facts();
    expect(first).toBeGreaterThan(0);

    // Shipping the unit again writes shipment 1 with the capture the job recorded: nothing more at the provider.
    expect((await ship(1)).status).toBe(303);
    expect(await facts()).toEqual({ captured: first, total, provider_captures: 1, shipments: `1:${first}`, effects: `1:${first}` });
    // The last unit captures the rest, once.
    expect((await ship(1)).status).toBe(303);
    expect(await facts()).toEqual({ captured: total, total, provider_captures: 2, shipments: `1:${first},2:${total - first}`, effects: `1:${first},2:${total - first}` });
  });

  it('a refunded return is reopened only with the permission and a reason, and its refund and restock are never repeated', async () => {
    const { customer, number } = await capturedOrder();
    const rma = await approvedReturn(customer, number);
    const location = await mainWarehouse();
    expect((await postForm(staff, `/admin/returns/${rma}/receive`, { locationId: location }, `/admin/returns/${rma}`)).status).toBe(303);
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '200', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(303);
    const stock0 = await stockOf('P-1020');
    const receivedState = await stateId('received', 'return');

    await t.sql(`update users set can_reopen_records = false where email = 'admin@orderflow.test'`);
    const page = await staff.get(`/admin/returns/${rma}`).expect(200);
    expect(page.text).toContain('Staff with the “reopen” permission can reopen it.');
    expect(page.text).not.toContain('Reopen into');
    expect((await postForm(staff, `/admin/returns/${rma}/reopen`, { stateId: receivedState, reason: 'Customer disputes the amount' }, `/admin/returns/${rma}`)).status).toBe(403);
    await t.sql(`update users set can_reopen_records = true where email = 'admin@orderflow.test'`);
    expect((await staff.get(`/admin/returns/${rma}`).expect(200)).text).toContain('Reopen into');
    const noReason = await postForm(staff, `/admin/returns/${rma}/reopen`, { stateId: receivedState, reason: '' }, `/admin/returns/${rma}`);
    expect(noReason.status).toBe(422);
    // Refused once, by the reopen form on the return's page.
    expect(noReason.text.match(/data-testid="refused-reopen"/g)).toHaveLength(1);
    expect((await postForm(staff, `/admin/returns/${rma}/reopen`, { stateId: await stateId('replaced', 'return'), reason: 'x' }, `/admin/returns/${rma}`)).status).toBe(409);
    expect((await postForm(staff, `/admin/returns/${rma}/reopen`, { stateId: receivedState, reason: 'Customer disputes the amount' }, `/admin/returns/${rma}`)).status).toBe(303);
    const [ret] = await t.sql(`select r.id, s.role from returns r join flow_states s on s.id = r.state_id where r.number = $1`, [rma]);
    expect(ret.role).toBe('received');
    const [h] = await t.sql(`select event, message from return_history where return_id = $1 order by id desc limit 1`, [ret.id]);
    expect(h).toEqual({ event: 'reopened', message: 'Customer disputes the amount' });

    // Reopened, the return offers its steps again — but what it did stays done once.
    const refundAgain = await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '200', confirmed: '1' }, `/admin/returns/${rma}`);
    expect(refundAgain.status).toBe(409);
    expect(refundAgain.text).toContain('never refunded twice');
    expect((await postForm(staff, `/admin/returns/${rma}/receive`, { locationId: location }, `/admin/returns/${rma}`)).status).toBe(409);
    const [order] = await t.sql('select refunded_minor from orders where number = $1', [number]);
    expect(order.refunded_minor).toBe('20000');
    expect(await stockOf('P-1020')).toBe(stock0);
  });

  it('a quote past its validity date expires by itself once, through the gate, with history and mail', async () => {
    const customer = newAgent(t);
    await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
    await t.sql(`update orders set deleted = true, basket_status = null where user_id = (select id from users where email = 'shopper@orderflow.test') and basket_status = 'basket'`);
    await addToBasket(t, customer, 'P-1021', 3);
    await checkoutToReview(t, customer);
    const res = await postForm(customer, '/checkout/quote', { customerComment: '' }, '/checkout/review');
    const quote = /(QUOTE\d+)/.exec(res.headers.location)![1];
    expect((await postForm(staff, `/admin/quotes/${quote}/offer`, {}, `/admin/quotes/${quote}`)).status).toBe(303);
    // Offered with a validity date that has since passed.
    await t.sql(`update orders set quote_expires_on = current_date - 1 where number = $1`, [quote]);

    const [first, second] = await Promise.all([t.services.quotes.expireDue(new Date()), t.services.quotes.expireDue(new Date())]);
    expect([...first, ...second].filter((n) => n === quote)).toEqual([quote]);
    expect(await t.services.quotes.expireDue(new Date())).not.toContain(quote);
    const [q] = await t.sql(`select s.role, s.final from orders o join flow_states s on s.id = o.state_id where o.number = $1`, [quote]);
    expect(q).toEqual({ role: 'expired', final: true });
    const history = await t.sql(`select h.event, h.actor_kind from order_state_history h join orders o on o.id = h.order_id where o.number = $1 and h.event = 'quote_expired'`, [quote]);
    expect(history).toEqual([{ event: 'quote_expired', actor_kind: 'system' }]);
    // Earlier tests of this file queued mails too: send every due one.
    await t.worker.sendDue(1000);
    await waitFor(() => t.mails.find((m) => m.subject === `Your quote ${quote} has expired`));
    expect(t.mails.filter((m) => m.subject === `Your quote ${quote} has expired`)).toHaveLength(1);
  });

  it('staff pick a state’s role from the type’s list on the settings page: one state per role (processing may repeat), a final state is never the default', async () => {
    const [flow] = await t.sql(`select id from flows where type = 'order' and is_default`);
    const form = (over: Record<string, string>) => ({
      name: 'Storno', description: '', color: '#6b7280', allowOrder: 'on', mailSubject: '', mailSenderName: '', mailSenderEmail: '',
      customRecipientField: '', mailTemplate: '', othersRecipients: '', othersTemplate: '', ...over,
    });
    const url = `/admin/settings/flows/${flow.id}/states`;
    const taken = await postForm(staff, url, form({ role: 'cancelled' }), `${url}/new`);
    expect(taken.status).toBe(422);
    expect(taken.text).toContain('is already given to “Cancelled”');
    const foreign = await postForm(staff, url, form({ role: 'refunded' }), `${url}/new`);
    expect(foreign.status).toBe(422);
    expect(foreign.text).toContain('must be one of the order roles listed');
    const finalDefault = await postForm(staff, url, form({ role: 'processing', final: 'on', isDefault: 'on' }), `${url}/new`);
    expect(finalDefault.status).toBe(422);
    expect(finalDefault.text).toContain('cannot be checked for the default state');
    expect((await postForm(staff, url, form({ role: 'processing', name: 'Packed' }), `${url}/new`)).status).toBe(303);
    const [packed] = await t.sql(`select role, final from flow_states where flow_id = $1 and name = 'Packed'`, [flow.id]);
    expect(packed).toEqual({ role: 'processing', final: false });
    await expect(t.sql(`update flow_states set role = 'refunded' where flow_id = $1 and name = 'Packed'`, [flow.id])).rejects.toThrow(/flow_states_role_allowed/);
    await t.sql(`update flow_states set deleted = true where flow_id = $1 and name = 'Packed'`, [flow.id]);
  });

  it('no state changes without its history entry: the database refuses it, and every record ends where its history says', async () => {
    const { id } = await capturedOrder(false);
    await expect(t.sql('update orders set state_id = $1 where id = $2', [await stateId('processing'), id])).rejects.toThrow(/without a history entry/);
    const [ret] = await t.sql('select id from returns limit 1');
    await expect(t.sql(`update returns set state_id = $1 where id = $2`, [await stateId('requested', 'return'), ret.id])).rejects.toThrow(/without a history entry/);

    // After every scenario of this file: each order's and return's state is the one its latest state-entering history row names.
    const orders = await t.sql(`select o.number from orders o where o.state_id is distinct from
      (select h.to_state_id from order_state_history h where h.order_id = o.id and h.to_state_id is not null order by h.id desc limit 1)
      and exists (select 1 from order_state_history h where h.order_id = o.id and h.to_state_id is not null)`);
    expect(orders).toEqual([]);
    const returns = await t.sql(`select r.number from returns r where r.state_id is distinct from
      (select h.to_state_id from return_history h where h.return_id = r.id and h.to_state_id is not null order by h.id desc limit 1)`);
    expect(returns).toEqual([]);
  });
});
