import type TestAgent from 'supertest/lib/agent';
import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, waitFor, type TestApp } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  await t.sql(`update stock_levels set quantity = 1000 where product_id = (select id from products where number = 'P-1050')`);
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

interface OrderRow {
  id: number; capture_state: string | null; payment_status: string; captured: number; refunded: number; total: number;
  deleted: boolean; completed: boolean; stock_reserved: boolean; state: string | null; transaction_number: string;
}

/** A real order through the real checkout: basket → addresses → methods → place. */
async function placedOrder(payment: 'CARD' | 'INVOICE' = 'CARD', quantity = 1): Promise<string> {
  const agent = newAgent(t);
  await addToBasket(t, agent, 'P-1050', quantity);
  const number = await checkoutToReview(t, agent, { payment });
  const res = await place(agent, number, payment === 'CARD' ? undefined : {});
  expect(res.status).toBe(303);
  return number;
}

/** An order still in checkout (not completed): reviewed but never placed. */
async function orderInCheckout(): Promise<string> {
  const agent = newAgent(t);
  await addToBasket(t, agent, 'P-1050');
  return checkoutToReview(t, agent);
}

async function row(number: string): Promise<OrderRow> {
  const [r] = await t.sql<OrderRow>(
    `select o.id::int, o.capture_state, o.payment_status, o.captured_minor::int as captured, o.refunded_minor::int as refunded,
            o.total_minor::int as total, o.deleted, o.completed, o.stock_reserved, s.name as state, o.transaction_number
     from orders o left join flow_states s on s.id = o.state_id where o.number = $1`, [number]);
  return r;
}

const transactions = async (number: string) => t.sql<{ operation: string; amount: number; success: boolean; message: string }>(
  `select p.operation, p.amount_minor::int as amount, p.success, p.message from payment_transactions p join orders o on o.id = p.order_id
   where o.number = $1 and p.operation <> 'authorize' order by p.id`, [number]);

/** Minor units as staff type them: 12345 → "123.45". */
const typed = (minor: number) => `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, '0')}`;

/** Posts an action as confirmed (refund, cancel and delete otherwise stop at their confirmation step; see below). */
const post = (number: string, action: string, form: Record<string, string> = {}, agent = staff) =>
  postForm(agent, `/admin/orders/${number}/${action}`, { confirmed: '1', ...form }, '/admin');

async function flashAfter(res: { status: number; headers: Record<string, string> }, agent = staff) {
  expect(res.status).toBe(303);
  const page = await agent.get(res.headers.location);
  return page.text;
}

