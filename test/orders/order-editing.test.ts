import type TestAgent from 'supertest/lib/agent';
import { formFields } from '../helpers/forms';
import { addToBasket, checkoutToReview, place, placeGuestOrder } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, stockAndPrice, type TestApp } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  await stockAndPrice(t, ['P-1010', 'P-1011', 'P-1012'], 10000, 2500);
  await t.sql(`update payment_methods set fee_minor = 0 where code = 'INVOICE'`);
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

/**
 * Paid by invoice (no fee, so totals read as with a card): its total may be raised. A card order's total stays within
 * its authorization (see "edits and the money already taken").
 */
const placedOrder = () => placeGuestOrder(t, 'P-1010', 'INVOICE');

async function editForm(number: string, agent = staff) {
  const page = await agent.get(`/admin/orders/${number}/edit`);
  expect(page.status).toBe(200);
  return formFields(page.text, `/admin/orders/${number}/edit`);
}

/** Loads the edit form as a browser would, changes some fields, and posts it. */
async function saveEdit(number: string, changes: Record<string, string | number | null>, agent = staff) {
  const form = await editForm(number, agent);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete form[k];
    else form[k] = String(v);
  }
  return agent.post(`/admin/orders/${number}/edit`).type('form').send(form);
}

async function orderRow(number: string) {
  const [o] = await t.sql<any>(`select id, version, total_minor, shipping_fee_minor, payment_fee_minor, order_discount_minor, billing_city, delivery_same_as_billing,
    delivery_name, delivery_city, custom_fields from orders where number = $1`, [number]);
  return { ...o, total_minor: Number(o.total_minor), shipping_fee_minor: Number(o.shipping_fee_minor), payment_fee_minor: Number(o.payment_fee_minor), order_discount_minor: Number(o.order_discount_minor) };
}
const lines = async (number: string) => (await t.sql<any>(`select l.id, l.product_number, l.quantity, l.unit_price_minor, l.discount_minor, l.custom_fields, l.added_by_user_id
  from order_lines l join orders o on o.id = l.order_id where o.number = $1 order by l.id`, [number])).map((l) => ({ ...l, unit_price_minor: Number(l.unit_price_minor), discount_minor: Number(l.discount_minor) }));
const versionNos = async (number: string) => (await t.sql(`select v.version_no from order_versions v join orders o on o.id = v.order_id where o.number = $1 order by v.version_no`, [number])).map((v) => v.version_no);
const stockOf = async (product: string) => Number((await t.sql(`select sum(quantity)::int as q from stock_levels where product_id = (select id from products where number = $1)`, [product]))[0].q);

