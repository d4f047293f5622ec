import type TestAgent from 'supertest/lib/agent';
import { addToBasket, checkoutToReview, place, reviewNumber } from '../helpers/shopping';
import { login, newAgent, postForm, staffAgent, startTestApp, type TestApp, waitFor } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  await t.sql(`update stock_levels set quantity = 100 where product_id in (select id from products where number in ('P-1016', 'P-1017'))`);
  await t.sql(`update products set price_minor = 10000, vat_rate_bp = 2500 where number in ('P-1016', 'P-1017')`);
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

/** Sam buys 3 × P-1016 and 1 × P-1017 by card (with `voucherCode`, if given); staff capture it and move it to Shipped. */
async function shippedOrder(voucherCode = ''): Promise<{ customer: TestAgent; number: string; lines: Record<string, number> }> {
  const customer = newAgent(t);
  await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
  await addToBasket(t, customer, 'P-1016', 3);
  await addToBasket(t, customer, 'P-1017', 1);
  let number = await checkoutToReview(t, customer);
  if (voucherCode) {
    expect((await postForm(customer, '/checkout/voucher', { voucherCode }, '/checkout/review')).status).toBe(303);
    number = await reviewNumber(customer); // a changed order takes a new number
  }
  expect((await place(customer, number)).status).toBe(303);
  expect((await postForm(staff, `/admin/orders/${number}/capture`, {}, `/admin/orders/${number}`)).status).toBe(303);
  const [order] = await t.sql('select id from orders where number = $1', [number]);
  for (const name of ['Received', 'Picked', 'Shipped']) {
    const [s] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = 'Standard order flow' and s.name = $1`, [name]);
    await t.services.flows.changeState({ orderId: order.id, toStateId: s.id, actor: { userId: null, kind: 'system', source: 'system' } });
  }
  const rows = await t.sql('select l.id, l.product_number from order_lines l where l.order_id = $1', [order.id]);
  return { customer, number, lines: Object.fromEntries(rows.map((r) => [r.product_number, Number(r.id)])) };
}

const fileReturn = (customer: TestAgent, number: string, form: Record<string, string | number>) =>
  postForm(customer, '/customer-center/returns', { orderNumber: number, reason: 'Damaged on arrival', comment: '', resolution: 'refund', ...form }, `/customer-center/returns/new?order=${number}`);

describe('returns (RMA)', () => {
  it('customer files a return, both sides are mailed, staff approve, receive into stock and refund part of it', async () => {
    const { customer, number, lines } = await shippedOrder();
    // Without an order (a bookmark, a typed address) the customer is sent to pick one.
    const noOrder = await customer.get('/customer-center/returns/new');
    expect(noOrder.status).toBe(303);
    expect(noOrder.headers.location).toBe('/customer-center?CC=Orders');
    expect((await customer.get('/customer-center?CC=Orders')).text).toContain('Open the order you want to return items from');
    const form = await customer.get(`/customer-center/returns/new?order=${number}`).expect(200);
    expect(form.text).toContain('of 3');

    const res = await fileReturn(customer, number, { [`line_${lines['P-1016']}`]: 2, comment: 'Two arrived broken <b>' });
    expect(res.status).toBe(303);
    const rma = /\/customer-center\/returns\/(RMA\d+)/.exec(res.headers.location)![1];
    const [ret] = await t.sql(`select r.resolution, r.comment, s.name as state from returns r join flow_states s on s.id = r.state_id where r.number = $1`, [rma]);
    expect(ret).toEqual({ resolution: 'refund', comment: 'Two arrived broken <b>', state: 'Requested' });
    await t.worker.sendDue();
    await waitFor(() => t.mails.find((m) => m.subject === `We received your return request ${rma}`));
    const staffMail = await waitFor(() => t.mails.find((m) => m.subject === `New return ${rma} for ${number}`));
    expect(staffMail.html).toContain('Two arrived broken &lt;b&gt;');

    expect((await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`)).status).toBe(303);
    const [location] = await t.sql(`select id from stock_locations where name = 'Store Copenhagen'`);
    const before = await t.sql(`select quantity from stock_levels where location_id = $1 and product_id = (select id from products where number = 'P-1016')`, [location.id]);
    expect((await postForm(staff, `/admin/returns/${rma}/receive`, { locationId: location.id }, `/admin/returns/${rma}`)).status).toBe(303);
    const [after] = await t.sql(`select quantity from stock_levels where location_id = $1 and product_id = (select id from products where number = 'P-1016')`, [location.id]);
    expect(after.quantity).toBe((before[0]?.quantity ?? 0) + 2);

    // 2 × 125.00 incl. VAT = 250.00 worth of goods, offered as the refund amount; refund 200.00.
    const adminPage = await staff.get(`/admin/returns/${rma}`);
    expect(adminPage.text).toContain('Value of the returned goods: 250.00 DKK');
    expect(adminPage.text).not.toContain('>Approve<');
    // The first submit says what will happen and changes nothing; the confirmed second one refunds.
    const confirm = await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '200' }, `/admin/returns/${rma}`);
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain(`Refund 200.00 DKK for ${rma}?`);
    expect(confirm.text).toMatch(/200\.00 DKK is paid back to the customer through Card \(card ending in 4242\)/);
    expect(confirm.text).toContain(`${rma} moves to “Refunded”`);
    expect(confirm.text).toMatch(/name="amount" value="200"[\s\S]*name="confirmed" value="1"/);
    expect((await t.sql('select refunded_minor from orders where number = $1', [number]))[0].refunded_minor).toBe('0');
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '200', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(303);
    const [order] = await t.sql('select refunded_minor, payment_status from orders where number = $1', [number]);
    expect(order).toEqual({ refunded_minor: '20000', payment_status: 'partly_refunded' });
    const [done] = await t.sql(`select r.refunded_minor, s.name as state from returns r join flow_states s on s.id = r.state_id where r.number = $1`, [rma]);
    expect(done).toEqual({ refunded_minor: '20000', state: 'Refunded' });

    const page = await customer.get(`/customer-center/returns/${rma}`).expect(200);
    for (const step of ['Requested', 'Approved', 'Goods received', 'Refunded']) expect(page.text).toContain(step);
    expect(page.text).not.toContain('Ada Admin'); // customers see the steps, not who did them
  });

  it('values returned goods at what the customer paid for them (after the voucher), and refunds no more than that', async () => {
    // 3 × 125.00 + 1 × 125.00 incl. VAT, 10 % off with WELCOME10: 450.00 paid for the goods, 112.50 of it for P-1017.
    const { customer, number, lines } = await shippedOrder('WELCOME10');
    expect((await t.sql(`select (totals->>'subtotalMinor')::int - (totals->>'discountMinor')::int as goods from orders where number = $1`, [number]))[0].goods).toBe(45000);
    const filed = async (form: Record<string, number>) => /(RMA\d+)/.exec((await fileReturn(customer, number, form)).headers.location)![1];
    const received = async (rma: string) => {
      await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`);
      await postForm(staff, `/admin/returns/${rma}/receive`, {}, `/admin/returns/${rma}`);
    };
    const rma = await filed({ [`line_${lines['P-1017']}`]: 1 });
    await received(rma);
    const page = await staff.get(`/admin/returns/${rma}`);
    expect(page.text).toContain('Value of the returned goods: 112.50 DKK');
    expect(page.text).toMatch(/name="amount" inputmode="decimal" value="112.50"/);
    const fullPrice = await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '125.00', confirmed: '1' }, `/admin/returns/${rma}`);
    expect(fullPrice.status).toBe(422);
    expect(fullPrice.text).toContain('more than the returned goods are worth (112.50 DKK)');
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '112.50', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(303);
    // The database holds the cap too.
    await expect(t.sql('update returns set refunded_minor = 12500 where number = $1', [rma])).rejects.toThrow(/returns_refund_within_value/);

    // A line returned in parts is worth, together, exactly what it was charged (337.50 for 3 × P-1016).
    const first = await filed({ [`line_${lines['P-1016']}`]: 2 });
    const second = await filed({ [`line_${lines['P-1016']}`]: 1 });
    const values = await t.sql('select number, goods_value_minor from returns where number = any($1) order by id', [[first, second]]);
    expect(values.map((v) => v.goods_value_minor)).toEqual(['22500', '11250']);
  });

  it('shows every problem of a return request at once, each by its field, with what was typed', async () => {
    const { customer, number, lines } = await shippedOrder();
    const refused = await fileReturn(customer, number, { reason: '', [`line_${lines['P-1016']}`]: 5, [`line_${lines['P-1017']}`]: -1, comment: 'Box was wet' });
    expect(refused.status).toBe(422);
    const p1016 = `line_${lines['P-1016']}`;
    const p1017 = `line_${lines['P-1017']}`;
    expect(refused.text).toMatch(/id="reason" name="reason" required aria-invalid="true" aria-describedby="reason-error"/);
    expect(refused.text).toContain('<p class="field-error" id="reason-error">Choose a reason.</p>');
    expect(refused.text).toMatch(new RegExp(`id="${p1016}" [^>]*value="5"[^>]* aria-invalid="true" aria-describedby="${p1016}-error"`));
    expect(refused.text).toMatch(new RegExp(`id="${p1016}-error">You can return at most 3 × [^<]+ \\(3 shipped, 0 already returned\\)\\.<`));
    expect(refused.text).toMatch(new RegExp(`id="${p1017}" [^>]*value="-1"[^>]* aria-invalid="true"`));
    expect(refused.text).toContain(`id="${p1017}-error">The quantity cannot be negative.<`);
    expect(refused.text).toContain('Box was wet');
    expect(await t.sql('select 1 from returns r join orders o on o.id = r.order_id where o.number = $1', [number])).toHaveLength(0);
  });

  it('never returns more than was shipped minus already returned, even when two requests race', async () => {
    const { customer, number, lines } = await shippedOrder();
    const over = await fileReturn(customer, number, { [`line_${lines['P-1016']}`]: 4 });
    expect(over.status).toBe(422);
    expect(over.text).toContain('at most 3');
    expect((await fileReturn(customer, number, { [`line_${lines['P-1016']}`]: 2 })).status).toBe(303);
    const again = await fileReturn(customer, number, { [`line_${lines['P-1016']}`]: 2 });
    expect(again.status).toBe(422);
    expect(again.text).toContain('3 shipped, 2 already returned');

    const results = await Promise.all([1, 2].map(() => fileReturn(customer, number, { [`line_${lines['P-1016']}`]: 1 })));
    expect(results.map((r) => r.status).sort()).toEqual([303, 422]);
    const [{ n }] = await t.sql(`select sum(rl.quantity)::int as n from return_lines rl join returns r on r.id = rl.return_id join orders o on o.id = r.order_id where o.number = $1`, [number]);
    expect(n).toBe(3);
  });

  it('refuses a refund above what was captured minus refunded, and a step the return flow does not allow', async () => {
    const { customer, number, lines } = await shippedOrder();
    const res = await fileReturn(customer, number, { [`line_${lines['P-1017']}`]: 1 });
    const rma = /(RMA\d+)/.exec(res.headers.location)![1];
    const early = await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '10' }, `/admin/returns/${rma}`);
    expect(early.status).toBe(409);
    // Refused on the return's page (its refund form is not offered yet, so the message stands under the steps).
    expect(early.text).toContain('data-testid="refused-refund"');
    expect(early.text).not.toContain('Continue shopping');
    await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`);
    await postForm(staff, `/admin/returns/${rma}/receive`, {}, `/admin/returns/${rma}`);
    const aboveValue = await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '99999' }, `/admin/returns/${rma}`);
    expect(aboveValue.status).toBe(422);
    expect(aboveValue.text).toContain('more than the returned goods are worth (125.00 DKK)');
    // The fee is paid back on top of the goods: 125.00 + 99,999.00 is more than was captured.
    const tooMuch = await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '125', fee: '99999' }, `/admin/returns/${rma}`);
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.text).toMatch(/data-testid="refused-refund">[^<]*more than can be refunded/);
    expect(tooMuch.text).toMatch(/name="amount" inputmode="decimal" value="125"/);
    expect(tooMuch.text).toMatch(/name="fee" inputmode="decimal" placeholder="0.00" value="99999"/);
    // An order clerk (who may not refund in the demo) is told so before any confirmation.
    const clerk = newAgent(t);
    await login(clerk, 'clerk@orderflow.test', 'clerk-pass-1');
    const byClerk = await postForm(clerk, `/admin/returns/${rma}/refund`, { amount: '125' }, `/admin/returns/${rma}`);
    expect(byClerk.status).toBe(403);
    expect(byClerk.text).toMatch(/data-testid="refused-refund">[^<]*Your staff role may not refund payments/);
    const [order] = await t.sql('select refunded_minor from orders where number = $1', [number]);
    expect(order.refunded_minor).toBe('0');
    const [state] = await t.sql(`select s.name from returns r join flow_states s on s.id = r.state_id where r.number = $1`, [rma]);
    expect(state.name).toBe('Goods received');
  });

  it('refunds the goods and, on top, the fee staff enter, and the history says what was paid back', async () => {
    const { customer, number, lines } = await shippedOrder();
    const rma = /(RMA\d+)/.exec((await fileReturn(customer, number, { [`line_${lines['P-1017']}`]: 1 })).headers.location)![1];
    await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`);
    await postForm(staff, `/admin/returns/${rma}/receive`, {}, `/admin/returns/${rma}`);
    const confirm = await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '125', fee: '39' }, `/admin/returns/${rma}`);
    expect(confirm.text).toContain(`Refund 164.00 DKK for ${rma}?`);
    expect(confirm.text).toContain('That is 125.00 DKK for the returned goods and 39.00 DKK also refunded');
    expect(confirm.text).toMatch(/name="amount" value="125"><input type="hidden" name="fee" value="39">/);
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '125', fee: '39', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(303);
    const [ret] = await t.sql('select refunded_minor, refund_fee_minor from returns where number = $1', [rma]);
    expect(ret).toEqual({ refunded_minor: '16400', refund_fee_minor: '3900' });
    const [order] = await t.sql(`select o.refunded_minor, (select sum(p.amount_minor)::int from payment_transactions p where p.order_id = o.id and p.operation = 'refund' and p.success) as refunded_at_provider
      from orders o where o.number = $1`, [number]);
    expect(order).toEqual({ refunded_minor: '16400', refunded_at_provider: 16400 });
    const [history] = await t.sql(`select h.message from return_history h join returns r on r.id = h.return_id where r.number = $1 and h.event = 'refunded'`, [rma]);
    expect(history.message).toBe('Refunded 164.00 DKK, incl. a fee of 39.00.');
  });

  it('ends a return in money back or goods again, never both, even when it is reopened after one of them', async () => {
    const goodsReceived = async (resolution: string) => {
      const { customer, number, lines } = await shippedOrder();
      const rma = /(RMA\d+)/.exec((await fileReturn(customer, number, { [`line_${lines['P-1017']}`]: 1, resolution })).headers.location)![1];
      await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`);
      await postForm(staff, `/admin/returns/${rma}/receive`, {}, `/admin/returns/${rma}`);
      return { rma, number };
    };
    const reopen = async (rma: string) => {
      const [received] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.code = 'standard-return' and s.role = 'received'`);
      expect((await postForm(staff, `/admin/returns/${rma}/reopen`, { stateId: received.id, reason: 'Customer called again' }, `/admin/returns/${rma}`)).status).toBe(303);
    };

    const refunded = await goodsReceived('refund');
    expect((await postForm(staff, `/admin/returns/${refunded.rma}/refund`, { amount: '125', confirmed: '1' }, `/admin/returns/${refunded.rma}`)).status).toBe(303);
    await reopen(refunded.rma);
    // Staff read why it was reopened; the customer sees the step, not staff's note.
    expect((await staff.get(`/admin/returns/${refunded.rma}`)).text).toContain('Customer called again');
    const [owner] = await t.sql(`select u.email from returns r join users u on u.id = r.user_id where r.number = $1`, [refunded.rma]);
    expect(owner.email).toBe('shopper@orderflow.test');
    const customer = newAgent(t);
    await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
    expect((await customer.get(`/customer-center/returns/${refunded.rma}`).expect(200)).text).not.toContain('Customer called again');
    const replace = await postForm(staff, `/admin/returns/${refunded.rma}/replace`, {}, `/admin/returns/${refunded.rma}`);
    expect(replace.status).toBe(409);
    expect(replace.text).toMatch(/data-testid="refused-replace">[^<]*this return has been refunded, so no replacement is sent for it/);
    expect(await t.sql('select 1 from returns where number = $1 and replacement_order_id is not null', [refunded.rma])).toHaveLength(0);

    const replaced = await goodsReceived('replacement');
    expect((await postForm(staff, `/admin/returns/${replaced.rma}/replace`, {}, `/admin/returns/${replaced.rma}`)).status).toBe(303);
    await reopen(replaced.rma);
    // Refused already when asked, and when confirmed anyway.
    for (const confirmed of ['', '1']) {
      const refund = await postForm(staff, `/admin/returns/${replaced.rma}/refund`, { amount: '125', confirmed }, `/admin/returns/${replaced.rma}`);
      expect(refund.status).toBe(409);
      expect(refund.text).toMatch(/data-testid="refused-refund">[^<]*a replacement has been sent for this return, so it is not refunded as well/);
    }
    const [order] = await t.sql('select refunded_minor from orders where number = $1', [replaced.number]);
    expect(order.refunded_minor).toBe('0');
  });

  it('rejects a return only with a reason, which the customer is told', async () => {
    const { customer, number, lines } = await shippedOrder();
    const rma = /(RMA\d+)/.exec((await fileReturn(customer, number, { [`line_${lines['P-1016']}`]: 1 })).headers.location)![1];
    const bare = await postForm(staff, `/admin/returns/${rma}/reject`, { message: '  ' }, `/admin/returns/${rma}`);
    expect(bare.status).toBe(422);
    expect(bare.text).toMatch(/data-testid="refused-reject">Please check message: is required/);
    expect((await postForm(staff, `/admin/returns/${rma}/reject`, { message: 'Worn and washed' }, `/admin/returns/${rma}`)).status).toBe(303);
    expect((await customer.get(`/customer-center/returns/${rma}`)).text).toContain('Worn and washed');
  });

  it('sends a replacement order at zero price that takes the goods from stock', async () => {
    const { customer, number, lines } = await shippedOrder();
    const res = await fileReturn(customer, number, { [`line_${lines['P-1017']}`]: 1, resolution: 'replacement' });
    const rma = /(RMA\d+)/.exec(res.headers.location)![1];
    await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`);
    await postForm(staff, `/admin/returns/${rma}/receive`, {}, `/admin/returns/${rma}`);
    const [{ stock: before }] = await t.sql(`select sum(quantity)::int as stock from stock_levels where product_id = (select id from products where number = 'P-1017')`);
    // Two staff clicks at once: one replacement order, its stock taken once.
    const clicks = await Promise.all([1, 2].map(() => postForm(staff, `/admin/returns/${rma}/replace`, {}, `/admin/returns/${rma}`)));
    expect(clicks.map((c) => c.status).sort()).toEqual([303, 409]);
    expect(await t.sql(`select 1 from record_effects e join returns r on r.id = e.return_id where r.number = $1 and e.effect = 'replacement'`, [rma])).toHaveLength(1);
    expect(await t.sql(`select 1 from orders where customer_comment = $1`, [`Replacement for ${number} (return ${rma}).`])).toHaveLength(1);
    const [rep] = await t.sql(`select o.number, o.total_minor, o.completed, l.unit_price_minor, l.quantity from returns r join orders o on o.id = r.replacement_order_id join order_lines l on l.order_id = o.id where r.number = $1`, [rma]);
    expect(rep).toMatchObject({ total_minor: '0', completed: true, unit_price_minor: '0', quantity: 1 });
    const [{ stock: after }] = await t.sql(`select sum(quantity)::int as stock from stock_levels where product_id = (select id from products where number = 'P-1017')`);
    expect(after).toBe(before - 1);

    // Placed by the same writer as the checkout order it replaces: the same completion fields, one "placed" history
    // entry, a receipt mail, an export job and the lines' stock locations — but no payment (status none, no transaction).
    const placedShape = async (orderNumber: string) => {
      const [o] = await t.sql(`select id, completed, completed_at is not null as dated, checkout_step, stock_reserved, basket_status, price_calculation_date is not null as priced,
        (select count(*)::int from order_state_history h where h.order_id = o.id and h.event = 'placed') as placed,
        (select count(*)::int from outbox_messages m where m.dedupe_key = 'receipt:' || o.id and m.subject = 'Order confirmation ' || o.number) as receipts,
        (select count(*)::int from order_export_jobs j where j.order_id = o.id) as exports,
        (select bool_and(l.stock_location_id is not null) from order_lines l where l.order_id = o.id) as located
        from orders o where o.number = $1`, [orderNumber]);
      const { id, ...shape } = o;
      const [pay] = await t.sql(`select o.payment_status, o.capture_state, (select count(*)::int from payment_transactions p where p.order_id = o.id) as transactions from orders o where o.id = $1`, [id]);
      return { shape, pay };
    };
    const original = await placedShape(number);
    const replacement = await placedShape(rep.number);
    expect(replacement.shape).toEqual(original.shape);
    expect(replacement.shape).toMatchObject({ completed: true, placed: 1, receipts: 1, exports: 1, located: true, basket_status: null });
    expect(replacement.pay).toEqual({ payment_status: 'none', capture_state: 'not_supported', transactions: 0 });
    const [history] = await t.sql(`select h.message, h.actor_kind, h.source from order_state_history h join orders o on o.id = h.order_id where o.number = $1 and h.event = 'placed'`, [rep.number]);
    expect(history).toEqual({ message: `Order placed; No charge (replacement): replacement for ${number}, return ${rma}.`, actor_kind: 'staff', source: 'backend' });
  });

  it("gives another customer 404 on the order's return form and on the return; an unshipped order has nothing to return", async () => {
    const { customer, number, lines } = await shippedOrder();
    const res = await fileReturn(customer, number, { [`line_${lines['P-1016']}`]: 1 });
    const rma = /(RMA\d+)/.exec(res.headers.location)![1];
    const other = newAgent(t);
    await login(other, 'buyer1@acme.test', 'buyer-pass-1');
    expect((await other.get(`/customer-center/returns/new?order=${number}`)).status).toBe(404);
    expect((await other.get(`/customer-center/returns/${rma}`)).status).toBe(404);
    expect((await postForm(other, '/customer-center/returns', { orderNumber: number, reason: 'Other', resolution: 'refund', [`line_${lines['P-1016']}`]: 1 })).status).toBe(404);

    const fresh = newAgent(t);
    await login(fresh, 'shopper@orderflow.test', 'shopper-pass-1');
    await addToBasket(t, fresh, 'P-1016');
    const unshipped = await checkoutToReview(t, fresh);
    await place(fresh, unshipped);
    const [line] = await t.sql(`select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [unshipped]);
    const refused = await fileReturn(fresh, unshipped, { [`line_${line.id}`]: 1 });
    expect(refused.status).toBe(422);
    expect(refused.text).toContain('at most 0');
  });
});

describe('returns on an order nothing was captured on (invoice)', () => {
  it('the refund step credits the goods against what the customer owes, without the provider, and the return moves on', async () => {
    const customer = newAgent(t);
    await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
    await addToBasket(t, customer, 'P-1016', 2);
    const number = await checkoutToReview(t, customer, { payment: 'INVOICE' });
    expect((await place(customer, number, {})).status).toBe(303);
    const [line] = await t.sql(`select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [number]);
    expect((await postForm(staff, `/admin/orders/${number}/shipments`, { [`qty_${line.id}`]: 2 }, `/admin/orders/${number}`)).status).toBe(303);
    const rma = /(RMA\d+)/.exec((await fileReturn(customer, number, { [`line_${line.id}`]: 1 })).headers.location)![1];
    await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`);
    await postForm(staff, `/admin/returns/${rma}/receive`, {}, `/admin/returns/${rma}`);

    const page = await staff.get(`/admin/returns/${rma}`);
    expect(page.text).toContain(`Nothing has been captured on ${number}, so nothing can be paid back`);
    expect(page.text).toMatch(/<button type="submit">Credit<\/button>/);
    const confirm = await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '125.00' }, `/admin/returns/${rma}`);
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain(`Credit 125.00 DKK for ${rma}?`);
    expect(confirm.text).toContain('125.00 DKK is credited against what the customer owes');
    expect(confirm.text).not.toMatch(/Cancel the order/i);
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '125.00', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(303);

    const [ret] = await t.sql(`select r.refunded_minor, r.credited_minor, s.role from returns r join flow_states s on s.id = r.state_id where r.number = $1`, [rma]);
    expect(ret).toEqual({ refunded_minor: '0', credited_minor: '12500', role: 'refunded' });
    const [order] = await t.sql(`select o.total_minor, o.credited_minor, o.captured_minor, o.refunded_minor,
      (select count(*)::int from payment_operations p where p.order_id = o.id) as provider_calls from orders o where o.number = $1`, [number]);
    expect(order).toMatchObject({ credited_minor: '12500', captured_minor: '0', refunded_minor: '0', provider_calls: 0 });
    const left = (Number(order.total_minor) - 12500) / 100;
    const orderPage = await staff.get(`/admin/orders/${number}`);
    expect(orderPage.text).toMatch(new RegExp(`data-testid="credited">125.00 DKK <span class="muted">\\(left to pay: ${left.toLocaleString('en-US', { minimumFractionDigits: 2 })} DKK`));
    expect(orderPage.text).toContain(`Return ${rma}: credited 125.00 DKK against what the customer owes`);
    expect((await staff.get(`/admin/returns/${rma}`)).text).toContain('Credited against what the customer owes: 125.00 DKK');
    expect((await customer.get(`/customer-center/returns/${rma}`)).text).toContain(`Credited against what you owe on ${number}: <strong>125.00 DKK`);

    // One outcome, once: no second credit, no replacement; the database keeps credits within what was not captured.
    const [received] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.code = 'standard-return' and s.role = 'received'`);
    expect((await postForm(staff, `/admin/returns/${rma}/reopen`, { stateId: received.id, reason: 'Customer called again' }, `/admin/returns/${rma}`)).status).toBe(303);
    expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: '125.00', confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(409);
    expect((await postForm(staff, `/admin/returns/${rma}/replace`, {}, `/admin/returns/${rma}`)).status).toBe(409);
    expect((await t.sql('select credited_minor from orders where number = $1', [number]))[0].credited_minor).toBe('12500');
    await expect(t.sql('update orders set credited_minor = total_minor + 1 where number = $1', [number])).rejects.toThrow(/orders_kept_within_total/);
  });
});

describe('returns after partial shipments', () => {
  it('allows returning only what the shipments sent', async () => {
    const customer = newAgent(t);
    await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
    await addToBasket(t, customer, 'P-1016', 3);
    const number = await checkoutToReview(t, customer);
    await place(customer, number);
    const [line] = await t.sql(`select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [number]);
    const shipped = await postForm(staff, `/admin/orders/${number}/shipments`, { [`qty_${line.id}`]: 1 }, `/admin/orders/${number}`);
    expect(shipped.status).toBe(303);
    const over = await fileReturn(customer, number, { [`line_${line.id}`]: 2 });
    expect(over.status).toBe(422);
    expect(over.text).toContain('1 shipped, 0 already returned');
    expect((await fileReturn(customer, number, { [`line_${line.id}`]: 1 })).status).toBe(303);
  });
});
