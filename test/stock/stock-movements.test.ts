import type TestAgent from 'supertest/lib/agent';
import { formFields } from '../helpers/forms';
import { addToBasket, checkoutToReview, DECLINED_CARD, place, placeGuestOrder } from '../helpers/shopping';
import { login, newAgent, postForm, staffAgent, startTestApp, stockAndPrice, type TestApp } from '../helpers/test-app';

/**
 * Every stock change goes through the stock module (src/stock/stock.ts) and leaves one movement: placing, a released
 * reservation, cancelling, editing an order, receiving a return and a staff adjustment — each with its reason, who did
 * it and the order or return it belongs to, shown on the product's admin page. Parallel cancels and receives move the
 * stock once. The database keeps movements append-only and their reasons known.
 */
let t: TestApp;
let staff: TestAgent;
let staffId: number;
let shopperId: number;
beforeAll(async () => {
  t = await startTestApp();
  await stockAndPrice(t, ['P-1021', 'P-1022'], 10000, 2500, 50);
  staff = await staffAgent(t);
  staffId = (await t.sql(`select id from users where email = 'admin@orderflow.test'`))[0].id;
  shopperId = (await t.sql(`select id from users where email = 'shopper@orderflow.test'`))[0].id;
});
afterAll(async () => { await t.close(); });

const stockOf = async (product: string) =>
  (await t.sql(`select sum(quantity)::int as n from stock_levels where product_id = (select id from products where number = $1)`, [product]))[0].n as number;
const orderId = async (number: string) => Number((await t.sql('select id from orders where number = $1', [number]))[0].id);

/** The movements of one order (or of one return), oldest first. */
async function movements(column: 'order_id' | 'return_id', id: number) {
  return t.sql(
    `select p.number as product, m.quantity_change as change, m.reason, m.actor_kind, m.actor_user_id, m.order_id::int, m.return_id::int
     from stock_movements m join products p on p.id = m.product_id where m.${column} = $1 order by m.id`, [id]);
}

/** Sam buys `quantity` × P-1021 by card. */
async function shopperOrder(quantity: number): Promise<{ customer: TestAgent; number: string; id: number }> {
  const customer = newAgent(t);
  await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
  await addToBasket(t, customer, 'P-1021', quantity);
  const number = await checkoutToReview(t, customer);
  expect((await place(customer, number)).status).toBe(303);
  return { customer, number, id: await orderId(number) };
}

