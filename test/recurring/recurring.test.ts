import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import type TestAgent from 'supertest/lib/agent';
import { initOrm } from '../../src/db/database';
import { RecurringService } from '../../src/recurring/recurring.service';
import { PaymentProviders } from '../../src/payments/payment-providers';
import type { DirectPaymentProvider } from '../../src/payments/payment-provider';
import { dueAt, isoDay, occurrenceDate, retryDelayMs, type Schedule } from '../../src/recurring/schedule';
import { addToBasket, checkoutToReview, place, placeGuestOrder } from '../helpers/shopping';
import { login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const DAY = 24 * 3600 * 1000;
const today = () => isoDay(new Date());
const plusDays = (day: string, n: number) => isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY));
const at = (day: string, time = '00:00:00') => new Date(`${day}T${time}Z`);

async function staff(): Promise<TestAgent> {
  const agent = await staffAgent(t);
  return agent;
}

/** A brand-new shopper account, logged in. */
async function newShopper(): Promise<{ agent: TestAgent; email: string; userId: number }> {
  const agent = newAgent(t);
  const email = `r-${randomBytes(4).toString('hex')}@example.test`;
  const res = await postForm(agent, '/register', { name: 'Rita Repeat', email, password: 'repeat-pass-1' }, '/register');
  if (res.status !== 303) throw new Error(`register failed: ${res.status}`);
  const [u] = await t.sql('select id from users where email = $1', [email]);
  return { agent, email, userId: u.id };
}

/** The logged-in customer buys `quantity` of a product, paying by invoice; returns the order number. */
async function placeInvoiceOrder(agent: TestAgent, productNumber: string, quantity = 1): Promise<string> {
  await t.sql('update stock_levels set quantity = greatest(quantity, 1000) where product_id = (select id from products where number = $1)', [productNumber]);
  await addToBasket(t, agent, productNumber, quantity);
  const number = await checkoutToReview(t, agent, { payment: 'INVOICE' });
  const res = await place(agent, number, {});
  if (res.status !== 303) throw new Error(`placing ${number} failed: ${res.status} ${res.text.slice(0, 300)}`);
  return number;
}

async function stockOf(productNumber: string): Promise<number> {
  const [row] = await t.sql(`select sum(quantity)::int as q from stock_levels where product_id = (select id from products where number = $1)`, [productNumber]);
  return row.q;
}

async function seriesOf(templateNumber: string) {
  const [row] = await t.sql(
    `select s.*, to_char(s.start_date, 'YYYY-MM-DD') as start_day from recurring_series s join orders o on o.id = s.template_order_id where o.number = $1 order by s.id desc limit 1`,
    [templateNumber],
  );
  return row;
}

async function ordersOf(seriesId: number) {
  return t.sql(`select * from orders where recurring_series_id = $1 order by id`, [seriesId]);
}

/** Stops every series earlier tests left running, so a test's runDue results are its own. */
async function stopOtherSeries(): Promise<void> {
  await t.sql(`update recurring_series set status = 'cancelled', next_due_at = null, retry_at = null where status in ('active', 'paused')`);
}

async function staffId(): Promise<number> {
  const [row] = await t.sql(`select id from users where email = 'admin@orderflow.test'`);
  return row.id;
}

describe('the calendar', () => {
  it('counts every occurrence from the start date, so monthly series keep their day and clamp to short months', () => {
    const monthly: Schedule = { intervalUnit: 'month', intervalCount: 1, startDate: '2025-01-31' };
    expect([0, 1, 2, 3].map((k) => occurrenceDate(monthly, k))).toEqual(['2025-01-31', '2025-02-28', '2025-03-31', '2025-04-30']);
    expect(occurrenceDate({ intervalUnit: 'month', intervalCount: 1, startDate: '2024-01-31' }, 1)).toBe('2024-02-29');
    expect(occurrenceDate({ intervalUnit: 'month', intervalCount: 5, startDate: '2025-10-15' }, 1)).toBe('2026-03-15');
    expect(occurrenceDate({ intervalUnit: 'week', intervalCount: 2, startDate: '2025-12-24' }, 1)).toBe('2026-01-07');
    expect(occurrenceDate({ intervalUnit: 'day', intervalCount: 3, startDate: '2025-02-27' }, 1)).toBe('2025-03-02');
    expect(dueAt(monthly, 1).toISOString()).toBe('2025-02-28T00:00:00.000Z');
    expect([1, 2, 3, 10, 20].map(retryDelayMs)).toEqual([300000, 600000, 1200000, 6 * 3600000, 6 * 3600000]);
  });
});