describe('payment desk: capture', () => {
  it('captures a card order in full: capture state captured, captured = total, the capture logged', async () => {
    const number = await placedOrder();
    const before = await row(number);
    expect(before).toMatchObject({ capture_state: 'not_captured', payment_status: 'authorized', captured: 0 });

    const page = await staff.get(`/admin/orders/${number}`).expect(200);
    expect(page.text).toContain('data-testid="payment-box"');
    expect(page.text).toContain(`action="/admin/orders/${number}/capture"`);
    expect(page.text).toContain('data-testid="tx-card-number">•••• 4242<');
    expect(page.text).toContain(before.transaction_number);

    const res = await post(number, 'capture');
    expect(res.headers.location).toBe(`/admin/orders/${number}`);
    const after = await flashAfter(res);
    expect(after).toContain(`${number}: captured`);
    expect(after).toContain('fully captured');
    expect(await row(number)).toMatchObject({ capture_state: 'captured', captured: before.total, refunded: 0, payment_status: 'captured' });
    expect(after).toMatch(/data-testid="payment-status">captured</);
    expect(await transactions(number)).toEqual([{ operation: 'capture', amount: before.total, success: true, message: 'Captured.' }]);
    expect(after).not.toContain(`action="/admin/orders/${number}/capture"`);

    const again = await post(number, 'capture');
    expect(again.status).toBe(409);
    expect(again.text).toContain('already fully captured');
    expect(await transactions(number)).toHaveLength(1);
  });

  it('split capture (→ split captured) then final capture of the rest (→ captured)', async () => {
    const number = await placedOrder();
    const { total } = await row(number);
    const part = 1000;

    const split = await post(number, 'capture-amount', { amount: typed(part) });
    expect(await flashAfter(split)).toContain(`left to capture`);
    expect(await row(number)).toMatchObject({ capture_state: 'split_captured', captured: part });

    const page = await staff.get(`/admin/orders/${number}`);
    expect(page.text).toContain(`action="/admin/orders/${number}/final-capture"`);
    expect(page.text).not.toContain(`action="/admin/orders/${number}/capture"`);
    const full = await post(number, 'capture');
    expect(full.status).toBe(409);
    expect(full.text).toContain('use “Final capture”');

    const final = await post(number, 'final-capture');
    expect(await flashAfter(final)).toContain('fully captured');
    expect(await row(number)).toMatchObject({ capture_state: 'captured', captured: total });
    expect(await transactions(number)).toEqual([
      { operation: 'capture', amount: part, success: true, message: 'Captured.' },
      { operation: 'capture', amount: total - part, success: true, message: 'Captured.' },
    ]);
  });

  it('a split capture that reaches the total exactly closes the capture', async () => {
    const number = await placedOrder();
    const { total } = await row(number);
    await flashAfter(await post(number, 'capture-amount', { amount: typed(total - 1) }));
    await flashAfter(await post(number, 'capture-amount', { amount: typed(1) }));
    expect(await row(number)).toMatchObject({ capture_state: 'captured', captured: total });
  });

  it('refuses a split capture above what is left to capture, and changes nothing', async () => {
    const number = await placedOrder();
    const { total } = await row(number);
    await flashAfter(await post(number, 'capture-amount', { amount: typed(total - 500) }));
    const before = await row(number);

    const res = await post(number, 'capture-amount', { amount: typed(501) });
    expect(res.status).toBe(409);
    expect(res.text).toContain(`is more than the ${typed(500)} DKK left to capture on ${number}`);
    expect(await row(number)).toEqual(before);
    expect(await transactions(number)).toHaveLength(1);
  });

  it('two split captures at the same time that together exceed the total: exactly one succeeds (row lock)', async () => {
    const number = await placedOrder();
    const { total } = await row(number);
    const part = Math.floor(total * 0.6);
    const other = await staffAgent(t);
    const [a, b] = [await csrfToken(staff, '/admin'), await csrfToken(other, '/admin')];

    const results = await Promise.all([
      staff.post(`/admin/orders/${number}/capture-amount`).type('form').send({ _csrf: a, amount: typed(part) }),
      other.post(`/admin/orders/${number}/capture-amount`).type('form').send({ _csrf: b, amount: typed(part) }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([303, 409]);
    expect(results.find((r) => r.status === 409)!.text).toContain('left to capture');
    expect(await row(number)).toMatchObject({ capture_state: 'split_captured', captured: part });
    expect(await transactions(number)).toEqual([{ operation: 'capture', amount: part, success: true, message: 'Captured.' }]);
  });

  it('refuses to capture an Invoice order: it must be captured in the payment provider’s administration', async () => {
    const number = await placedOrder('INVOICE');
    expect(await row(number)).toMatchObject({ capture_state: 'not_supported', payment_status: 'authorized' });
    const page = await staff.get(`/admin/orders/${number}`);
    expect(page.text).toContain('capture this order in the payment provider&#39;s administration');
    expect(page.text).not.toContain(`action="/admin/orders/${number}/capture`);

    for (const [action, form] of [['capture', {}], ['capture-amount', { amount: '10' }], ['final-capture', {}]] as const) {
      const res = await post(number, action, form);
      expect(res.status).toBe(409);
      expect(res.text).toContain('capture this order in the payment provider&#39;s administration');
    }
    expect(await row(number)).toMatchObject({ capture_state: 'not_supported', captured: 0 });
    expect(await transactions(number)).toEqual([]);
  });

  it('logs a capture the provider refuses, and changes nothing else', async () => {
    const number = await placedOrder();
    await t.sql(`update orders set transaction_number = 'UNKNOWN-1' where number = $1`, [number]);
    const before = await row(number);
    const res = await post(number, 'capture');
    expect(res.status).toBe(402);
    expect(res.text).toContain('The payment provider refused to capture');
    expect(res.text).toContain('Unknown transaction.');
    expect(await row(number)).toEqual(before);
    expect(await transactions(number)).toEqual([{ operation: 'capture', amount: before.total, success: false, message: 'Unknown transaction.' }]);
    // The transaction's row: the message under the operation, the result "Failed".
    expect((await staff.get(`/admin/orders/${number}`)).text).toMatch(/<span>capture<span class="line-meta wrap-anywhere">Unknown transaction\.[^<]*<\/span><\/span><\/td>\s*<td[^>]*>[^<]*<\/td>\s*<td data-label="Result" class="stock-out">Failed<\/td>/);
  });
});

describe('payment desk: bulk capture from the order list', () => {
  it('captures the card order and refuses the invoice order, saying why per order', async () => {
    const [card, invoice, split] = [await placedOrder(), await placedOrder('INVOICE'), await placedOrder()];
    await flashAfter(await post(split, 'capture-amount', { amount: '10.00' }));
    const token = await csrfToken(staff, '/admin/orders');
    const res = await staff.post('/admin/orders/bulk-capture').type('form')
      .send(`_csrf=${encodeURIComponent(token)}&numbers=${card}&numbers=${invoice}&numbers=${split}&numbers=ORDER999999&confirmed=1`);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(new RegExp(`data-testid="capture-${card}">.*?<td class="stock-ok">Captured</td>`, 's'));
    expect(res.text).toMatch(new RegExp(`data-testid="capture-${invoice}">.*?<td class="stock-out">Refused</td>.*?capture this order in the payment provider&#39;s administration`, 's'));
    expect(res.text).toMatch(new RegExp(`data-testid="capture-${split}">.*?Captured`, 's'));
    expect(res.text).toMatch(/data-testid="capture-ORDER999999">.*?Refused.*?The order was not found\./s);
    expect(res.text).toContain('2 of 4 orders captured.');
    // Each result line says when it happened.
    expect(res.text).toMatch(new RegExp(`data-testid="capture-${card}"><td class="nowrap"><time datetime="\\d{4}-\\d\\d-\\d\\dT[^"]+">\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d</time>`));
    const [c, i, sp] = [await row(card), await row(invoice), await row(split)];
    expect(c).toMatchObject({ capture_state: 'captured', captured: c.total });
    expect(i).toMatchObject({ capture_state: 'not_supported', captured: 0 });
    expect(sp).toMatchObject({ capture_state: 'captured', captured: sp.total });
    expect(await transactions(invoice)).toEqual([]);
  });

  it('asks to select at least one order', async () => {
    const token = await csrfToken(staff, '/admin/orders');
    const res = await staff.post('/admin/orders/bulk-capture').type('form').send({ _csrf: token });
    expect(res.status).toBe(422);
    // On the order list, in its bulk bar: not an error page.
    expect(res.text).toMatch(/data-testid="refused-bulk">[^<]*select at least one order/);
    expect(res.text).toContain('action="/admin/orders/bulk-state"');
    // The list's other bulk actions, and the quote list's, answer the same way.
    for (const path of ['/admin/orders/bulk-state', '/admin/orders/print', '/admin/orders/export-xml', '/admin/quotes/bulk-state']) {
      const other = await staff.post(path).type('form').send({ _csrf: token, stateId: '1' });
      expect({ path, status: other.status, inBar: other.text.includes('data-testid="refused-bulk"') }).toEqual({ path, status: 422, inBar: true });
    }
  });
});

describe('payment desk: cancel', () => {
  it('voids the authorization, returns the goods to stock where they were taken, and moves the order to Cancelled', async () => {
    const stockOf = async () => (await t.sql<{ location_id: number; quantity: number }>(
      `select location_id, quantity from stock_levels where product_id = (select id from products where number = 'P-1050') order by location_id`));
    const before = await stockOf();
    const number = await placedOrder('CARD', 3);
    const [{ location }] = await t.sql<{ location: number }>(`select l.stock_location_id as location from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [number]);
    const taken = await stockOf();
    expect(taken.find((s) => s.location_id === location)!.quantity).toBe(before.find((s) => s.location_id === location)!.quantity - 3);
    expect(await row(number)).toMatchObject({ stock_reserved: true, state: 'New' });

    const res = await post(number, 'cancel');
    const page = await flashAfter(res);
    expect(page).toContain(`${number}: cancelled. Authorization cancelled. 3 items returned to stock.`);
    expect(await stockOf()).toEqual(before);
    expect(await row(number)).toMatchObject({ payment_status: 'cancelled', stock_reserved: false, state: 'Cancelled', captured: 0 });
    expect(await transactions(number)).toEqual([{ operation: 'cancel', amount: (await row(number)).total, success: true, message: 'Authorization cancelled.' }]);
    const [h] = await t.sql(`select h.actor_kind, h.source, u.email from order_state_history h join orders o on o.id = h.order_id join users u on u.id = h.actor_user_id
      where o.number = $1 and h.event = 'state_changed'`, [number]);
    expect(h).toEqual({ actor_kind: 'staff', source: 'backend', email: 'admin@orderflow.test' });

    // Once cancelled: no second cancel (stock is never returned twice), no capture.
    const again = await post(number, 'cancel');
    expect(again.status).toBe(409);
    expect(again.text).toContain('has already been cancelled');
    expect((await post(number, 'capture')).status).toBe(409);
    expect(await stockOf()).toEqual(before);
  });

  it('cancels an Invoice order too', async () => {
    const number = await placedOrder('INVOICE');
    await flashAfter(await post(number, 'cancel'));
    expect(await row(number)).toMatchObject({ payment_status: 'cancelled', state: 'Cancelled', stock_reserved: false });
  });

  it('refuses to cancel once money has been captured, and changes nothing', async () => {
    const number = await placedOrder();
    await flashAfter(await post(number, 'capture-amount', { amount: '5' }));
    const before = await row(number);
    const res = await post(number, 'cancel');
    expect(res.status).toBe(409);
    expect(res.text).toContain('has already been captured. Refund the captured money instead.');
    expect(await row(number)).toEqual(before);
    expect((await transactions(number)).map((x) => x.operation)).toEqual(['capture']);
  });

  it('refuses the whole cancel when the flow rules do not allow “Cancelled” from the current state', async () => {
    const number = await placedOrder();
    const { id } = await row(number);
    const stateId = async (name: string) => (await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = 'Standard order flow' and s.name = $1`, [name]))[0].id;
    for (const name of ['Received', 'Picked', 'Shipped']) {
      await t.services.flows.changeState({ orderId: id, toStateId: await stateId(name), actor: { userId: null, kind: 'system', source: 'system' } });
    }
    const stockBefore = await t.sql(`select * from stock_levels order by product_id, location_id`);
    const before = await row(number);
    const res = await post(number, 'cancel');
    expect(res.status).toBe(409);
    expect(res.text).toContain(`${number} cannot be cancelled: ${number} cannot move from “Shipped” to “Cancelled”`);
    expect(await row(number)).toEqual(before);
    expect(await t.sql(`select * from stock_levels order by product_id, location_id`)).toEqual(stockBefore);
    expect(await transactions(number)).toEqual([]);
  });
});

describe('payment desk: refund', () => {
  it('refunds part (→ partly refunded), then the rest (→ refunded); never more than captured minus refunded', async () => {
    const number = await placedOrder();
    const { total } = await row(number);
    const none = await post(number, 'refund', { amount: '1' });
    expect(none.status).toBe(409);
    expect(none.text).toContain('nothing to refund');

    await flashAfter(await post(number, 'capture'));
    const page = await staff.get(`/admin/orders/${number}`);
    // Never prefilled with the refundable sum: one click must not refund everything.
    expect(page.text).not.toContain(`value="${typed(total)}"`);
    expect(page.text).toContain(`At most ${typed(total)} DKK`);

    const part = await post(number, 'refund', { amount: typed(1000) });
    expect(await flashAfter(part)).toContain(`refunded ${typed(1000)} DKK`);
    expect(await row(number)).toMatchObject({ payment_status: 'partly_refunded', refunded: 1000, captured: total });

    const tooMuch = await post(number, 'refund', { amount: typed(total - 1000 + 1) });
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.text).toContain(`so at most ${typed(total - 1000)} DKK`);
    expect(await row(number)).toMatchObject({ payment_status: 'partly_refunded', refunded: 1000 });

    const rest = await post(number, 'refund', { amount: typed(total - 1000) });
    expect(await flashAfter(rest)).toContain('everything captured is refunded');
    expect(await row(number)).toMatchObject({ payment_status: 'refunded', refunded: total, captured: total });
    expect(await transactions(number)).toEqual([
      { operation: 'capture', amount: total, success: true, message: 'Captured.' },
      { operation: 'refund', amount: 1000, success: true, message: 'Refunded.' },
      { operation: 'refund', amount: total - 1000, success: true, message: 'Refunded.' },
    ]);
    expect((await post(number, 'refund', { amount: '0.01' })).status).toBe(409);
    // The customer is told of each refund, once, with the amount and where it goes.
    await t.worker.sendDue();
    const [{ email }] = await t.sql('select billing_email as email from orders where number = $1', [number]);
    const mails = await waitFor(() => { const m = t.mails.filter((x) => x.subject.endsWith(`for order ${number}`)); return m.length === 2 && m; });
    expect(mails.map((m) => [m.to, m.subject])).toEqual([
      [email, `Refund of ${typed(1000)} DKK for order ${number}`], [email, `Refund of ${typed(total - 1000)} DKK for order ${number}`],
    ]);
    expect(mails[1].text).toContain(`Refunded on this order so far: ${typed(total)} DKK of the ${typed(total)} DKK you paid.`);
  });

  it('the database itself refuses refunds above captures', async () => {
    const number = await placedOrder();
    await expect(t.sql(`update orders set refunded_minor = captured_minor + 1 where number = $1`, [number])).rejects.toThrow(/check constraint/);
  });
});

describe('payment desk: delete and restore', () => {
  it('deletes only not-completed or cancelled orders; the deleted list restores them', async () => {
    const placed = await placedOrder();
    const refused = await post(placed, 'delete');
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('only orders that were never completed, or that have been cancelled, can be deleted');
    expect((await row(placed)).deleted).toBe(false);

    const open = await orderInCheckout();
    expect(await row(open)).toMatchObject({ completed: false, deleted: false });
    expect((await staff.get(`/admin/orders/${open}`)).text).toContain(`action="/admin/orders/${open}/delete"`);
    const del = await post(open, 'delete');
    expect(del.headers.location).toBe('/admin/orders/deleted');
    const deletedPage = await flashAfter(del);
    expect(deletedPage).toContain(`${open}: deleted; it is hidden from the order list`);
    expect(deletedPage).toMatch(new RegExp(`data-testid="deleted-${open}">.*?by Ada Admin.*?action="/admin/orders/${open}/restore"`, 's'));
    expect((await row(open)).deleted).toBe(true);
    expect((await staff.get('/admin/orders')).text).not.toContain(`>${open}</a>`);
    expect((await staff.get(`/admin/orders/${open}`)).status).toBe(404);

    const cancelled = await placedOrder();
    await flashAfter(await post(cancelled, 'cancel'));
    await flashAfter(await post(cancelled, 'delete'));
    expect((await row(cancelled)).deleted).toBe(true);

    const restored = await post(open, 'restore');
    expect(restored.headers.location).toBe(`/admin/orders/${open}`);
    expect(await flashAfter(restored)).toContain(`${open}: restored.`);
    expect((await row(open)).deleted).toBe(false);
    expect((await staff.get('/admin/orders/deleted')).text).not.toContain(`data-testid="deleted-${open}"`);
    expect((await post(open, 'restore')).status).toBe(409);
  });
});

describe('payment desk: input and access', () => {
  it('answers bad amounts with 422 and unknown orders with 404, never 500', async () => {
    const number = await placedOrder();
    for (const amount of ['', 'abc', '-5', '1.234', '0', '0.00', '1e3', '12.5.0']) {
      const res = await post(number, 'capture-amount', { amount });
      expect(res.status).toBe(422);
      expect(res.text).toMatch(/Please check amount: (is required|is not an amount; type it like 125.50|must be greater than 0)/);
    }
    expect((await post(number, 'refund', { amount: 'ten' })).status).toBe(422);
    expect((await row(number)).captured).toBe(0);
    expect((await post('ORDER999999', 'capture')).status).toBe(404);
    expect((await post('ORDER999999', 'capture-amount', { amount: '1' })).status).toBe(404);
    expect((await post('ORDER999999', 'restore')).status).toBe(404);
    expect((await post('not-an-order', 'cancel')).status).toBe(422);
    // A cart is not an order: the payment desk does not know it.
    const [cart] = await t.sql(`select number from orders where type = 'cart' limit 1`);
    if (cart) expect((await post(cart.number, 'cancel')).status).toBe(404);
  });

  it('a shopper gets 403 on every payment desk URL', async () => {
    const number = await placedOrder();
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    const token = await csrfToken(shopper, '/');
    for (const action of ['capture', 'capture-amount', 'final-capture', 'cancel', 'refund', 'delete', 'restore']) {
      const res = await shopper.post(`/admin/orders/${number}/${action}`).type('form').send({ _csrf: token, amount: '1' });
      expect(res.status).toBe(403);
    }
    expect((await shopper.post('/admin/orders/bulk-capture').type('form').send({ _csrf: token, numbers: number })).status).toBe(403);
    expect((await shopper.get('/admin/orders/deleted')).status).toBe(403);
    expect(await row(number)).toMatchObject({ capture_state: 'not_captured', captured: 0, deleted: false, payment_status: 'authorized' });
    expect(await transactions(number)).toEqual([]);
  });
});

describe('payment desk: confirmation first, refusals in context', () => {
  const unconfirmed = (number: string, action: string, form: Record<string, string> = {}) =>
    postForm(staff, `/admin/orders/${number}/${action}`, form, '/admin');

  it('refund: the field starts empty, the first submit states amount and order and refunds nothing, the confirmed one refunds', async () => {
    const number = await placedOrder();
    await flashAfter(await post(number, 'capture'));
    const page = await staff.get(`/admin/orders/${number}`);
    expect(page.text).toMatch(/<input id="pay-refund-amount"[^>]*value=""/);

    const asked = await unconfirmed(number, 'refund', { amount: '10.00' });
    expect(asked.status).toBe(200);
    expect(asked.text).toContain(`Refund 10.00 DKK on ${number}?`);
    expect(asked.text).toContain('Stock does not change');
    expect(asked.text).toMatch(/data-testid="mini-cart-count">0</); // the header's count on a page answering a POST
    expect(asked.text).toMatch(/name="amount" value="10.00"[\s\S]*name="confirmed" value="1"/);
    expect(await row(number)).toMatchObject({ refunded: 0, payment_status: 'captured' });
    expect(await transactions(number)).toHaveLength(1);

    await flashAfter(await post(number, 'refund', { amount: '10.00' }));
    expect(await row(number)).toMatchObject({ refunded: 1000, payment_status: 'partly_refunded' });
  });

  it('cancel and delete state what will happen (payment, stock and where it goes, state) before they act', async () => {
    const number = await placedOrder('CARD', 2);
    const [{ location }] = await t.sql<{ location: string }>(
      `select s.name as location from order_lines l join orders o on o.id = l.order_id join stock_locations s on s.id = l.stock_location_id where o.number = $1`, [number]);
    const asked = await unconfirmed(number, 'cancel');
    expect(asked.status).toBe(200);
    expect(asked.text).toContain(`Cancel ${number}?`);
    expect(asked.text).toMatch(new RegExp(`Back to stock: 2 × [^<]+ to ${location}`));
    // What the state will do is what its settings say: the seeded Cancelled mails nobody, so no e-mail is promised.
    expect(asked.text).toContain('moves to “Cancelled” in Standard order flow; that state sends no e-mail.');
    expect(await row(number)).toMatchObject({ payment_status: 'authorized', stock_reserved: true, state: 'New' });

    await flashAfter(await post(number, 'cancel'));
    const del = await unconfirmed(number, 'delete');
    expect(del.status).toBe(200);
    expect(del.text).toContain('can be restored from Deleted orders');
    expect((await row(number)).deleted).toBe(false);
  });

  it('a refused action renders the order page in the admin layout, the message next to its form, the typed amount kept', async () => {
    const number = await placedOrder();
    await flashAfter(await post(number, 'capture-amount', { amount: '10.00' }));
    expect(await row(number)).toMatchObject({ capture_state: 'split_captured', payment_status: 'partly_captured' });

    const tooMuch = await unconfirmed(number, 'refund', { amount: '12.34' });
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.text).toContain('data-testid="payment-box"');
    expect(tooMuch.text).toContain('data-testid="details-toolbar"');
    expect(tooMuch.text).not.toContain('Continue shopping');
    expect(tooMuch.text).toMatch(/<input id="pay-refund-amount"[^>]*value="12.34"[\s\S]*?data-testid="refused-refund">12.34 DKK is more than can be refunded/);
    expect(await row(number)).toMatchObject({ refunded: 0 });

    const capture = await post(number, 'capture');
    expect(capture.status).toBe(409);
    expect(capture.text).toMatch(/data-testid="refused-capture">[^<]*already split captured/);
  });

  it('bulk capture first lists the selected orders with the amount each capture takes, capturing nothing', async () => {
    const [card, invoice] = [await placedOrder(), await placedOrder('INVOICE')];
    const token = await csrfToken(staff, '/admin/orders');
    const res = await staff.post('/admin/orders/bulk-capture').type('form').send(`_csrf=${encodeURIComponent(token)}&numbers=${card}&numbers=${invoice}`);
    expect(res.status).toBe(200);
    const total = (await row(card)).total;
    expect(res.text).toMatch(new RegExp(`data-testid="plan-${card}">.*?${typed(total)} DKK.*?Will be captured`, 's'));
    expect(res.text).toMatch(new RegExp(`data-testid="plan-${invoice}">.*?Will be refused: .*?payment provider&#39;s administration`, 's'));
    expect(res.text).toContain('Capture 1 order</button>');
    expect(await row(card)).toMatchObject({ capture_state: 'not_captured', captured: 0 });
  });
});