async function moveTo(number: string, ...names: string[]) {
  const [o] = await t.sql(`select id from orders where number = $1`, [number]);
  for (const name of names) {
    const [s] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default and s.name = $1`, [name]);
    await t.services.flows.changeState({ orderId: Number(o.id), toStateId: s.id, actor: { userId: null, kind: 'system', source: 'system' } }, t.orm.em.fork());
  }
}

describe('order editing', () => {
  it('edits quantities, prices and addresses: totals are recalculated, shipping and payment fees stay as charged', async () => {
    const number = await placedOrder();
    // 1 × 100.00 + 39.00 shipping, 25 % VAT
    expect(await orderRow(number)).toMatchObject({ total_minor: 17375, shipping_fee_minor: 3900, payment_fee_minor: 0 });
    // The methods' fees change after the order was placed: an edit must not pick them up.
    await t.sql(`update shipping_methods set fee_minor = 9900 where code = 'STANDARD'`);
    await t.sql(`update payment_methods set fee_minor = 5000 where code = 'INVOICE'`);
    try {
      const [line] = await lines(number);
      const res = await saveEdit(number, {
        [`line_${line.id}_quantity`]: 5, [`line_${line.id}_unitPrice`]: '90,00', billing_city: 'Aarhus',
        deliverySameAsBilling: null, delivery_name: 'Kim at work', delivery_address: 'Harbour 9', delivery_zip: '8000', delivery_city: 'Aarhus C', delivery_country: 'DK',
      });
      expect(res.status === 303 ? '' : /flash-error" role="alert">([^<]*)/.exec(res.text)?.[1]).toBe('');
      expect(res.headers.location).toBe(`/admin/orders/${number}`);
      // 5 × 90.00 = 450.00 net + the 39.00 shipping as charged (not free above 500, not the new 99.00) → 489.00 net → 611.25
      expect(await orderRow(number)).toMatchObject({
        total_minor: 61125, shipping_fee_minor: 3900, payment_fee_minor: 0, billing_city: 'Aarhus',
        delivery_same_as_billing: false, delivery_name: 'Kim at work', delivery_city: 'Aarhus C',
      });
      expect(await lines(number)).toMatchObject([{ quantity: 5, unit_price_minor: 9000 }]);
      expect(await versionNos(number)).toEqual([1, 2]);
      const [v1] = await t.sql(`select v.snapshot, v.created_by from order_versions v join orders o on o.id = v.order_id where o.number = $1 and v.version_no = 1`, [number]);
      expect(v1.snapshot.lines[0]).toMatchObject({ quantity: 1, unitPriceMinor: 10000 });
      expect(v1.snapshot.totals.totalMinor).toBe(17375);
      const [h] = await t.sql(`select h.message from order_state_history h join orders o on o.id = h.order_id where o.number = $1 and h.event = 'order_edited'`, [number]);
      expect(h.message).toContain('Saved as version 2');

      const details = await staff.get(`/admin/orders/${number}`);
      expect(details.text).toContain('611.25 DKK');
      expect(details.text).toContain(`href="/admin/orders/${number}/edit"`);
      expect(details.text).toContain(`href="/admin/orders/${number}/versions"`);

      // Saving the form unchanged makes no new version.
      expect((await saveEdit(number, {})).status).toBe(303);
      expect(await versionNos(number)).toEqual([1, 2]);
    } finally {
      await t.sql(`update shipping_methods set fee_minor = 3900 where code = 'STANDARD'`);
      await t.sql(`update payment_methods set fee_minor = 0 where code = 'INVOICE'`);
    }
  });

  it('adds a product with a line discount, removes a line and its discount, and gives an order discount', async () => {
    const number = await placedOrder();
    const [first] = await lines(number);
    const stock1011 = await stockOf('P-1011');
    const stock1010 = await stockOf('P-1010');

    // Add 2 × P-1011 at the catalog price with a 10.00 line discount: 100 + 190 net + 39 shipping = 329.00 → 411.25
    const added = await saveEdit(number, { addProductNumber: 'P-1011', addQuantity: 2, addDiscount: '10' });
    expect(added.status).toBe(303);
    const after = await lines(number);
    expect(after.map((l) => [l.product_number, l.quantity, l.unit_price_minor, l.discount_minor])).toEqual([['P-1010', 1, 10000, 0], ['P-1011', 2, 10000, 1000]]);
    expect(after[1].added_by_user_id).not.toBeNull();
    expect((await orderRow(number)).total_minor).toBe(41125);
    expect(await stockOf('P-1011')).toBe(stock1011 - 2);

    // A product without a discount, at a price staff choose.
    expect((await saveEdit(number, { addProductNumber: 'p-1012', addUnitPrice: '50' })).status).toBe(303);
    const third = (await lines(number))[2];
    expect([third.product_number, third.quantity, third.unit_price_minor, third.discount_minor]).toEqual(['P-1012', 1, 5000, 0]);

    // Remove the first and the third line, give a 40.00 order discount: 190 − 40 = 150 + 39 = 189.00 → 236.25
    const removed = await saveEdit(number, { [`line_${first.id}_remove`]: 'on', [`line_${third.id}_remove`]: 'on', orderDiscount: '40' });
    expect(removed.status).toBe(303);
    expect((await lines(number)).map((l) => l.product_number)).toEqual(['P-1011']);
    expect(await orderRow(number)).toMatchObject({ total_minor: 23625, order_discount_minor: 4000, shipping_fee_minor: 3900 });
    expect(await stockOf('P-1010')).toBe(stock1010 + 1);

    // Remove both discounts: 200 + 39 = 239.00 → 298.75
    const [only] = await lines(number);
    expect((await saveEdit(number, { [`line_${only.id}_discount`]: '0', orderDiscount: '0' })).status).toBe(303);
    expect(await orderRow(number)).toMatchObject({ total_minor: 29875, order_discount_minor: 0 });
    expect(await versionNos(number)).toEqual([1, 2, 3, 4, 5]);

    // The last line cannot be removed; a product already on the order cannot be added twice; an unknown one is refused.
    const empty = await saveEdit(number, { [`line_${only.id}_remove`]: 'on' });
    expect(empty.status).toBe(422);
    expect(empty.text).toContain('at least one line');
    const twice = await saveEdit(number, { addProductNumber: 'P-1011' });
    expect(twice.status).toBe(422);
    expect(twice.text).toContain('already on the order');
    expect((await saveEdit(number, { addProductNumber: 'P-NOPE' })).status).toBe(422);
    expect(await versionNos(number)).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses a discount that would make the total less than 0, and other bad input, saving nothing', async () => {
    const number = await placedOrder();
    const before = await orderRow(number);
    const [line] = await lines(number);

    const negative = await saveEdit(number, { orderDiscount: '1000' });
    expect(negative.status).toBe(422);
    expect(negative.text).toContain('less than 0');
    expect(negative.text).toContain('name="orderDiscount" value="1000"'); // the form is shown again with what was typed
    const lineNegative = await saveEdit(number, { [`line_${line.id}_discount`]: '100.01' });
    expect(lineNegative.status).toBe(422);
    expect(lineNegative.text).toContain('less than 0');

    const tooMany = await saveEdit(number, { [`line_${line.id}_quantity`]: 10000 });
    expect(tooMany.status).toBe(422);
    expect(tooMany.text).toContain('at most 9999');
    const badMoney = await saveEdit(number, { [`line_${line.id}_unitPrice`]: 'ten' });
    expect(badMoney.status).toBe(422);
    expect(badMoney.text).toContain('must be an amount');
    const badAddress = await saveEdit(number, { billing_email: 'not-an-email', billing_name: '' });
    expect(badAddress.status).toBe(422);
    expect(badAddress.text).toContain('Billing e-mail must be an e-mail address');
    const huge = await saveEdit(number, { [`line_${line.id}_quantity`]: 9999, [`line_${line.id}_unitPrice`]: '9999999', orderDiscount: '9999999' });
    expect(huge.status).toBe(422);

    expect(await orderRow(number)).toEqual(before);
    expect(await lines(number)).toMatchObject([{ quantity: 1, unit_price_minor: 10000, discount_minor: 0 }]);
    expect(await versionNos(number)).toEqual([]);
  });

  it('refuses editing while the state does not allow it, and for staff without the edit permission', async () => {
    const number = await placedOrder();
    const form = await editForm(number);
    await moveTo(number, 'Received', 'Picked');

    const page = await staff.get(`/admin/orders/${number}/edit`);
    expect(page.status).toBe(409);
    expect(page.text).toContain('cannot be edited while it is “Picked”');
    const [line] = await lines(number);
    const [{ version }] = await t.sql(`select version from orders where number = $1`, [number]);
    const post = await staff.post(`/admin/orders/${number}/edit`).type('form').send({ ...form, version: String(version), [`line_${line.id}_quantity`]: '3' });
    expect(post.status).toBe(409);
    expect((await lines(number))[0].quantity).toBe(1);
    const details = await staff.get(`/admin/orders/${number}`);
    expect(details.text).toContain('data-testid="edit-refusal"');
    expect(details.text).not.toContain(`href="/admin/orders/${number}/edit"`);

    const editable = await placedOrder();
    // An order clerk whose role may not edit placed orders (Settings → Staff roles).
    await t.sql(`update users set staff_role = 'order_clerk' where email = 'admin@orderflow.test'`);
    await t.sql(`delete from staff_role_permissions where staff_role = 'order_clerk' and permission = 'order.edit'`);
    try {
      expect((await staff.get(`/admin/orders/${editable}/edit`)).status).toBe(403);
      const token = await csrfToken(staff, `/admin/orders/${editable}`);
      const refused = await staff.post(`/admin/orders/${editable}/edit`).type('form').send({ _csrf: token, version: '1', orderDiscount: '5' });
      expect(refused.status).toBe(403);
      expect(refused.text).toContain('permission to edit orders');
      expect((await staff.get(`/admin/orders/${editable}`)).text).not.toContain(`href="/admin/orders/${editable}/edit"`);
    } finally {
      await t.sql(`update users set staff_role = 'administrator' where email = 'admin@orderflow.test'`);
      await t.sql(`insert into staff_role_permissions (staff_role, permission) values ('order_clerk', 'order.edit')`);
    }
    expect(await orderRow(editable)).toMatchObject({ order_discount_minor: 0 });
  });

  it('two staff saving the same order at once: one is saved, the other gets 409 and overwrites nothing', async () => {
    const number = await placedOrder();
    const colleague = await staffAgent(t);
    const [line] = await lines(number);
    const mine = { ...(await editForm(number)), [`line_${line.id}_quantity`]: '2' };
    const theirs = { ...(await editForm(number, colleague)), [`line_${line.id}_quantity`]: '3', billing_city: 'Odense' };

    const results = await Promise.all([
      staff.post(`/admin/orders/${number}/edit`).type('form').send(mine),
      colleague.post(`/admin/orders/${number}/edit`).type('form').send(theirs),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([303, 409]);
    const loser = results.find((r) => r.status === 409)!;
    expect(loser.text).toContain('changed meanwhile');
    const winnerQuantity = results[0].status === 303 ? 2 : 3;
    expect((await lines(number))[0].quantity).toBe(winnerQuantity);
    expect((await orderRow(number)).billing_city).toBe(winnerQuantity === 3 ? 'Odense' : 'Copenhagen');
    expect(await versionNos(number)).toEqual([1, 2]);

    // A form loaded before someone else's save is refused as well.
    const stale = await staff.post(`/admin/orders/${number}/edit`).type('form').send({ ...mine, [`line_${line.id}_quantity`]: '7' });
    expect(stale.status).toBe(409);
    expect((await lines(number))[0].quantity).toBe(winnerQuantity);
  });

  it('lists versions, shows the order as it was, and compares a version with the current order', async () => {
    const number = await placedOrder();
    expect((await staff.get(`/admin/orders/${number}/versions`)).text).toContain('has not been edited yet');
    const [line] = await lines(number);
    expect((await saveEdit(number, { [`line_${line.id}_quantity`]: 4, note: 'Customer called' })).status).toBe(303);

    const history = await staff.get(`/admin/orders/${number}/versions`);
    expect(history.status).toBe(200);
    expect(history.text).toContain('Version 1');
    expect(history.text).toContain('Version 2');
    expect(history.text).toContain('Ada Admin');
    expect(history.text).toContain('Customer called');

    const v1 = await staff.get(`/admin/orders/${number}/versions/1`);
    expect(v1.status).toBe(200);
    expect(v1.text).toMatch(/data-label="Qty">1 pack</);
    expect(v1.text).toContain('173.75 DKK');
    const v2 = await staff.get(`/admin/orders/${number}/versions/2`);
    expect(v2.text).toMatch(/data-label="Qty">4 pack</);

    const compare = await staff.get(`/admin/orders/${number}/versions/compare?version=1`);
    expect(compare.status).toBe(200);
    const quantityRow = /<tr class="is-changed change-changed">\s*<th scope="row" class="stack-title">Quantity<\/th>([\s\S]*?)<\/tr>/.exec(compare.text);
    expect(quantityRow).not.toBeNull();
    expect(quantityRow![1]).toContain('<del>1 pack</del>');
    expect(quantityRow![1]).toContain('<ins>4 pack</ins>');
    expect(quantityRow![1]).toContain('Changed');
    // Unchanged values are not highlighted.
    expect(compare.text).toMatch(/<tr class="">\s*<th scope="row" class="stack-title">Unit price excl. VAT<\/th>/);
    const onlyChanges = await staff.get(`/admin/orders/${number}/versions/compare?version=1&only=changes`);
    expect(onlyChanges.text).toContain('<del>1 pack</del>');
    expect(onlyChanges.text).not.toContain('Unit price excl. VAT</th>');
    expect(onlyChanges.text).not.toContain('Customer (billing address)</h2>');
    const same = await staff.get(`/admin/orders/${number}/versions/compare?version=2`);
    expect(same.text).toContain('No differences');

    expect((await staff.get(`/admin/orders/${number}/versions/9`)).status).toBe(404);
    expect((await staff.get(`/admin/orders/${number}/versions/abc`)).status).toBe(404);
    expect((await staff.get(`/admin/orders/${number}/versions/compare?version=x`)).status).toBe(404);
    expect((await staff.get(`/admin/orders/ORDER-NOPE/versions`)).status).toBe(404);
    expect((await staff.get(`/admin/orders/ORDER-NOPE/edit`)).status).toBe(404);
    expect((await staff.get(`/admin/orders/bad%20number/edit`)).status).toBe(404);
  });

  it('custom order fields and order line fields: defined, validated by type, saved and shown', async () => {
    const define = (form: Record<string, string>) => postForm(staff, '/admin/settings/order-fields', form, '/admin/settings/order-fields');
    for (const f of [
      { systemName: 'po_number', name: 'PO number', type: 'text', appliesTo: 'order' },
      { systemName: 'weight_kg', name: 'Weight (kg)', type: 'number', appliesTo: 'order' },
      { systemName: 'deliver_on', name: 'Deliver on', type: 'date', appliesTo: 'order' },
      { systemName: 'approver_email', name: 'Approver e-mail', type: 'email', appliesTo: 'order' },
      { systemName: 'gift_wrap', name: 'Gift wrap', type: 'boolean', appliesTo: 'line' },
    ]) expect((await define(f)).status).toBe(303);
    const duplicate = await define({ systemName: 'po_number', name: 'Again', type: 'text', appliesTo: 'order' });
    expect(duplicate.status).toBe(422);
    expect(duplicate.text).toContain('already used');
    expect((await define({ systemName: 'PO Number', name: 'Bad', type: 'text', appliesTo: 'order' })).status).toBe(422);
    expect((await define({ systemName: 'colour', name: 'Colour', type: 'colour', appliesTo: 'order' })).status).toBe(422);
    const settings = await staff.get('/admin/settings/order-fields');
    expect(settings.text).toContain('po_number');
    expect(settings.text).toContain('Gift wrap');

    const number = await placedOrder();
    const [line] = await lines(number);
    const details = await staff.get(`/admin/orders/${number}`);
    expect(details.text).toContain('Additional information');
    const fieldsAction = `/admin/orders/${number}/edit/fields`;
    const base = formFields(details.text, fieldsAction);
    expect(Object.keys(base)).toEqual(expect.arrayContaining(['order_field_po_number', 'order_field_weight_kg', `line_${line.id}_field_gift_wrap`]));

    const post = (changes: Record<string, string>) => staff.post(fieldsAction).type('form').send({ ...base, ...changes });
    const badNumber = await post({ order_field_weight_kg: 'heavy', order_field_po_number: 'PO-typed' });
    expect(badNumber.status).toBe(422);
    // Refused on the page it was tried on: the order's details, the message by the field, everything typed kept.
    expect(badNumber.text).toContain('data-testid="additional-information"');
    expect(badNumber.text).toContain('data-testid="refused-fields"');
    expect(badNumber.text).toContain('Weight (kg) must be a number');
    expect(badNumber.text).toContain('value="heavy"');
    expect(badNumber.text).toContain('value="PO-typed"');
    expect(badNumber.text).not.toContain('Continue shopping');
    const badEmail = await post({ order_field_approver_email: 'boss at example' });
    expect(badEmail.status).toBe(422);
    expect(badEmail.text).toContain('must be an e-mail address');
    const badDate = await post({ order_field_deliver_on: '2026-02-30' });
    expect(badDate.status).toBe(422);
    expect(badDate.text).toContain('must be a date');
    const badYesNo = await post({ [`line_${line.id}_field_gift_wrap`]: 'maybe' });
    expect(badYesNo.status).toBe(422);
    expect((await orderRow(number)).custom_fields).toEqual({});
    expect(await versionNos(number)).toEqual([]);
    // The GET of the form's address leads to the box on the details page.
    const getFields = await staff.get(fieldsAction);
    expect(getFields.status).toBe(303);
    expect(getFields.headers.location).toBe(`/admin/orders/${number}#additional-information`);

    const saved = await post({
      order_field_po_number: 'PO-77 <b>', order_field_weight_kg: '12,5', order_field_deliver_on: '2026-12-24',
      order_field_approver_email: 'boss@example.test', [`line_${line.id}_field_gift_wrap`]: 'yes',
    });
    expect(saved.status).toBe(303);
    expect((await orderRow(number)).custom_fields).toEqual({ po_number: 'PO-77 <b>', weight_kg: '12.5', deliver_on: '2026-12-24', approver_email: 'boss@example.test' });
    expect((await lines(number))[0].custom_fields).toEqual({ gift_wrap: 'yes' });
    expect(await versionNos(number)).toEqual([1, 2]);
    // A form of the version before: refused on the details page showing the values as they are now, not the stale ones.
    const stale = await post({ order_field_po_number: 'PO-stale' });
    expect(stale.status).toBe(409);
    expect(stale.text).toContain('changed meanwhile');
    expect(stale.text).toContain('data-testid="refused-fields"');
    expect(stale.text).toContain('value="PO-77 &lt;b&gt;"');
    expect(stale.text).not.toContain('PO-stale');

    const shown = await staff.get(`/admin/orders/${number}`);
    expect(shown.text).toContain('PO-77 &lt;b&gt;');
    expect(shown.text).not.toContain('PO-77 <b>');
    expect(shown.text).toContain('12.5');

    // The full edit form carries the fields too, and a cleared value is removed.
    const edited = await saveEdit(number, { order_field_weight_kg: '', order_field_po_number: 'PO-78' });
    expect(edited.status).toBe(303);
    expect((await orderRow(number)).custom_fields).toEqual({ po_number: 'PO-78', deliver_on: '2026-12-24', approver_email: 'boss@example.test' });
    const badInEdit = await saveEdit(number, { order_field_deliver_on: 'tomorrow' });
    expect(badInEdit.status).toBe(422);

    // Once the state does not allow editing, the values are shown but not editable.
    await moveTo(number, 'Received', 'Picked');
    const locked = await staff.get(`/admin/orders/${number}`);
    expect(locked.text).toContain('PO-78');
    expect(locked.text).not.toContain(`action="${fieldsAction}"`);
    const late = await staff.post(fieldsAction).type('form').send({ ...base, order_field_po_number: 'late' });
    expect(late.status).toBe(409);
    expect(late.text).toContain('data-testid="refused-fields"');
    expect(late.text).toContain('PO-78');
    expect(late.text).not.toContain('Continue shopping');
  });

  it('saves a change of a line field whatever staff named it, also the name of a computed column ("Amount incl. VAT")', async () => {
    const define = (form: Record<string, string>) => postForm(staff, '/admin/settings/order-fields', form, '/admin/settings/order-fields');
    expect((await define({ systemName: 'amount_note', name: 'Amount incl. VAT', type: 'text', appliesTo: 'line' })).status).toBe(303);
    const number = await placedOrder();
    const [line] = await lines(number);
    const edited = await saveEdit(number, { [`line_${line.id}_field_amount_note`]: 'as agreed by phone' });
    expect(edited.status).toBe(303);
    expect((await lines(number))[0].custom_fields).toMatchObject({ amount_note: 'as agreed by phone' });
    expect(await versionNos(number)).toEqual([1, 2]);
    const [history] = await t.sql(`select h.message from order_state_history h join orders o on o.id = h.order_id
      where o.number = $1 and h.event = 'order_edited'`, [number]);
    expect(history.message).toContain('amount incl. vat — → as agreed by phone');
  });

  it('is for staff only: a shopper gets 403 and a guest is sent to log in', async () => {
    const number = await placedOrder();
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    expect((await shopper.get(`/admin/orders/${number}/edit`)).status).toBe(403);
    expect((await shopper.get(`/admin/orders/${number}/versions`)).status).toBe(403);
    expect((await shopper.get('/admin/settings/order-fields')).status).toBe(403);
    const token = await csrfToken(shopper, '/');
    expect((await shopper.post(`/admin/orders/${number}/edit`).type('form').send({ _csrf: token, version: '1', orderDiscount: '50' })).status).toBe(403);
    expect((await shopper.post('/admin/settings/order-fields').type('form').send({ _csrf: token, systemName: 'x_y', name: 'X', type: 'text', appliesTo: 'order' })).status).toBe(403);
    expect((await orderRow(number)).order_discount_minor).toBe(0);
    const guest = await newAgent(t).get(`/admin/orders/${number}/edit`);
    expect(guest.status).toBe(302);
    expect(guest.headers.location).toContain('/login');
  });
});