describe('creating a series', () => {
  it('lets a customer make their own invoice order recurring; runDue creates the order on its date, linked to the series', async () => {
    const { agent, userId } = await newShopper();
    const number = await placeInvoiceOrder(agent, 'P-1002', 2);
    const start = plusDays(today(), 7);
    const form = await agent.get(`/customer-center/recurring/new?order=${number}`).expect(200);
    expect(form.text).toContain('Repeat order ' + number);
    const res = await postForm(agent, '/customer-center/recurring',
      { orderNumber: number, intervalCount: 2, intervalUnit: 'week', startDate: start, ends: 'count', occurrences: 3 },
      `/customer-center/recurring/new?order=${number}`);
    expect(res.status).toBe(303);
    const series = await seriesOf(number);
    expect(res.headers.location).toBe(`/customer-center/recurring/${series.id}`);
    expect(series).toMatchObject({ status: 'active', interval_unit: 'week', interval_count: 2, start_day: start, max_occurrences: 3, user_id: userId, created_by_kind: 'customer' });
    expect(new Date(series.next_due_at).toISOString()).toBe(at(start).toISOString());

    // A double submit does not make a second series.
    const again = await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'month', ends: 'never' }, `/customer-center/recurring/new?order=${number}`);
    expect(again.status).toBe(409);
    expect(again.text).toContain('already repeats');

    // Today's catalog price is used, not the template's.
    const [template] = await t.sql(`select l.unit_price_minor from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [number]);
    await t.sql(`update products set price_minor = price_minor + 1000 where number = 'P-1002'`);
    const stockBefore = await stockOf('P-1002');

    // The app's service, with the outbox so the confirmation mail is queued (see services.ts).
    const recurring = new RecurringService(t.orm, t.services.outbox);
    const early = await recurring.runDue(new Date(at(start).getTime() - 1000));
    expect(early.created).toEqual([]);
    expect(await ordersOf(series.id)).toHaveLength(0);

    const onTime = await recurring.runDue(at(start, '00:00:30'));
    expect(onTime.created).toHaveLength(1);
    const [order] = await ordersOf(series.id);
    expect(order.number).toBe(onTime.created[0]);
    expect(order).toMatchObject({
      type: 'order', completed: true, deleted: false, user_id: userId, basket_status: null, checkout_step: 'confirmation',
      capture_state: 'not_supported', payment_status: 'authorized', stock_reserved: true, billing_name: 'Kim Customer', billing_email: 'kim@example.test',
    });
    expect(new Date(order.completed_at).toISOString()).toBe(at(start, '00:00:30').toISOString());
    const [newState] = await t.sql(`select s.name from flow_states s join flows f on f.id = s.flow_id where s.id = $1 and f.type = 'order' and f.is_default and s.is_default`, [order.state_id]);
    expect(newState.name).toBe('New');
    const lines = await t.sql(`select product_number, quantity, unit_price_minor, stock_location_id from order_lines where order_id = $1`, [order.id]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ product_number: 'P-1002', quantity: 2 });
    expect(Number(lines[0].unit_price_minor)).toBe(Number(template.unit_price_minor) + 1000);
    expect(lines[0].stock_location_id).not.toBeNull();
    expect(await stockOf('P-1002')).toBe(stockBefore - 2);
    const [run] = await t.sql(`select occurrence, status, order_id, attempts from recurring_runs where series_id = $1`, [series.id]);
    expect(run).toMatchObject({ occurrence: 0, status: 'created', attempts: 1 });
    expect(String(run.order_id)).toBe(String(order.id));
    const history = await t.sql(`select event, message, actor_kind from order_state_history where order_id = $1 order by id`, [order.id]);
    // It enters the order flow as a recurring order, then is placed by the one placement writer (as checkout places).
    expect(history.map((h) => h.event)).toEqual(['recurring', 'placed']);
    expect(history[0]).toMatchObject({ event: 'recurring', actor_kind: 'system' });
    expect(history[0].message).toContain(`series #${series.id}`);
    expect(history[1]).toMatchObject({ event: 'placed', actor_kind: 'system' });
    expect(history[1].message).toMatch(/^Order placed; .+: /);
    const [tx] = await t.sql(`select operation, success, amount_minor from payment_transactions where order_id = $1`, [order.id]);
    expect(tx).toMatchObject({ operation: 'authorize', success: true });
    expect(Number(tx.amount_minor)).toBe(Number(order.total_minor));
    // The confirmation mail is queued like a checkout receipt.
    const [mail] = await t.sql(`select to_address from outbox_messages where order_id = $1`, [order.id]);
    expect(mail.to_address).toBe('kim@example.test');
    // Completed by the same writer as the checkout order it repeats: the same completion fields, one "placed" entry, a
    // receipt, an export job, its lines' stock locations and its authorization.
    const placedShape = async (orderNumber: string) => (await t.sql(
      `select o.completed, o.completed_at is not null as dated, o.checkout_step, o.stock_reserved, o.basket_status, o.payment_status, o.capture_state,
         o.transaction_number <> '' as referenced, o.price_calculation_date is not null as priced,
         (select count(*)::int from order_state_history h where h.order_id = o.id and h.event = 'placed') as placed,
         (select count(*)::int from outbox_messages m where m.dedupe_key = 'receipt:' || o.id and m.subject = 'Order confirmation ' || o.number) as receipts,
         (select count(*)::int from order_export_jobs j where j.order_id = o.id) as exports,
         (select count(*)::int from payment_transactions p where p.order_id = o.id and p.operation = 'authorize' and p.success) as authorizations,
         (select bool_and(l.stock_location_id is not null) from order_lines l where l.order_id = o.id) as located
       from orders o where o.number = $1`, [orderNumber]))[0];
    const repeated = await placedShape(order.number);
    expect(repeated).toEqual(await placedShape(number));
    expect(repeated).toMatchObject({ completed: true, placed: 1, receipts: 1, exports: 1, authorizations: 1, located: true, referenced: true });

    // Running again at the same moment creates nothing more; the next order is due two weeks later.
    expect((await recurring.runDue(at(start, '00:01:00'))).created).toEqual([]);
    const after = await seriesOf(number);
    expect(after).toMatchObject({ next_occurrence: 1, orders_created: 1, status: 'active' });
    expect(new Date(after.next_due_at).toISOString()).toBe(at(plusDays(start, 14)).toISOString());

    // The customer sees the series and the order it created.
    const page = await agent.get(`/customer-center/recurring/${series.id}`).expect(200);
    expect(page.text).toContain(order.number);
    expect(page.text).toContain('every 2 weeks');
    expect((await agent.get('/customer-center/recurring').expect(200)).text).toContain(number);
  }, 60000);

  it('ends after the chosen number of orders', async () => {
    const { agent } = await newShopper();
    const number = await placeInvoiceOrder(agent, 'P-1003');
    const start = today();
    const res = await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'day', startDate: start, ends: 'count', occurrences: 2 }, `/customer-center/recurring/new?order=${number}`);
    expect(res.status).toBe(303);
    const series = await seriesOf(number);
    await t.services.recurring.runDue(at(start, '08:00:00'));
    await t.services.recurring.runDue(at(plusDays(start, 1), '08:00:00'));
    await t.services.recurring.runDue(at(plusDays(start, 2), '08:00:00'));
    expect(await ordersOf(series.id)).toHaveLength(2);
    expect(await seriesOf(number)).toMatchObject({ status: 'finished', next_due_at: null, orders_created: 2 });
  }, 60000);

  it('lets staff make any placed order recurring; a card order gets no payment, a note that payment must be collected, and ships capturing nothing', async () => {
    await stopOtherSeries();
    const number = await placeGuestOrder(t, 'P-1004');
    const admin = await staff();
    const form = await admin.get(`/admin/recurring/new?order=${number}`).expect(200);
    expect(form.text).toContain('never charge the card again');
    const start = today();
    const res = await postForm(admin, '/admin/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'month', startDate: start, ends: 'date', endDate: plusDays(start, 100) }, `/admin/recurring/new?order=${number}`);
    expect(res.status).toBe(303);
    const series = await seriesOf(number);
    expect(res.headers.location).toBe(`/admin/recurring/${series.id}`);
    expect(series).toMatchObject({ status: 'active', user_id: null, created_by_kind: 'staff', interval_unit: 'month' });
    const [templateHistory] = await t.sql(`select h.event, h.actor_kind from order_state_history h join orders o on o.id = h.order_id where o.number = $1 and h.event = 'recurring_series_created'`, [number]);
    expect(templateHistory).toMatchObject({ actor_kind: 'staff' });

    const result = await t.services.recurring.runDue(at(start, '06:00:00'));
    expect(result.created).toHaveLength(1);
    const [order] = await ordersOf(series.id);
    expect(order).toMatchObject({ completed: true, payment_status: 'none', capture_state: 'not_captured', transaction_number: '', card_last4: '' });
    const events = await t.sql(`select event, message from order_state_history where order_id = $1 order by id`, [order.id]);
    expect(events.map((e) => e.event)).toEqual(['recurring', 'placed', 'payment_required']);
    expect(events[2].message).toMatch(/Collect .* from the customer/);
    expect(await t.sql(`select 1 from payment_transactions where order_id = $1`, [order.id])).toHaveLength(0);
    // Staff ship it (nothing to capture from: the payment is collected another way), not stopped by a capture refusal.
    const orderPage = await admin.get(`/admin/orders/${order.number}`).expect(200);
    expect(orderPage.text).toContain('No payment was authorized for this order, so nothing is captured when you ship');
    const lines = await t.sql('select id, quantity from order_lines where order_id = $1', [order.id]);
    const shipped = await postForm(admin, `/admin/orders/${order.number}/shipments`, Object.fromEntries(lines.map((l) => [`qty_${l.id}`, String(l.quantity)])), `/admin/orders/${order.number}`);
    expect(shipped.status).toBe(303);
    expect(await t.sql(`select shipment_status, captured_minor::int as captured from orders where id = $1`, [order.id])).toEqual([{ shipment_status: 'shipped', captured: 0 }]);

    const list = await admin.get('/admin/recurring').expect(200);
    expect(list.text).toContain(number);
    const details = await admin.get(`/admin/recurring/${series.id}`).expect(200);
    expect(details.text).toContain(order.number);
  }, 60000);

  it('refuses bad schedules with a 422 and a message, other customers’ orders, and shoppers on staff pages', async () => {
    const { agent } = await newShopper();
    const number = await placeInvoiceOrder(agent, 'P-1005');
    const from = `/customer-center/recurring/new?order=${number}`;
    const past = await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'week', startDate: plusDays(today(), -1), ends: 'never' }, from);
    expect(past.status).toBe(422);
    expect(past.text).toContain('today or later');
    const noEnd = await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'week', startDate: today(), ends: 'date', endDate: '' }, from);
    expect(noEnd.status).toBe(422);
    expect(noEnd.text).toContain('end date');
    const zero = await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 0, intervalUnit: 'week', ends: 'never' }, from);
    expect(zero.status).toBe(422);
    const badUnit = await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'year', ends: 'never' }, from);
    expect(badUnit.status).toBe(422);
    expect(await t.sql(`select 1 from recurring_series s join orders o on o.id = s.template_order_id where o.number = $1`, [number])).toHaveLength(0);

    // Someone else's order is not found; a guest order cannot be repeated by a customer either.
    const other = await newShopper();
    const theirs = await postForm(other.agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'week', ends: 'never' }, '/customer-center/recurring');
    expect(theirs.status).toBe(404);
    expect((await agent.get('/admin/recurring').expect(403)).text).toContain('for shop staff only');
    expect((await agent.get(`/admin/recurring/new?order=${number}`)).status).toBe(403);
    const guest = newAgent(t);
    const redirected = await guest.get('/customer-center/recurring');
    expect(redirected.status).toBe(302);
    expect(redirected.headers.location).toMatch(/^\/login/);
  }, 60000);

  it("refuses a company buyer's recurring order above their spend limit: its repeats would skip the approval", async () => {
    const bea = newAgent(t);
    await login(bea, 'buyer1@acme.test', 'buyer-pass-1');
    await t.sql(`update orders set deleted = true, basket_status = null where user_id = (select id from users where email = 'buyer1@acme.test') and not completed`);
    await t.sql(`update products set price_minor = 8000, vat_rate_bp = 2500 where number = 'P-1008'`);
    const number = await placeInvoiceOrder(bea, 'P-1008'); // 100.00 DKK, within her 250.00 DKK
    await t.sql(`update users set spend_limit_minor = 5000 where email = 'buyer1@acme.test'`); // her limit is lowered to 50.00
    const from = `/customer-center/recurring/new?order=${number}`;
    const refused = await postForm(bea, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'week', ends: 'never' }, from);
    expect(refused.status).toBe(422);
    expect(refused.text).toMatch(new RegExp(`${number}&#39;s total of [0-9.,]+ DKK is above your spend limit of 50.00 DKK`));
    expect(await t.sql(`select 1 from recurring_series s join orders o on o.id = s.template_order_id where o.number = $1`, [number])).toHaveLength(0);
    await t.sql(`update users set spend_limit_minor = 1000000 where email = 'buyer1@acme.test'`);
    await stopOtherSeries();
    expect((await postForm(bea, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'week', ends: 'never' }, from)).status).toBe(303);

    // Every run keeps to the limit as it is then: lowered after set-up, the run places nothing and says why.
    await t.sql(`update users set spend_limit_minor = 5000 where email = 'buyer1@acme.test'`);
    const series = await seriesOf(number);
    const run = await new RecurringService(t.orm, t.services.outbox).runDue(new Date(new Date(series.next_due_at).getTime() + 60_000));
    expect(run.created).toEqual([]);
    expect(run.failed.map((f) => f.error)).toEqual([expect.stringMatching(/^Not created: its total of [0-9.,]+ DKK is above the buyer's spend limit of 50.00 DKK/)]);
    expect(await ordersOf(series.id)).toHaveLength(0);
    await t.sql(`update users set spend_limit_minor = 25000 where email = 'buyer1@acme.test'`);
    await stopOtherSeries();
  }, 60000);
});