async function stateId(role: string): Promise<number> {
  const [s] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default and s.role = $1`, [role]);
  return s.id;
}

const move = (reason: string, change: number, actor: { kind: string; userId: number | null }, refs: { orderId?: number; returnId?: number | null } = {}) => ({
  product: expect.any(String), change, reason, actor_kind: actor.kind, actor_user_id: actor.userId, order_id: refs.orderId ?? null, return_id: refs.returnId ?? null,
});

describe('stock movements', () => {
  it('placing takes the stock with an "order" movement naming the customer and the order, shown on the product page; a declined card gives it back', async () => {
    const stock0 = await stockOf('P-1021');
    const { number, id } = await shopperOrder(2);
    expect(await stockOf('P-1021')).toBe(stock0 - 2);
    expect(await movements('order_id', id)).toEqual([move('order', -2, { kind: 'customer', userId: shopperId }, { orderId: id })]);

    const page = await staff.get('/admin/products/P-1021').expect(200);
    const row = page.text.slice(page.text.indexOf('data-testid="stock-movement"'));
    expect(row.slice(0, row.indexOf('</tr>'))).toMatch(new RegExp(`-2[\\s\\S]*Order placed[\\s\\S]*href="/admin/orders/${number}"[\\s\\S]*Sam`));

    const guest = newAgent(t);
    await addToBasket(t, guest, 'P-1021', 1);
    const declined = await checkoutToReview(t, guest);
    await place(guest, declined, DECLINED_CARD);
    const declinedId = await orderId(declined);
    expect(await movements('order_id', declinedId)).toEqual([
      move('order', -1, { kind: 'customer', userId: null }, { orderId: declinedId }),
      move('release', 1, { kind: 'customer', userId: null }, { orderId: declinedId }),
    ]);
    expect(await stockOf('P-1021')).toBe(stock0 - 2);
  });

  it('an abandoned hosted payment\'s reservation gives its stock back when it expires, with a "release" movement by the system job', async () => {
    const stock0 = await stockOf('P-1021');
    const guest = newAgent(t);
    await addToBasket(t, guest, 'P-1021', 2);
    const number = await checkoutToReview(t, guest, { payment: 'PAYPAGE' });
    expect((await place(guest, number, {})).headers.location).toMatch(/sandbox-pay/);
    expect(await stockOf('P-1021')).toBe(stock0 - 2);
    const id = await orderId(number);
    await t.sql(`update payment_attempts set expires_at = now() - interval '1 second' where order_id = $1`, [id]);
    await t.services.checkout.releaseExpired();
    expect(await stockOf('P-1021')).toBe(stock0);
    expect(await movements('order_id', id)).toEqual([
      move('order', -2, { kind: 'customer', userId: null }, { orderId: id }),
      move('release', 2, { kind: 'system', userId: null }, { orderId: id }),
    ]);
  });

  it('a recurring order takes its stock with an "order" movement by the system', async () => {
    const template = await placeGuestOrder(t, 'P-1022');
    const today = new Date().toISOString().slice(0, 10);
    const series = await t.services.recurring.createForStaff(staffId, template, { intervalCount: 1, intervalUnit: 'month', startDate: today, ends: 'never' });
    const run = await t.services.recurring.runDue(new Date(`${today}T00:00:30Z`));
    expect(run.created).toHaveLength(1);
    const id = await orderId(run.created[0]);
    expect(await movements('order_id', id)).toEqual([move('order', -1, { kind: 'system', userId: null }, { orderId: id })]);
    await t.services.recurring.cancel(series.id, { kind: 'staff', userId: staffId });
  });

  it('two parallel cancels (payment desk and state select) give the stock back once, with one "cancel" movement by the staff member', async () => {
    const stock0 = await stockOf('P-1021');
    const { number, id } = await shopperOrder(3);
    const [{ version }] = await t.sql('select version from orders where id = $1', [id]);
    const answers = await Promise.all([
      postForm(staff, `/admin/orders/${number}/cancel`, { confirmed: '1' }, `/admin/orders/${number}`),
      postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('cancelled'), version, message: '' }, `/admin/orders/${number}`),
    ]);
    expect(answers.map((r) => r.status).sort()).toEqual([303, 409]);
    expect(await stockOf('P-1021')).toBe(stock0);
    expect(await movements('order_id', id)).toEqual([
      move('order', -3, { kind: 'customer', userId: shopperId }, { orderId: id }),
      move('cancel', 3, { kind: 'staff', userId: staffId }, { orderId: id }),
    ]);
  });

  it('editing a placed order\'s quantity takes or gives back the difference with "edit" movements', async () => {
    // By invoice: a card order's total may not be raised above its authorization.
    const number = await placeGuestOrder(t, 'P-1022', 'INVOICE');
    const id = await orderId(number);
    const stock0 = await stockOf('P-1022');
    const [line] = await t.sql('select id from order_lines where order_id = $1', [id]);
    const edit = async (quantity: number) => {
      const page = await staff.get(`/admin/orders/${number}/edit`).expect(200);
      const form = { ...formFields(page.text, `/admin/orders/${number}/edit`), [`line_${line.id}_quantity`]: String(quantity) };
      expect((await staff.post(`/admin/orders/${number}/edit`).type('form').send(form)).status).toBe(303);
    };
    await edit(4);
    expect(await stockOf('P-1022')).toBe(stock0 - 3);
    await edit(2);
    expect(await stockOf('P-1022')).toBe(stock0 - 1);
    expect(await movements('order_id', id)).toEqual([
      move('order', -1, { kind: 'customer', userId: null }, { orderId: id }),
      move('edit', -3, { kind: 'staff', userId: staffId }, { orderId: id }),
      move('edit', 2, { kind: 'staff', userId: staffId }, { orderId: id }),
    ]);
  });

  it('two parallel receives of a return put the goods back once, with one "return" movement linked to the return and its order', async () => {
    const { customer, number, id } = await shopperOrder(2);
    expect((await postForm(staff, `/admin/orders/${number}/capture`, {}, `/admin/orders/${number}`)).status).toBe(303);
    for (const name of ['Received', 'Picked', 'Shipped']) {
      const [s] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = 'Standard order flow' and s.name = $1`, [name]);
      await t.services.flows.changeState({ orderId: id, toStateId: s.id, actor: { userId: null, kind: 'system', source: 'system' } });
    }
    const [line] = await t.sql('select id from order_lines where order_id = $1', [id]);
    const filed = await postForm(customer, '/customer-center/returns', { orderNumber: number, reason: 'Damaged on arrival', comment: '', resolution: 'refund', [`line_${line.id}`]: 2 },
      `/customer-center/returns/new?order=${number}`);
    const rma = /(RMA\d+)/.exec(filed.headers.location)![1];
    expect((await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`)).status).toBe(303);
    const [{ id: location }] = await t.sql(`select id from stock_locations where name = 'Main warehouse'`);
    const stock0 = await stockOf('P-1021');

    const receives = await Promise.all([1, 2].map(() => postForm(staff, `/admin/returns/${rma}/receive`, { locationId: location }, `/admin/returns/${rma}`)));
    expect(receives.map((r) => r.status).sort()).toEqual([303, 409]);
    expect(await stockOf('P-1021')).toBe(stock0 + 2);
    const returnId = Number((await t.sql('select id from returns where number = $1', [rma]))[0].id);
    expect(await movements('return_id', returnId)).toEqual([move('return', 2, { kind: 'staff', userId: staffId }, { orderId: id, returnId })]);
    const page = await staff.get('/admin/products/P-1021').expect(200);
    expect(page.text).toContain(`href="/admin/returns/${rma}"`);
  });

  it('a staff adjustment records its reason and note; movements cannot be changed or deleted, nor get an unknown reason', async () => {
    const [{ id: location }] = await t.sql(`select id from stock_locations where name = 'Main warehouse'`);
    const stock0 = await stockOf('P-1022');
    expect((await postForm(staff, '/admin/products/P-1022/stock', { locationId: location, change: 5, reason: 'received', note: 'PO 12' }, '/admin/products/P-1022')).status).toBe(303);
    expect(await stockOf('P-1022')).toBe(stock0 + 5);
    const [last] = await t.sql(
      `select quantity_change, reason, note, actor_kind, actor_user_id, order_id from stock_movements
       where product_id = (select id from products where number = 'P-1022') order by id desc limit 1`);
    expect(last).toEqual({ quantity_change: 5, reason: 'received', note: 'PO 12', actor_kind: 'staff', actor_user_id: staffId, order_id: null });

    await expect(t.sql('update stock_movements set quantity_change = 50')).rejects.toThrow(/append-only/);
    await expect(t.sql('delete from stock_movements')).rejects.toThrow(/append-only/);
    await expect(t.sql(`insert into stock_movements (product_id, location_id, quantity_change, resulting_quantity, reason, actor_kind)
      values ((select id from products where number = 'P-1022'), $1, 1, 1, 'found on the floor', 'staff')`, [location])).rejects.toThrow(/stock_movements_reason_check/);
  });
});

describe('a cancel gives back only what is still in the warehouse', () => {
  const ship = async (number: string, lineId: number, quantity: number) =>
    expect((await postForm(staff, `/admin/orders/${number}/shipments`, { [`qty_${lineId}`]: quantity }, `/admin/orders/${number}`)).status).toBe(303);
  const lineOf = async (id: number) => Number((await t.sql('select id from order_lines where order_id = $1', [id]))[0].id);
  /** The customer returns `quantity` of the line; staff approve and receive it into the main warehouse. */
  async function returnedToStock(customer: TestAgent, number: string, lineId: number, quantity: number): Promise<string> {
    const filed = await postForm(customer, '/customer-center/returns', { orderNumber: number, reason: 'No longer needed', comment: '', resolution: 'refund', [`line_${lineId}`]: quantity },
      `/customer-center/returns/new?order=${number}`);
    const rma = /(RMA\d+)/.exec(filed.headers.location)![1];
    const [{ id: location }] = await t.sql(`select id from stock_locations where name = 'Main warehouse'`);
    expect((await postForm(staff, `/admin/returns/${rma}/approve`, {}, `/admin/returns/${rma}`)).status).toBe(303);
    expect((await postForm(staff, `/admin/returns/${rma}/receive`, { locationId: location }, `/admin/returns/${rma}`)).status).toBe(303);
    return rma;
  }
  /** Sam buys `quantity` × P-1022 by invoice (nothing is captured, so the payment desk may cancel it). */
  async function invoiceOrder(customer: TestAgent, quantity: number): Promise<{ number: string; id: number }> {
    await addToBasket(t, customer, 'P-1022', quantity);
    const number = await checkoutToReview(t, customer, { payment: 'INVOICE' });
    expect((await place(customer, number, {})).status).toBe(303);
    return { number, id: await orderId(number) };
  }

  it('a card order shipped, returned in two parts and refunded in full: the cancel puts nothing back (the returns did)', async () => {
    const stock0 = await stockOf('P-1021');
    const { customer, number, id } = await shopperOrder(3);
    const line = await lineOf(id);
    await ship(number, line, 3);
    for (const quantity of [2, 1]) {
      const rma = await returnedToStock(customer, number, line, quantity);
      const [{ goods_value_minor: value }] = await t.sql('select goods_value_minor from returns where number = $1', [rma]);
      expect((await postForm(staff, `/admin/returns/${rma}/refund`, { amount: (Number(value) / 100).toFixed(2), confirmed: '1' }, `/admin/returns/${rma}`)).status).toBe(303);
    }
    expect(await stockOf('P-1021')).toBe(stock0);
    // The rest (the shipping fee) from the payment desk: refunded in full, the order may be cancelled (state select).
    const [{ held }] = await t.sql('select captured_minor - refunded_minor as held from orders where id = $1', [id]);
    if (Number(held) > 0) expect((await postForm(staff, `/admin/orders/${number}/refund`, { amount: (Number(held) / 100).toFixed(2), confirmed: '1' }, `/admin/orders/${number}`)).status).toBe(303);
    const [{ version }] = await t.sql('select version from orders where id = $1', [id]);
    expect((await postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('cancelled'), version, message: '' }, `/admin/orders/${number}`)).status).toBe(303);
    expect(await stockOf('P-1021')).toBe(stock0);
    expect((await movements('order_id', id)).filter((m) => m.reason === 'cancel')).toEqual([]);
  });

  it('an invoice order shipped (2), one returned into stock, then cancelled: nothing more comes back; a partly shipped one gives back the rest', async () => {
    const customer = newAgent(t);
    await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
    const stock0 = await stockOf('P-1022');
    const { number, id } = await invoiceOrder(customer, 2);
    await ship(number, await lineOf(id), 2);
    await returnedToStock(customer, number, await lineOf(id), 1);
    expect(await stockOf('P-1022')).toBe(stock0 - 1);
    const asked = await postForm(staff, `/admin/orders/${number}/cancel`, {}, `/admin/orders/${number}`);
    expect(asked.text).toContain('Stock does not change: every item has shipped');
    expect((await postForm(staff, `/admin/orders/${number}/cancel`, { confirmed: '1' }, `/admin/orders/${number}`)).status).toBe(303);
    expect(await stockOf('P-1022')).toBe(stock0 - 1);

    // 3 ordered, 1 shipped: the cancel puts back the 2 still in the warehouse, and says so first.
    const partly = await invoiceOrder(customer, 3);
    await ship(partly.number, await lineOf(partly.id), 1);
    expect((await postForm(staff, `/admin/orders/${partly.number}/cancel`, {}, `/admin/orders/${partly.number}`)).text).toMatch(/Back to stock: 2 × /);
    expect((await postForm(staff, `/admin/orders/${partly.number}/cancel`, { confirmed: '1' }, `/admin/orders/${partly.number}`)).status).toBe(303);
    expect(await stockOf('P-1022')).toBe(stock0 - 2);
    expect((await movements('order_id', partly.id)).filter((m) => m.reason === 'cancel')).toEqual([move('cancel', 2, { kind: 'staff', userId: staffId }, { orderId: partly.id })]);
  });
});