describe('edits and the money already taken', () => {
  /** Bought through the real checkout: `items` as [product, quantity]; paid by card unless said otherwise. */
  async function orderOf(items: [string, number][], payment: 'CARD' | 'INVOICE' = 'CARD') {
    const agent = newAgent(t);
    for (const [product, quantity] of items) await addToBasket(t, agent, product, quantity);
    const number = await checkoutToReview(t, agent, { payment });
    expect((await place(agent, number, payment === 'CARD' ? undefined : {})).status).toBe(303);
    return number;
  }
  const desk = (number: string, action: string, form: Record<string, string> = {}) =>
    postForm(staff, `/admin/orders/${number}/${action}`, { confirmed: '1', ...form }, '/admin');
  const refusal = (html: string) => /flash-error" role="alert">([^<]*)/.exec(html)?.[1];
  const inputValue = (html: string, name: string) => new RegExp(`name="${name}"[^>]*value="([^"]*)"`).exec(html)?.[1];

  it('a card order’s total stays within its authorization: a raise above it is refused on the edit page, typed values kept', async () => {
    // 3 × 100.00 + 39.00 shipping, 25 % VAT = 423.75 authorized.
    const number = await orderOf([['P-1010', 3]]);
    const [{ authorized_minor }] = await t.sql(`select authorized_minor::int from orders where number = $1`, [number]);
    expect(authorized_minor).toBe(42375);
    const [line] = await lines(number);

    const above = await saveEdit(number, { [`line_${line.id}_quantity`]: 4, billing_city: 'Vejle' });
    expect(above.status).toBe(422);
    expect(refusal(above.text)).toBe('Nothing was saved: the card authorization covers 423.75 DKK, and the new total would be 548.75 DKK. Lower the total, or have the customer pay the difference another way.');
    expect(above.text).toContain(`action="/admin/orders/${number}/edit"`);
    expect(inputValue(above.text, `line_${line.id}_quantity`)).toBe('4');
    expect(inputValue(above.text, 'billing_city')).toBe('Vejle');
    expect(await orderRow(number)).toMatchObject({ total_minor: 42375, billing_city: 'Copenhagen' });
    expect(await versionNos(number)).toEqual([]);

    // Lower, then back up to the authorization: both within it.
    expect((await saveEdit(number, { [`line_${line.id}_quantity`]: 2 })).status).toBe(303);
    expect((await saveEdit(number, { [`line_${line.id}_quantity`]: 3 })).status).toBe(303);
    expect((await orderRow(number)).total_minor).toBe(42375);

    // An invoice is not captured here: its total may be raised.
    const invoice = await orderOf([['P-1010', 1]], 'INVOICE');
    const [invoiceLine] = await lines(invoice);
    expect((await saveEdit(invoice, { [`line_${invoiceLine.id}_quantity`]: 2 })).status).toBe(303);
  });

  it('“refund first, then edit” works: the total may go down to what was captured and not refunded', async () => {
    const number = await orderOf([['P-1010', 3]]);
    expect((await desk(number, 'capture')).status).toBe(303);
    expect((await desk(number, 'refund', { amount: '100.00' })).status).toBe(303);
    const [line] = await lines(number);

    // 2 units: 298.75, less than the 323.75 still kept.
    const below = await saveEdit(number, { [`line_${line.id}_quantity`]: 2 });
    expect(below.status).toBe(422);
    expect(refusal(below.text)).toBe('Nothing was saved: the new total 298.75 DKK would be less than the 323.75 DKK already captured and not refunded (423.75 DKK captured, 100.00 DKK refunded). Refund first, then edit.');
    expect(inputValue(below.text, `line_${line.id}_quantity`)).toBe('2');

    expect((await desk(number, 'refund', { amount: '30.00' })).status).toBe(303);
    const saved = await saveEdit(number, { [`line_${line.id}_quantity`]: 2 });
    expect(refusal(saved.text) ?? '').toBe('');
    expect(saved.status).toBe(303);
    const [o] = await t.sql(`select total_minor::int as total, captured_minor::int as captured, refunded_minor::int as refunded from orders where number = $1`, [number]);
    expect(o).toEqual({ total: 29875, captured: 42375, refunded: 13000 });
  });

  it('a shipped line cannot go below what was shipped, nor be removed: refused on the edit page, not a 500', async () => {
    const number = await orderOf([['P-1010', 3], ['P-1011', 1]], 'INVOICE');
    const [knife, other] = await lines(number);
    const ship = await postForm(staff, `/admin/orders/${number}/shipments`, { [`qty_${knife.id}`]: '3', [`qty_${other.id}`]: '1' }, '/admin');
    expect(ship.status).toBe(303);
    const [{ name }] = await t.sql(`select product_name as name from order_lines where id = $1`, [knife.id]);

    const lower = await saveEdit(number, { [`line_${knife.id}_quantity`]: 2 });
    expect(lower.status).toBe(422);
    expect(refusal(lower.text)).toBe(`Nothing was saved. Please check: Quantity of ${name} cannot go below the 3 already shipped.`);
    expect(lower.text).toContain(`id="f-line_${knife.id}_quantity-error">Quantity cannot go below the 3 already shipped<`);
    expect(inputValue(lower.text, `line_${knife.id}_quantity`)).toBe('2');

    const removed = await saveEdit(number, { [`line_${knife.id}_remove`]: 'on' });
    expect(removed.status).toBe(422);
    expect(refusal(removed.text)).toBe(`Nothing was saved. Please check: Quantity of ${name} cannot go below the 3 already shipped, so the line cannot be removed.`);
    expect(removed.text).toMatch(new RegExp(`name="line_${knife.id}_remove" value="on" checked`));

    expect((await lines(number)).map((l) => l.quantity)).toEqual([3, 1]);
    expect(await versionNos(number)).toEqual([]);
    // Raising a shipped line is fine.
    expect((await saveEdit(number, { [`line_${knife.id}_quantity`]: 4 })).status).toBe(303);
  });
});