describe('pause, resume, cancel', () => {
  it('creates nothing while paused, carries on with the next date after resuming, and never again once cancelled', async () => {
    const { agent } = await newShopper();
    const number = await placeInvoiceOrder(agent, 'P-1006');
    const start = plusDays(today(), 1);
    await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'week', startDate: start, ends: 'never' }, `/customer-center/recurring/new?order=${number}`);
    const series = await seriesOf(number);
    const page = `/customer-center/recurring/${series.id}`;

    const paused = await postForm(agent, `${page}/pause`, {}, page);
    expect(paused.status).toBe(303);
    expect((await seriesOf(number)).status).toBe('paused');
    await t.services.recurring.runDue(at(start, '01:00:00'));
    expect(await ordersOf(series.id)).toHaveLength(0);
    expect((await postForm(agent, `${page}/pause`, {}, page)).status).toBe(409);

    // Resumed ten days later: the occurrence that passed while paused is left out, the next one is created.
    const admin = await staff();
    const resumedAt = at(plusDays(start, 10), '12:00:00');
    await t.services.recurring.resume(series.id, { kind: 'staff', userId: await staffId() }, resumedAt);
    const resumed = await seriesOf(number);
    expect(resumed).toMatchObject({ status: 'active', next_occurrence: 2 });
    expect(new Date(resumed.next_due_at).toISOString()).toBe(at(plusDays(start, 14)).toISOString());
    await t.services.recurring.runDue(resumedAt);
    expect(await ordersOf(series.id)).toHaveLength(0);
    await t.services.recurring.runDue(at(plusDays(start, 14), '00:05:00'));
    expect(await ordersOf(series.id)).toHaveLength(1);

    // Staff pause and resume through the desk as well.
    const staffPage = `/admin/recurring/${series.id}`;
    expect((await postForm(admin, `${staffPage}/pause`, {}, staffPage)).status).toBe(303);
    expect((await postForm(admin, `${staffPage}/resume`, {}, staffPage)).status).toBe(303);
    expect((await seriesOf(number)).status).toBe('active');

    // Cancelling cannot be undone: the first submit says what it does and changes nothing.
    const asked = await postForm(agent, `${page}/cancel`, {}, page);
    expect(asked.status).toBe(200);
    expect(asked.text).toContain(`Cancel recurring order #${series.id}?`);
    expect(asked.text).toContain(`No more orders are placed from ${number}; the next would have been placed on ${plusDays(start, 21)}.`);
    expect(asked.text).toContain('The order already placed from it stays as it is.');
    expect(asked.text).toContain('name="confirmed" value="1"');
    expect((await seriesOf(number)).status).toBe('active');
    const cancelled = await postForm(agent, `${page}/cancel`, { confirmed: '1' }, page);
    expect(cancelled.status).toBe(303);
    expect(await seriesOf(number)).toMatchObject({ status: 'cancelled', next_due_at: null });
    await t.services.recurring.runDue(at(plusDays(start, 60)));
    expect(await ordersOf(series.id)).toHaveLength(1);
    const refused = await postForm(agent, `${page}/resume`, {}, page);
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('cancelled');

    // Another customer cannot touch the series.
    const other = await newShopper();
    expect((await postForm(other.agent, `${page}/pause`, {}, '/customer-center/recurring')).status).toBe(404);
    expect((await other.agent.get(page)).status).toBe(404);
  }, 60000);

  it('creates only the latest due order after the scheduler was not running, and logs the missed ones as skipped', async () => {
    await stopOtherSeries();
    const { agent } = await newShopper();
    const number = await placeInvoiceOrder(agent, 'P-1007');
    const start = today();
    await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'day', startDate: start, ends: 'never' }, `/customer-center/recurring/new?order=${number}`);
    const series = await seriesOf(number);
    const result = await t.services.recurring.runDue(at(plusDays(start, 3), '09:00:00'));
    expect(result.created).toHaveLength(1);
    expect(result.skipped).toBe(3);
    const runs = await t.sql(`select occurrence, status from recurring_runs where series_id = $1 order by occurrence`, [series.id]);
    expect(runs).toEqual([
      { occurrence: 0, status: 'skipped' }, { occurrence: 1, status: 'skipped' }, { occurrence: 2, status: 'skipped' }, { occurrence: 3, status: 'created' },
    ]);
    await t.services.recurring.cancel(series.id, { kind: 'staff', userId: await staffId() });
  }, 60000);
});

