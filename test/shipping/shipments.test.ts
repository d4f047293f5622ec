import type TestAgent from 'supertest/lib/agent';
import { addToBasket, checkoutToReview, place, reviewNumber, withLostProviderAnswers } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, type TestApp, waitFor } from '../helpers/test-app';

/**
 * Staff ship orders in parts from the order details page: each shipment captures the value of its items from the
 * card payment, the last one the rest including the shipping fee; track & trace links reach the customer by mail.
 */
let t: TestApp;
let staff: TestAgent;
const PRODUCTS = ['P-1001', 'P-1050', 'P-1013'];

beforeAll(async () => {
  t = await startTestApp();
  await t.sql(`update stock_levels set quantity = 1000 where product_id in (select id from products where number = any($1))`, [PRODUCTS]);
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

interface OrderRow {
  id: number; total: number; captured: number; capture_state: string | null; payment_status: string;
  shipment_status: string; fee_captured: boolean; tracking_url: string | null; version: number;
}
interface Totals { lines: { grossMinor: number }[]; shippingFeeInclVatMinor: number; totalMinor: number }

/** A real order through the real checkout; Express delivery, so it always has a shipping fee. */
async function placedOrder(items: [string, number][], payment: 'CARD' | 'INVOICE' = 'CARD', shipping = 'EXPRESS'): Promise<string> {
  const agent = newAgent(t);
  for (const [product, quantity] of items) await addToBasket(t, agent, product, quantity);
  const number = await checkoutToReview(t, agent, { payment, shipping });
  const res = await place(agent, number, payment === 'CARD' ? undefined : {});
  expect(res.status).toBe(303);
  return number;
}

async function row(number: string): Promise<OrderRow> {
  const [r] = await t.sql<OrderRow>(
    `select id::int, total_minor::int as total, captured_minor::int as captured, capture_state, payment_status, shipment_status,
            shipping_fee_captured as fee_captured, tracking_url, version
     from orders where number = $1`, [number]);
  return r;
}

async function totalsOf(number: string): Promise<Totals> {
  const [r] = await t.sql<{ totals: Totals }>('select totals from orders where number = $1', [number]);
  return r.totals;
}

/** The order's lines in id order (the order of the totals snapshot), with what has shipped. */
async function linesOf(number: string) {
  return t.sql<{ id: number; product: string; quantity: number; shipped: number }>(
    `select l.id::int, l.product_number as product, l.quantity, l.shipped_quantity as shipped
     from order_lines l join orders o on o.id = l.order_id where o.number = $1 order by l.id`, [number]);
}

const captures = async (number: string) => t.sql<{ operation: string; amount: number; success: boolean }>(
  `select p.operation, p.amount_minor::int as amount, p.success from payment_transactions p join orders o on o.id = p.order_id
   where o.number = $1 and p.operation <> 'authorize' order by p.id`, [number]);

const shipmentsOf = async (number: string) => t.sql<{ no: number; captured: number; value: number; fee: boolean; last: boolean; tracking_number: string; tracking_url: string | null }>(
  `select s.shipment_no as no, s.captured_minor::int as captured, s.items_value_minor::int as value, s.includes_shipping_fee as fee, s.is_last as last,
          s.tracking_number, s.tracking_url
   from shipments s join orders o on o.id = s.order_id where o.number = $1 order by s.shipment_no`, [number]);

/** Posts the "New shipment" form: quantities per product number (the rest 0), plus tracking fields. */
async function ship(number: string, quantities: Record<string, number | string>, extra: Record<string, string> = {}, agent = staff) {
  const form: Record<string, string> = { ...extra };
  for (const l of await linesOf(number)) form[`qty_${l.id}`] = String(quantities[l.product] ?? 0);
  return postForm(agent, `/admin/orders/${number}/shipments`, form, '/admin');
}

async function followFlash(res: { status: number; headers: Record<string, string>; text: string }, agent = staff): Promise<string> {
  if (res.status !== 303) throw new Error(`expected 303, got ${res.status}: ${res.text.slice(0, 400)}`);
  const page = await agent.get(res.headers.location.replace(/#.*$/, ''));
  return page.text;
}

/** Everything about an order that shipping could change, to check that a refusal changed nothing. */
async function snapshot(number: string) {
  return { order: await row(number), lines: await linesOf(number), shipments: await shipmentsOf(number), captures: await captures(number),
    history: (await t.sql(`select count(*)::int as n from order_state_history h join orders o on o.id = h.order_id where o.number = $1`, [number]))[0].n };
}

async function createTrackAndTrace(name: string, urlTemplate: string): Promise<number> {
  const res = await postForm(staff, '/admin/track-and-trace', { name, urlTemplate }, '/admin/track-and-trace');
  expect(res.status).toBe(303);
  const [c] = await t.sql<{ id: number }>('select id from track_and_trace_configs where name = $1', [name]);
  return c.id;
}

describe('partial shipments capture what they ship', () => {
  it('a partial shipment captures exactly its items; the last one captures the rest incl. the shipping fee', async () => {
    const number = await placedOrder([['P-1001', 2], ['P-1050', 1]]);
    const totals = await totalsOf(number);
    const [coffee, outdoor] = await linesOf(number);
    expect([coffee.product, outdoor.product]).toEqual(['P-1001', 'P-1050']);
    expect(totals.shippingFeeInclVatMinor).toBeGreaterThan(0);

    const page = await staff.get(`/admin/orders/${number}`).expect(200);
    expect(page.text).toContain('data-testid="shipments-box"');
    expect(page.text).toMatch(/data-testid="shipment-status">Not shipped</);
    expect(page.text).toContain(`name="qty_${coffee.id}"`);
    expect(page.text).toContain('Each shipment captures the value of its items');

    // Shipment 1: the whole outdoor line and one of the two coffee packs.
    const first = totals.lines[1].grossMinor + totals.lines[0].grossMinor / 2;
    expect(Number.isInteger(first)).toBe(true);
    const res = await ship(number, { 'P-1050': 1, 'P-1001': 1 });
    expect(res.headers.location).toBe(`/admin/orders/${number}#shipments`);
    const after = await followFlash(res);
    expect(after).toContain(`${number}: shipment 1 created (1 × P-1001, 1 × P-1050); captured`);
    expect(after).toMatch(/data-testid="shipment-status">Partly shipped</);
    expect(await row(number)).toMatchObject({ captured: first, capture_state: 'split_captured', shipment_status: 'partly_shipped', fee_captured: false });
    expect(await captures(number)).toEqual([{ operation: 'capture', amount: first, success: true }]);
    expect((await linesOf(number)).map((l) => l.shipped)).toEqual([1, 1]);
    expect(await shipmentsOf(number)).toMatchObject([{ no: 1, captured: first, value: first, fee: false, last: false }]);
    // Only what is left can be shipped next.
    expect(after).toContain(`name="qty_${coffee.id}" type="number" inputmode="numeric" min="0" max="1"`);
    expect(after).not.toContain(`name="qty_${outdoor.id}"`);

    // Shipment 2: the last coffee pack; it captures the rest of the total, shipping fee included.
    const { total } = await row(number);
    const last = await followFlash(await ship(number, { 'P-1001': 1 }));
    expect(last).toContain(`incl. the shipping fee of`);
    expect(last).toMatch(/data-testid="shipment-status">Shipped</);
    expect(last).toContain('Every item of this order has been shipped.');
    expect(last).toContain('captured with shipment 2');
    expect(await row(number)).toMatchObject({ captured: total, capture_state: 'captured', shipment_status: 'shipped', fee_captured: true });
    expect(await captures(number)).toEqual([
      { operation: 'capture', amount: first, success: true },
      { operation: 'capture', amount: total - first, success: true },
    ]);
    expect(total - first).toBe(totals.lines[0].grossMinor / 2 + totals.shippingFeeInclVatMinor);
    expect(await shipmentsOf(number)).toMatchObject([{ no: 1, fee: false, last: false }, { no: 2, captured: total - first, fee: true, last: true }]);

    // Every shipment is in the order history.
    const history = await t.sql(`select h.event, h.message, h.actor_kind, h.source from order_state_history h join orders o on o.id = h.order_id
      where o.number = $1 and h.event = 'shipment_created' order by h.id`, [number]);
    expect(history).toHaveLength(2);
    expect(history[0]).toMatchObject({ actor_kind: 'staff', source: 'backend' });
    expect(history[0].message).toContain('Shipment 1: 1 × P-1001, 1 × P-1050');
    expect(history[1].message).toContain('The order is shipped.');
    expect(last).toContain('shipment created');

    // Nothing is left to ship.
    const again = await ship(number, { 'P-1001': 1 });
    expect(again.status).toBe(409);
    expect(again.text).toContain('has been shipped already');
  });

  it('refuses over-shipping and empty shipments with the reason, and changes nothing', async () => {
    const number = await placedOrder([['P-1050', 2], ['P-1013', 1]]);
    const before = await snapshot(number);

    const over = await ship(number, { 'P-1050': 3 });
    expect(over.status).toBe(409);
    expect(over.text).toContain('P-1050: 3 asked, but only 2 of 2 are left to ship');
    expect(await snapshot(number)).toEqual(before);

    const nothing = await ship(number, {});
    expect(nothing.status).toBe(409);
    expect(nothing.text).toContain('Nothing was selected for the shipment');
    expect(await snapshot(number)).toEqual(before);

    await followFlash(await ship(number, { 'P-1050': 1 }));
    const middle = await snapshot(number);
    const twice = await ship(number, { 'P-1050': 2, 'P-1013': 1 });
    expect(twice.status).toBe(409);
    expect(twice.text).toContain('P-1050: 2 asked, but only 1 of 2 is left to ship (1 shipped already)');
    expect(await snapshot(number)).toEqual(middle);

    // The database refuses it too, whatever the code does.
    const [line] = await linesOf(number);
    await expect(t.sql('update order_lines set shipped_quantity = quantity + 1 where id = $1', [line.id])).rejects.toThrow(/order_lines_shipped_within_ordered/);
    await expect(t.sql(`update orders set shipment_status = 'lost' where number = $1`, [number])).rejects.toThrow(/orders_shipment_status_check/);
  });

  it('two staff shipping the same remaining units at once: exactly one shipment is made', async () => {
    const number = await placedOrder([['P-1050', 2]]);
    const [line] = await linesOf(number);
    const other = await staffAgent(t);
    const [a, b] = [await csrfToken(staff, '/admin'), await csrfToken(other, '/admin')];
    const form = (token: string) => ({ _csrf: token, [`qty_${line.id}`]: '2' });

    const results = await Promise.all([
      staff.post(`/admin/orders/${number}/shipments`).type('form').send(form(a)),
      other.post(`/admin/orders/${number}/shipments`).type('form').send(form(b)),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([303, 409]);
    expect(results.find((r) => r.status === 409)!.text).toContain('has been shipped already');
    const after = await row(number);
    expect(after).toMatchObject({ captured: after.total, capture_state: 'captured', shipment_status: 'shipped' });
    expect(await shipmentsOf(number)).toHaveLength(1);
    expect((await linesOf(number))[0].shipped).toBe(2);
    expect(await captures(number)).toEqual([{ operation: 'capture', amount: after.total, success: true }]);
  });

  it('two partial shipments at once that together exceed a line: one succeeds, the other is refused', async () => {
    const number = await placedOrder([['P-1050', 3]]);
    const [line] = await linesOf(number);
    const other = await staffAgent(t);
    const [a, b] = [await csrfToken(staff, '/admin'), await csrfToken(other, '/admin')];
    const results = await Promise.all([a, b].map((token, i) => [staff, other][i].post(`/admin/orders/${number}/shipments`).type('form').send({ _csrf: token, [`qty_${line.id}`]: '2' })));
    expect(results.map((r) => r.status).sort()).toEqual([303, 409]);
    expect(results.find((r) => r.status === 409)!.text).toContain('P-1050: 2 asked, but only 1 of 3 is left to ship (2 shipped already)');
    expect((await linesOf(number))[0].shipped).toBe(2);
    expect(await shipmentsOf(number)).toHaveLength(1);
    expect(await row(number)).toMatchObject({ shipment_status: 'partly_shipped', capture_state: 'split_captured' });
  });

  it('with a voucher, each shipment captures its share of the discounted goods, and the shipments add up to the total', async () => {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1001', 3);
    await addToBasket(t, agent, 'P-1050', 1);
    await checkoutToReview(t, agent, { shipping: 'EXPRESS' });
    await postForm(agent, '/checkout/voucher', { voucherCode: 'SAVE50' }, '/checkout/review');
    const number = await reviewNumber(agent);
    expect((await place(agent, number)).status).toBe(303);
    const totals = await totalsOf(number) as Totals & { subtotalMinor: number; discountMinor: number };
    expect(Math.abs(totals.discountMinor - 5000)).toBeLessThanOrEqual(2); // 50.00 off, spread over two VAT rates
    const share = (totals.subtotalMinor - totals.discountMinor) / totals.subtotalMinor;

    for (let i = 0; i < 3; i++) await followFlash(await ship(number, { 'P-1001': 1 }));
    await followFlash(await ship(number, { 'P-1050': 1 }));
    const amounts = (await captures(number)).map((c) => c.amount);
    const { total, captured } = await row(number);
    // One coffee pack is worth a third of its line, less its part of the voucher (to the øre).
    for (const a of amounts.slice(0, 3)) expect(Math.abs(a - (totals.lines[0].grossMinor * share) / 3)).toBeLessThanOrEqual(1);
    expect(amounts[3]).toBe(total - amounts[0] - amounts[1] - amounts[2]);
    expect(captured).toBe(total);
    const values = (await shipmentsOf(number)).map((s) => s.value);
    expect(values.reduce((a, b) => a + b, 0)).toBe(totals.subtotalMinor - totals.discountMinor);
  });

  it('an Invoice order ships without any capture, and the page says so', async () => {
    const number = await placedOrder([['P-1050', 1], ['P-1001', 1]], 'INVOICE');
    const page = await staff.get(`/admin/orders/${number}`);
    expect(page.text).toContain('Paid by Invoice: nothing is captured when you ship');
    expect(page.text).not.toContain('Capture shipping fee now');

    const first = await followFlash(await ship(number, { 'P-1050': 1 }));
    expect(first).toContain('nothing captured (Invoice: the payment is settled outside the shop)');
    expect(await row(number)).toMatchObject({ shipment_status: 'partly_shipped', captured: 0, capture_state: 'not_supported' });
    await followFlash(await ship(number, { 'P-1001': 1 }));
    expect(await row(number)).toMatchObject({ shipment_status: 'shipped', captured: 0, capture_state: 'not_supported', fee_captured: false });
    expect(await captures(number)).toEqual([]);
    expect(await shipmentsOf(number)).toMatchObject([{ captured: 0, fee: false }, { captured: 0, fee: false, last: true }]);
  });

  it('staff may capture the shipping fee early; the last shipment then does not capture it again', async () => {
    const number = await placedOrder([['P-1050', 1], ['P-1013', 1]]);
    const totals = await totalsOf(number);
    const fee = totals.shippingFeeInclVatMinor;
    const page = await staff.get(`/admin/orders/${number}`);
    expect(page.text).toContain('not captured yet; it is captured with the last shipment unless you capture it now');

    const res = await postForm(staff, `/admin/orders/${number}/shipments/capture-shipping-fee`, {}, '/admin');
    expect(await followFlash(res)).toContain('shipping fee of');
    expect(await row(number)).toMatchObject({ captured: fee, fee_captured: true, capture_state: 'split_captured', shipment_status: 'not_shipped' });
    const twice = await postForm(staff, `/admin/orders/${number}/shipments/capture-shipping-fee`, {}, '/admin');
    expect(twice.status).toBe(409);
    expect(twice.text).toContain('it has been captured already');

    await followFlash(await ship(number, { 'P-1050': 1 }));
    expect((await row(number)).captured).toBe(fee + totals.lines[0].grossMinor);
    await followFlash(await ship(number, { 'P-1013': 1 }));
    const { total } = await row(number);
    expect(await row(number)).toMatchObject({ captured: total, capture_state: 'captured', shipment_status: 'shipped' });
    expect(await captures(number)).toEqual([
      { operation: 'capture', amount: fee, success: true },
      { operation: 'capture', amount: totals.lines[0].grossMinor, success: true },
      { operation: 'capture', amount: totals.lines[1].grossMinor, success: true },
    ]);
    expect((await shipmentsOf(number)).map((s) => s.fee)).toEqual([false, false]);
  });

  it('a shipping fee capture whose answer was lost counts as the fee once the job confirms it; two staff at once capture it once', async () => {
    const number = await placedOrder([['P-1050', 1], ['P-1013', 1]]);
    const fee = (await totalsOf(number)).shippingFeeInclVatMinor;
    const captureFee = () => postForm(staff, `/admin/orders/${number}/shipments/capture-shipping-fee`, {}, '/admin');
    const lost = await withLostProviderAnswers(t, 'capture', captureFee);
    expect(lost.status).toBe(409);
    expect(lost.text).toContain('may or may not have been done');
    expect(await row(number)).toMatchObject({ captured: 0, fee_captured: false });

    // The recovery job asks the provider, records the capture once, and the fee counts as captured, with its history line.
    await t.sql(`update payment_operations set created_at = now() - interval '2 minutes' where order_id = (select id from orders where number = $1) and status = 'pending'`, [number]);
    const [{ id }] = await t.sql<{ id: string }>('select id from orders where number = $1', [number]);
    expect((await t.services.paymentDesk.recoverStale()).filter((r) => r.orderId === Number(id))).toEqual([{ orderId: Number(id), operation: 'capture', outcome: 'confirmed' }]);
    expect(await row(number)).toMatchObject({ captured: fee, fee_captured: true });
    const history = await t.sql<{ event: string }>(`select event from order_state_history where order_id = $1 and event = 'shipping_fee_captured'`, [id]);
    expect(history).toHaveLength(1);
    expect((await staff.get(`/admin/orders/${number}`)).text).not.toContain('unless you capture it now');
    const again = await captureFee();
    expect(again.status).toBe(409);
    expect(again.text).toContain('it has been captured already');

    // Another order: two staff capture its fee at the same moment — one capture at the provider.
    const other = await placedOrder([['P-1050', 1], ['P-1013', 1]]);
    const both = await Promise.all([1, 2].map(() => postForm(staff, `/admin/orders/${other}/shipments/capture-shipping-fee`, {}, '/admin')));
    expect(both.map((r) => r.status).sort()).toEqual([303, 409]);
    expect((await captures(other)).filter((c) => c.operation === 'capture')).toHaveLength(1);
  });

  it('an order captured in full up front ships without capturing again', async () => {
    const number = await placedOrder([['P-1050', 1]]);
    await followFlash(await postForm(staff, `/admin/orders/${number}/capture`, {}, '/admin'));
    const page = await staff.get(`/admin/orders/${number}`);
    expect(page.text).toContain('captured in full already, so shipping captures nothing more');
    const done = await followFlash(await ship(number, { 'P-1050': 1 }));
    expect(done).toContain('nothing captured (the payment was captured already)');
    expect((await captures(number))).toHaveLength(1);
    expect(await row(number)).toMatchObject({ shipment_status: 'shipped', capture_state: 'captured' });
  });

  it('a capture the provider refuses undoes the whole shipment, and the failed attempt is logged', async () => {
    const number = await placedOrder([['P-1050', 1]]);
    await t.sql(`update orders set transaction_number = 'UNKNOWN-REF' where number = $1`, [number]);
    const before = await snapshot(number);
    const res = await ship(number, { 'P-1050': 1 });
    expect(res.status).toBe(402);
    expect(res.text).toContain('The payment provider refused to capture');
    const after = await snapshot(number);
    expect(after.order).toEqual(before.order);
    expect(after.lines).toEqual(before.lines);
    expect(after.shipments).toEqual([]);
    expect(after.captures).toEqual([{ operation: 'capture', amount: before.order.total, success: false }]);
  });
});

describe('shipments: refusals and input', () => {
  it('refuses orders that are not placed or cancelled (409), unknown ones (404) and bad input (422), never 500', async () => {
    // Still in checkout: an order number, but not placed.
    const open = newAgent(t);
    await addToBasket(t, open, 'P-1050');
    const inCheckout = await checkoutToReview(t, open);
    const notPlaced = await ship(inCheckout, { 'P-1050': 1 });
    expect(notPlaced.status).toBe(409);
    expect(notPlaced.text).toContain('has not been placed, so nothing can be shipped yet');
    expect((await staff.get(`/admin/orders/${inCheckout}`)).text).toContain('has not been placed yet, so nothing can be shipped');

    const cancelled = await placedOrder([['P-1050', 1]]);
    await followFlash(await postForm(staff, `/admin/orders/${cancelled}/cancel`, { confirmed: '1' }, '/admin'));
    const refused = await ship(cancelled, { 'P-1050': 1 });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('has been cancelled, so nothing can be shipped');
    expect((await staff.get(`/admin/orders/${cancelled}`)).text).toContain('data-testid="shipment-blocked"');
    expect((await postForm(staff, `/admin/orders/${cancelled}/shipments/capture-shipping-fee`, {}, '/admin')).status).toBe(409);

    const number = await placedOrder([['P-1050', 2]]);
    const [line] = await linesOf(number);
    const before = await snapshot(number);
    const post = (form: Record<string, string>, path = `/admin/orders/${number}/shipments`) => postForm(staff, path, form, '/admin');
    for (const qty of ['abc', '-1', '1.5', '1e2', '100001']) {
      const res = await post({ [`qty_${line.id}`]: qty });
      expect(res.status).toBe(422);
      expect(res.text).toContain('Please check the quantities');
    }
    expect((await post({ qty_999999999: '1' })).status).toBe(422);
    expect((await post({ 'qty_abc': '1' })).status).toBe(422);
    expect((await post({ [`qty_${line.id}`]: '1', trackingNumber: 'bad<script>' })).status).toBe(422);
    expect((await post({ [`qty_${line.id}`]: '1', trackingNumber: 'x'.repeat(61) })).status).toBe(422);
    expect((await post({ [`qty_${line.id}`]: '1', trackAndTraceId: 'abc' })).status).toBe(422);
    const unknownConfig = await post({ [`qty_${line.id}`]: '1', trackingNumber: 'AB1', trackAndTraceId: '99999' });
    expect(unknownConfig.status).toBe(422);
    expect(unknownConfig.text).toContain('that configuration does not exist');
    const config = await createTrackAndTrace('Refusal Carrier', 'https://refusal.example.com/t/{TrackingNumber}');
    const noNumber = await post({ [`qty_${line.id}`]: '1', trackAndTraceId: String(config) });
    expect(noNumber.status).toBe(422);
    expect(noNumber.text).toContain('tracking number: is required for a Refusal Carrier link');
    expect(await snapshot(number)).toEqual(before);

    expect((await post({ [`qty_${line.id}`]: '1' }, '/admin/orders/ORDER999999/shipments')).status).toBe(404);
    expect((await post({}, '/admin/orders/not-an-order/shipments')).status).toBe(422);
    const [cart] = await t.sql(`select number from orders where type = 'cart' limit 1`);
    if (cart) expect((await post({}, `/admin/orders/${cart.number}/shipments`)).status).toBe(404);
    expect((await staff.get(`/admin/orders/${number}/shipments/1`)).status).toBe(404);
    expect((await staff.get(`/admin/orders/ORDER999999/shipments/1`)).status).toBe(404);
    expect((await staff.get(`/admin/orders/${number}/shipments/abc`)).status).toBe(422);
    expect((await post({ trackingNumber: 'X1' }, `/admin/orders/${number}/shipments/7/tracking`)).status).toBe(404);
  });
});

describe('track & trace', () => {
  it('staff create, edit and delete configurations; URLs must be http(s) with known parameters', async () => {
    const list = await staff.get('/admin/track-and-trace').expect(200);
    expect(list.text).toContain('New configuration');
    expect(list.text).toContain('{TrackingNumber}');

    const bad: [Record<string, string>, string][] = [
      [{ name: '', urlTemplate: 'https://t.example.com/{TrackingNumber}' }, 'Name is required'],
      [{ name: 'X', urlTemplate: '' }, 'URL is required'],
      [{ name: 'X', urlTemplate: 'ftp://t.example.com/{TrackingNumber}' }, 'must start with http:// or https://'],
      [{ name: 'X', urlTemplate: 'javascript:alert(1)//{TrackingNumber}' }, 'must start with http:// or https://'],
      [{ name: 'X', urlTemplate: 'https://t.example.com/track?id={Tracking}' }, 'uses {Tracking}, which is not a parameter'],
      [{ name: 'X', urlTemplate: 'https://t.example.com/track' }, 'must contain {TrackingNumber}'],
      [{ name: 'X', urlTemplate: 'https://t.example.com/track?id={TrackingNumber' }, 'has a { or }'],
      [{ name: 'X', urlTemplate: 'https://exa mple.com/{TrackingNumber}' }, 'must not contain spaces'],
      [{ name: 'X', urlTemplate: 'https://localhost/{TrackingNumber}' }, 'must name a web site'],
      [{ name: 'X'.repeat(101), urlTemplate: 'https://t.example.com/{TrackingNumber}' }, 'at most 100 characters'],
    ];
    for (const [form, message] of bad) {
      const res = await postForm(staff, '/admin/track-and-trace', form, '/admin/track-and-trace');
      expect(res.status).toBe(422);
      expect(res.text).toContain(message.replace(/&/g, '&amp;'));
      expect(res.text).toContain('aria-invalid="true"');
    }
    expect(await t.sql('select * from track_and_trace_configs where name = $1', ['X'])).toEqual([]);

    const id = await createTrackAndTrace('GLS', 'https://gls.example.com/track?match={TrackingNumber}&postalCode={Zip}');
    const shown = await staff.get('/admin/track-and-trace');
    expect(shown.text).toMatch(new RegExp(`data-testid="tt-${id}">.*?GLS.*?https://gls.example.com/track\\?match=\\{TrackingNumber\\}&amp;postalCode=\\{Zip\\}`, 's'));

    const dup = await postForm(staff, '/admin/track-and-trace', { name: ' gls ', urlTemplate: 'https://other.example.com/{TrackingNumber}' }, '/admin/track-and-trace');
    expect(dup.status).toBe(422);
    expect(dup.text).toContain('is taken by another configuration');

    const edit = await staff.get(`/admin/track-and-trace/${id}`).expect(200);
    expect(edit.text).toContain('value="GLS"');
    const badEdit = await postForm(staff, `/admin/track-and-trace/${id}`, { name: 'GLS', urlTemplate: 'http://gls.example.com/{Foo}' }, '/admin/track-and-trace');
    expect(badEdit.status).toBe(422);
    expect(badEdit.text).toContain('value="http://gls.example.com/{Foo}"');
    const saved = await postForm(staff, `/admin/track-and-trace/${id}`, { name: 'GLS Denmark', urlTemplate: 'https://gls.example.dk/t/{TrackingNumber}' }, '/admin/track-and-trace');
    expect(await followFlash(saved)).toContain('Track &amp; trace configuration “GLS Denmark” saved.');
    expect(await t.sql('select name, url_template from track_and_trace_configs where id = $1', [id])).toEqual([{ name: 'GLS Denmark', url_template: 'https://gls.example.dk/t/{TrackingNumber}' }]);

    expect((await staff.get('/admin/track-and-trace/99999')).status).toBe(404);
    expect((await staff.get('/admin/track-and-trace/abc')).status).toBe(422);
    expect((await postForm(staff, '/admin/track-and-trace/99999', { name: 'N', urlTemplate: 'https://n.example.com/{TrackingNumber}' }, '/admin/track-and-trace')).status).toBe(404);

    const del = await postForm(staff, `/admin/track-and-trace/${id}/delete`, {}, '/admin/track-and-trace');
    expect(await followFlash(del)).toContain('“GLS Denmark” deleted.');
    expect(await t.sql('select * from track_and_trace_configs where id = $1', [id])).toEqual([]);
    expect((await postForm(staff, `/admin/track-and-trace/${id}/delete`, {}, '/admin/track-and-trace')).status).toBe(404);

    // The database accepts only http(s) URLs, whatever the code does.
    await expect(t.sql(`insert into track_and_trace_configs (name, url_template) values ('Evil', 'javascript:alert(1)')`)).rejects.toThrow(/track_and_trace_configs_url_check/);
  });

  it('a shipment with a tracking number links to the carrier, sets the order link and mails the customer', async () => {
    const config = await createTrackAndTrace('PostNord', 'https://tracking.example.com/track?id={TrackingNumber}&zip={Zip}&ref={OrderNumber}');
    const number = await placedOrder([['P-1050', 1], ['P-1001', 1]]);
    const expected = `https://tracking.example.com/track?id=00370%207262&zip=2100&ref=${number}`;

    const res = await ship(number, { 'P-1050': 1 }, { trackingNumber: ' 00370 7262 ', trackAndTraceId: String(config) });
    const page = await followFlash(res);
    expect(page).toContain('The customer is mailed the tracking link.');
    expect(page).toContain(`href="${expected.replace(/&/g, '&amp;')}"`);
    expect(await shipmentsOf(number)).toMatchObject([{ tracking_number: '00370 7262', tracking_url: expected }]);
    expect((await row(number)).tracking_url).toBe(expected);

    const [queued] = await t.sql(`select m.dedupe_key, m.to_address, m.subject from outbox_messages m join orders o on o.id = m.order_id
      where o.number = $1 and m.dedupe_key like 'shipment:%'`, [number]);
    const [{ id: shipmentId }] = await t.sql(`select s.id::int from shipments s join orders o on o.id = s.order_id where o.number = $1`, [number]);
    expect(queued).toEqual({ dedupe_key: `shipment:${shipmentId}`, to_address: 'kim@example.test', subject: `Your order ${number} has shipped` });

    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Your order ${number} has shipped`));
    expect(mail.to).toContain('kim@example.test');
    expect(mail.html).toContain(`href="${expected.replace(/&/g, '&amp;')}"`);
    expect(mail.text).toContain(`Track your parcel [${expected}]`); // the text part keeps the button's address
    expect(mail.text).toContain('00370 7262 (PostNord)');
    const [{ name }] = await t.sql(`select name from products where number = 'P-1050'`);
    expect(mail.text).toContain(`1 × ${name} (P-1050)`);

    // The last shipment goes without tracking: no mail, and the order keeps the latest link there is.
    await followFlash(await ship(number, { 'P-1001': 1 }));
    expect((await row(number)).tracking_url).toBe(expected);
    expect(await t.sql(`select 1 from outbox_messages m join orders o on o.id = m.order_id where o.number = $1 and m.dedupe_key like 'shipment:%'`, [number])).toHaveLength(1);

    // Its tracking number arrives later: the shipment gets its link, the order the newest link, the customer a mail.
    const slip = await staff.get(`/admin/orders/${number}/shipments/2`).expect(200);
    expect(slip.text).toContain('Add tracking');
    const badNumber = await postForm(staff, `/admin/orders/${number}/shipments/2/tracking`, { trackingNumber: 'PN 2 !!', trackAndTraceId: String(config) }, '/admin');
    expect(badNumber.status).toBe(422);
    // Refused in the shipment's tracking form, typed values kept.
    expect(badNumber.text).toContain('data-testid="refused-tracking"');
    expect(badNumber.text).toContain('value="PN 2 !!" aria-invalid="true"');
    expect(badNumber.text).toContain(`<option value="${config}" selected>`);
    const added = await postForm(staff, `/admin/orders/${number}/shipments/2/tracking`, { trackingNumber: 'PN-2', trackAndTraceId: String(config) }, '/admin');
    expect(added.headers.location).toBe(`/admin/orders/${number}/shipments/2`);
    expect(await followFlash(added)).toContain('shipment 2 has tracking number PN-2.');
    const second = `https://tracking.example.com/track?id=PN-2&zip=2100&ref=${number}`;
    expect((await row(number)).tracking_url).toBe(second);
    const again = await postForm(staff, `/admin/orders/${number}/shipments/2/tracking`, { trackingNumber: 'PN-3' }, '/admin');
    expect(again.status).toBe(409);
    expect(again.text).toMatch(/data-testid="refused-tracking">[^<]*already has the tracking number PN-2/);
    await t.worker.sendDue();
    await waitFor(() => t.mails.filter((m) => m.subject === `Your order ${number} has shipped`).length === 2);

    // The staff details page shows both links.
    const details = await staff.get(`/admin/orders/${number}`);
    expect(details.text).toContain(`data-testid="tracking-link-1"`);
    expect(details.text).toContain(`href="${second.replace(/&/g, '&amp;')}"`);
  });
});

describe('shipments: access', () => {
  it('a shopper gets 403 on every shipment and track & trace URL, and nothing changes', async () => {
    const number = await placedOrder([['P-1050', 1]]);
    const [line] = await linesOf(number);
    const config = await createTrackAndTrace('Access Carrier', 'https://access.example.com/{TrackingNumber}');
    const before = await snapshot(number);
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    const token = await csrfToken(shopper, '/');
    const posts = [
      [`/admin/orders/${number}/shipments`, { [`qty_${line.id}`]: '1' }],
      [`/admin/orders/${number}/shipments/capture-shipping-fee`, {}],
      [`/admin/orders/${number}/shipments/1/tracking`, { trackingNumber: 'X' }],
      ['/admin/track-and-trace', { name: 'Hack', urlTemplate: 'https://h.example.com/{TrackingNumber}' }],
      [`/admin/track-and-trace/${config}`, { name: 'Hack', urlTemplate: 'https://h.example.com/{TrackingNumber}' }],
      [`/admin/track-and-trace/${config}/delete`, {}],
    ] as const;
    for (const [path, form] of posts) {
      const res = await shopper.post(path).type('form').send({ _csrf: token, ...form });
      expect(res.status).toBe(403);
    }
    for (const path of ['/admin/track-and-trace', `/admin/track-and-trace/${config}`, `/admin/orders/${number}`, `/admin/orders/${number}/shipments/1`]) {
      expect((await shopper.get(path)).status).toBe(403);
    }
    expect(await snapshot(number)).toEqual(before);
    expect(await t.sql('select name from track_and_trace_configs where id = $1', [config])).toEqual([{ name: 'Access Carrier' }]);
    // A guest is sent to log in.
    const guest = await newAgent(t).get('/admin/track-and-trace');
    expect(guest.status).toBe(302);
    expect(guest.headers.location).toContain('/login');
  });
});