describe('failures', () => {
  it('logs an out-of-stock failure on the run, takes nothing, and retries later with backoff until it succeeds', async () => {
    await stopOtherSeries();
    const { agent } = await newShopper();
    const number = await placeInvoiceOrder(agent, 'P-1008', 3);
    const start = today();
    await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'month', startDate: start, ends: 'never' }, `/customer-center/recurring/new?order=${number}`);
    const series = await seriesOf(number);
    await t.sql(`update stock_levels set quantity = 1 where product_id = (select id from products where number = 'P-1008')`);

    const first = at(start, '10:00:00');
    const r1 = await t.services.recurring.runDue(first);
    expect(r1.created).toEqual([]);
    expect(r1.failed).toHaveLength(1);
    expect(r1.failed[0].error).toMatch(/stock/i);
    const [run1] = await t.sql(`select status, attempts, last_error, next_attempt_at, order_id from recurring_runs where series_id = $1`, [series.id]);
    expect(run1).toMatchObject({ status: 'failed', attempts: 1, order_id: null });
    expect(run1.last_error).toMatch(/stock/i);
    expect(new Date(run1.next_attempt_at).getTime()).toBe(first.getTime() + 5 * 60000);
    const s1 = await seriesOf(number);
    expect(s1).toMatchObject({ status: 'active', attempts: 1, next_occurrence: 0 });
    expect(new Date(s1.retry_at).getTime()).toBe(first.getTime() + 5 * 60000);
    // Nothing was kept: no order, no stock taken (the order number it took stays unused: numbers are never given back).
    expect(await ordersOf(series.id)).toHaveLength(0);
    expect(await stockOf('P-1008')).toBe(2); // two locations, one each

    // Not retried before the backoff has passed; the second failure waits twice as long.
    expect((await t.services.recurring.runDue(new Date(first.getTime() + 60000))).failed).toEqual([]);
    const second = new Date(first.getTime() + 5 * 60000);
    expect((await t.services.recurring.runDue(second)).failed).toHaveLength(1);
    const [run2] = await t.sql(`select status, attempts, next_attempt_at from recurring_runs where series_id = $1`, [series.id]);
    expect(run2).toMatchObject({ status: 'failed', attempts: 2 });
    expect(new Date(run2.next_attempt_at).getTime()).toBe(second.getTime() + 10 * 60000);

    // Staff see the problem on the desk.
    const admin = await staff();
    const desk = await admin.get(`/admin/recurring/${series.id}`).expect(200);
    expect(desk.text).toMatch(/not in stock/);

    // Restocked: the retry creates the order, once.
    await t.sql(`update stock_levels set quantity = 50 where product_id = (select id from products where number = 'P-1008')`);
    const third = new Date(second.getTime() + 10 * 60000);
    const r3 = await t.services.recurring.runDue(third);
    expect(r3.created).toHaveLength(1);
    const [run3] = await t.sql(`select status, attempts, last_error, next_attempt_at, order_id from recurring_runs where series_id = $1`, [series.id]);
    expect(run3).toMatchObject({ status: 'created', attempts: 3, last_error: '', next_attempt_at: null });
    expect(await ordersOf(series.id)).toHaveLength(1);
    expect(await seriesOf(number)).toMatchObject({ attempts: 0, retry_at: null, last_error: '', orders_created: 1, next_occurrence: 1 });
    expect(await stockOf('P-1008')).toBe(97);
  }, 60000);
});

describe('two schedulers', () => {
  let orm2: MikroORM;
  beforeAll(async () => { orm2 = await initOrm(t.orm.config.get('clientUrl')!, { poolMax: 10 }); });
  afterAll(async () => { await orm2.close(); });

  it('create each order exactly once when two app processes run the scheduler at the same time, many times', async () => {
    await stopOtherSeries();
    const start = today();
    const templates: string[] = [];
    for (let i = 0; i < 4; i++) templates.push(await placeGuestOrder(t, 'P-1009'));
    const staff = await staffId();
    const seriesIds: number[] = [];
    for (const n of templates) {
      const s = await t.services.recurring.createForStaff(staff, n, { intervalCount: 1, intervalUnit: 'day', startDate: start, ends: 'never' });
      seriesIds.push(s.id);
    }
    const a = new RecurringService(t.orm);
    const b = new RecurringService(orm2);
    const stockBefore = await stockOf('P-1009');
    const created: string[] = [];
    for (let d = 0; d < 5; d++) {
      const now = at(plusDays(start, d), '03:00:00');
      const rounds = await Promise.all([a, b, a, b, a, b].map((svc) => svc.runDue(now)));
      for (const r of rounds) {
        expect(r.failed).toEqual([]);
        created.push(...r.created);
      }
    }
    expect(created).toHaveLength(seriesIds.length * 5);
    expect(new Set(created).size).toBe(created.length);
    const perOccurrence = await t.sql(
      `select r.series_id, r.occurrence, count(o.id)::int as orders
       from recurring_runs r left join orders o on o.recurring_series_id = r.series_id and o.id = r.order_id
       where r.series_id = any($1::bigint[]) group by 1, 2`,
      [seriesIds],
    );
    expect(perOccurrence).toHaveLength(seriesIds.length * 5);
    expect(perOccurrence.every((r) => r.orders === 1)).toBe(true);
    const [{ n }] = await t.sql(`select count(*)::int as n from orders where recurring_series_id = any($1::bigint[])`, [seriesIds]);
    expect(n).toBe(seriesIds.length * 5);
    expect(await stockOf('P-1009')).toBe(stockBefore - seriesIds.length * 5);
    // Each order was placed once by the one placement writer: one "placed" entry, one receipt, one export job.
    const effects = await t.sql(
      `select (select count(*)::int from order_state_history h where h.order_id = o.id and h.event = 'placed') as placed,
         (select count(*)::int from outbox_messages m where m.dedupe_key = 'receipt:' || o.id) as receipts,
         (select count(*)::int from order_export_jobs j where j.order_id = o.id) as exports
       from orders o where o.recurring_series_id = any($1::bigint[])`, [seriesIds]);
    expect(effects).toHaveLength(seriesIds.length * 5);
    expect(effects.every((e) => e.placed === 1 && e.receipts === 1 && e.exports === 1)).toBe(true);
    for (const id of seriesIds) await a.cancel(id, { kind: 'staff', userId: staff });
  }, 120000);
});

describe('the invoice provider of a recurring order', () => {
  /** A scheduler whose invoice provider answers with `answer`, after running `during` while it is asked. */
  function schedulerWithInvoice(answer: () => { success: boolean; message: string }, during: (req: { orderNumber: string }) => Promise<void>) {
    const providers = new PaymentProviders(t.orm);
    const invoice = providers.get('invoice') as DirectPaymentProvider;
    invoice.authorize = async (req) => {
      await during(req);
      return { ...answer(), reference: `INV-${req.orderNumber}` };
    };
    return new RecurringService(t.orm, t.services.outbox, providers);
  }

  async function invoiceSeries(productNumber: string): Promise<{ number: string; seriesId: number; start: string }> {
    await stopOtherSeries();
    const { agent } = await newShopper();
    const number = await placeInvoiceOrder(agent, productNumber, 2);
    const start = today();
    await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'month', startDate: start, ends: 'never' }, `/customer-center/recurring/new?order=${number}`);
    return { number, seriesId: Number((await seriesOf(number)).id), start };
  }

  it('is asked with no transaction holding the series or the stock, after the stock is reserved', async () => {
    const { seriesId, start } = await invoiceSeries('P-1003');
    const stockBefore = await stockOf('P-1003');
    const seen: { stock: number; completed: boolean }[] = [];
    const recurring = schedulerWithInvoice(() => ({ success: true, message: 'Invoice will be sent.' }), async (req) => {
      // From another connection: both rows can be locked at once (NOWAIT fails if a transaction holds them).
      await t.sql(`select id from recurring_series where id = $1 for update nowait`, [seriesId]);
      await t.sql(`select product_id from stock_levels where product_id = (select id from products where number = 'P-1003') for update nowait`);
      const [order] = await t.sql(`select completed from orders where number = $1`, [req.orderNumber]);
      seen.push({ stock: await stockOf('P-1003'), completed: order.completed });
    });
    const r = await recurring.runDue(at(start, '08:00:00'));
    expect(r).toMatchObject({ failed: [], created: [expect.any(String)] });
    // Asked once, with the stock already taken (held by the payment attempt) and the order not yet placed.
    expect(seen).toEqual([{ stock: stockBefore - 2, completed: false }]);
    const [order] = await ordersOf(seriesId);
    expect(order).toMatchObject({ number: r.created[0], completed: true, payment_status: 'authorized', transaction_number: `INV-${r.created[0]}` });
    const [run] = await t.sql(`select status, attempts from recurring_runs where series_id = $1`, [seriesId]);
    expect(run).toMatchObject({ status: 'created', attempts: 1 });
    expect(await seriesOf((await t.sql(`select o.number from orders o join recurring_series s on s.template_order_id = o.id where s.id = $1`, [seriesId]))[0].number))
      .toMatchObject({ orders_created: 1, next_occurrence: 1, retry_at: null });
    expect(await stockOf('P-1003')).toBe(stockBefore - 2);
  }, 60000);

  it('declining gives the reserved stock back once, logs the failure on the run and retries later', async () => {
    const { number, seriesId, start } = await invoiceSeries('P-1004');
    const stockBefore = await stockOf('P-1004');
    let decline = true;
    const recurring = schedulerWithInvoice(() => (decline ? { success: false, message: 'Credit limit reached.' } : { success: true, message: 'Invoice will be sent.' }), async () => {});
    const first = at(start, '09:00:00');
    const r1 = await recurring.runDue(first);
    expect(r1.created).toEqual([]);
    expect(r1.failed).toEqual([{ seriesId, occurrence: 0, error: expect.stringContaining('Credit limit reached.') }]);
    expect(await stockOf('P-1004')).toBe(stockBefore);
    const [declined] = await ordersOf(seriesId);
    expect(declined).toMatchObject({ completed: false, deleted: true });
    const [attempt] = await t.sql(`select status from payment_attempts where order_id = $1`, [declined.id]);
    expect(attempt.status).toBe('released');
    const [run] = await t.sql(`select status, attempts, last_error from recurring_runs where series_id = $1`, [seriesId]);
    expect(run).toMatchObject({ status: 'failed', attempts: 1 });
    expect(run.last_error).toContain('Credit limit reached.');
    expect(await seriesOf(number)).toMatchObject({ attempts: 1, next_occurrence: 0 });
    // The reservation job finds nothing more to give back.
    await t.services.checkout.releaseExpired();
    expect(await stockOf('P-1004')).toBe(stockBefore);
    const moves = await t.sql(`select reason, count(*)::int as n from stock_movements where order_id = $1 group by reason order by reason`, [declined.id]);
    expect(moves.map((m) => m.reason)).toEqual(['order', 'release']);
    expect(moves[0].n).toBe(moves[1].n);

    // Accepted at the retry: one order, its stock taken once.
    decline = false;
    const r2 = await recurring.runDue(new Date(first.getTime() + 5 * 60000));
    expect(r2.created).toHaveLength(1);
    expect((await ordersOf(seriesId)).filter((o) => !o.deleted)).toHaveLength(1);
    expect(await stockOf('P-1004')).toBe(stockBefore - 2);
    expect(await seriesOf(number)).toMatchObject({ attempts: 0, orders_created: 1, next_occurrence: 1 });
  }, 60000);
  it('after a crash while the provider answers: the reservation job gives the stock back, then the occurrence is created once', async () => {
    const { number, seriesId, start } = await invoiceSeries('P-1005');
    const stockBefore = await stockOf('P-1005');
    // The provider never answers in time for this process: as if it was killed while waiting.
    let asked!: () => void;
    const wasAsked = new Promise<void>((resolve) => { asked = resolve; });
    let answerLate!: () => void;
    const late = new Promise<void>((resolve) => { answerLate = resolve; });
    const crashed = schedulerWithInvoice(() => ({ success: true, message: 'Invoice will be sent.' }), async () => { asked(); await late; });
    const now = at(start, '10:00:00');
    const interrupted = crashed.runDue(now);
    await wasAsked;
    const [reservedOrder] = await ordersOf(seriesId);
    const [run] = await t.sql(`select status, order_id from recurring_runs where series_id = $1`, [seriesId]);
    expect(run).toMatchObject({ status: 'placing' });
    expect(String(run.order_id)).toBe(String(reservedOrder.id));
    expect(await stockOf('P-1005')).toBe(stockBefore - 2);

    // Another process does not take the series while the reservation holds, nor after it until the job released it.
    const other = t.services.recurring;
    expect(await other.runDue(new Date(now.getTime() + 60_000))).toMatchObject({ created: [], failed: [] });
    const later = new Date(now.getTime() + 901_000);
    expect(await other.runDue(later)).toMatchObject({ created: [], failed: [] });
    expect(await ordersOf(seriesId)).toHaveLength(1);

    // The reservation expires: the job gives the stock back once.
    await t.sql(`update payment_attempts set expires_at = now() - interval '1 second' where order_id = $1 and status = 'reserved'`, [reservedOrder.id]);
    await t.services.checkout.releaseExpired();
    expect(await stockOf('P-1005')).toBe(stockBefore);

    // The scheduler then deletes the unplaced order and creates the occurrence again.
    const again = await other.runDue(new Date(later.getTime() + 60_000));
    expect(again.created).toHaveLength(1);
    const orders = await ordersOf(seriesId);
    expect(orders.map((o) => ({ completed: o.completed, deleted: o.deleted }))).toEqual([{ completed: false, deleted: true }, { completed: true, deleted: false }]);
    expect(await stockOf('P-1005')).toBe(stockBefore - 2);

    // The first process's late answer places nothing and leaves the run and the series as they are.
    answerLate();
    expect(await interrupted).toMatchObject({ created: [] });
    const [after] = await t.sql(`select status, order_id from recurring_runs where series_id = $1`, [seriesId]);
    expect(after).toMatchObject({ status: 'created' });
    expect(String(after.order_id)).toBe(String(orders[1].id));
    expect(await seriesOf(number)).toMatchObject({ orders_created: 1, next_occurrence: 1, attempts: 0 });
    expect(await ordersOf(seriesId)).toHaveLength(2);
    expect(await stockOf('P-1005')).toBe(stockBefore - 2);
  }, 60000);
});

describe('the form for the customer’s order page', () => {
  it('renders the partial the order page includes, posting the order number to /customer-center/recurring', async () => {
    const { agent } = await newShopper();
    const number = await placeInvoiceOrder(agent, 'P-1010');
    const order = await t.orm.em.fork().findOneOrFail('Order', { number }, { populate: ['paymentMethod'] as never });
    const html = t.services.views.render('recurring/_customer-form.njk', { order, csrfToken: 'tok' });
    expect(html).toContain('action="/customer-center/recurring"');
    expect(html).toContain(`name="orderNumber" value="${number}"`);
    expect(html).toContain(`id="rec-${number}-count"`);
    expect(html).not.toContain('data-testid="no-repeat"'); // an invoice order
    // Posting it with only the defaults (no start date) starts one period from today.
    const res = await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'month', startDate: '', ends: 'never' }, `/customer-center/orders/${number}`);
    expect(res.status).toBe(303);
    expect((await seriesOf(number)).start_day).toBe(occurrenceDate({ intervalUnit: 'month', intervalCount: 1, startDate: today() }, 1));
  });
});

describe('the scheduler job', () => {
  it('is one runDue per tick (no batch loop: runDue takes everything due), under the recurring log name', async () => {
    const job = t.services.recurring.schedulerJob(60000);
    expect(job).toMatchObject({ name: 'recurring', everyMs: 60000, batchSize: 0 });
    expect(await job.drain(1)).toBe(0); // earlier tests' series are stopped: nothing due
  });

  it('does not offer a customer to repeat a card order on its own (nobody would pay the repeats), and refuses it if posted', async () => {
    const { agent } = await newShopper();
    await t.sql(`update stock_levels set quantity = greatest(quantity, 1000) where product_id = (select id from products where number = 'P-1011')`);
    await addToBasket(t, agent, 'P-1011');
    const number = await checkoutToReview(t, agent, { payment: 'CARD' });
    expect((await place(agent, number)).status).toBe(303);
    const why = `${number} was paid with Card, which needs you at every payment, so it cannot repeat on its own. Orders paid by invoice can be repeated.`;
    const page = await agent.get(`/customer-center/orders/${number}`).expect(200);
    expect(page.text).toContain(`data-testid="no-repeat">Repeat this order regularly: ${why}`);
    expect(page.text).not.toContain('Set up recurring order');
    expect((await agent.get(`/customer-center/recurring/new?order=${number}`).expect(200)).text).toContain(why);
    const posted = await postForm(agent, '/customer-center/recurring', { orderNumber: number, intervalCount: 1, intervalUnit: 'month', startDate: '', ends: 'never' }, `/customer-center/orders/${number}`);
    expect(posted.status).toBe(422);
    expect(posted.text).toContain(why);
    expect(await t.sql('select 1 from recurring_series s join orders o on o.id = s.template_order_id where o.number = $1', [number])).toHaveLength(0);
  });
});
