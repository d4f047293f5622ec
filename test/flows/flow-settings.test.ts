import type TestAgent from 'supertest/lib/agent';
import { DomainError } from '../../src/shared/errors';
import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { csrfToken, login, newAgent, staffAgent, startTestApp, type TestApp, waitFor } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
let staff2: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  await t.sql(`update stock_levels set quantity = 1000 where product_id = (select id from products where number = 'P-1043')`);
  await t.sql(`insert into order_field_definitions (system_name, name, type, applies_to) values ('approver_email', 'Approver e-mail', 'email', 'order')`);
  staff = await staffAgent(t);
  staff2 = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

const S = '/admin/settings';
type Form = Record<string, string | number | string[]>;

/** Posts a settings form as the browser would (repeated names for checked boxes), with the page's CSRF token. */
async function post(path: string, form: Form, agent: TestAgent = staff) {
  const token = await csrfToken(agent, '/');
  return agent.post(path).type('form').send({ ...form, _csrf: token });
}

/** The state form as a browser sends it: unchecked boxes are simply absent. */
const stateForm = (over: Form = {}): Form => ({
  name: '', description: '', color: '#6b7280', allowOrder: 'on', mailSubject: '', mailSenderName: '', mailSenderEmail: '',
  customRecipientField: '', mailTemplate: '', othersRecipients: '', othersTemplate: '', ...over,
});

const flowId = async (type: string, name: string) => (await t.sql('select id from flows where type = $1 and name = $2', [type, name]))[0]?.id as number;
const stateRow = async (flow: number, name: string) => (await t.sql('select * from flow_states where flow_id = $1 and name = $2', [flow, name]))[0];
const stateId = async (flow: number, name: string) => (await stateRow(flow, name)).id as number;
const defaults = async (type: string) => t.sql<{ name: string }>('select name from flows where type = $1 and is_default order by id', [type]);
const rulesOf = async (from: number) => (await t.sql<{ to_state_id: number }>('select to_state_id from flow_state_rules where from_state_id = $1 order by to_state_id', [from])).map((r) => r.to_state_id);

async function createState(flow: number, over: Form): Promise<number> {
  const res = await post(`${S}/flows/${flow}/states`, stateForm(over));
  expect(res.status).toBe(303);
  return stateId(flow, String(over.name));
}

async function placedOrder(): Promise<{ id: number; number: string }> {
  const agent = newAgent(t);
  await addToBasket(t, agent, 'P-1043');
  const number = await checkoutToReview(t, agent);
  expect((await place(agent, number)).status).toBe(303);
  const [row] = await t.sql('select id from orders where number = $1', [number]);
  return { id: Number(row.id), number };
}

const staffActor = { userId: null, kind: 'staff' as const, source: 'backend' as const };
const move = (orderId: number, toStateId: number, allowFlowSwitch = false) =>
  t.services.flows.changeState({ orderId, toStateId, actor: staffActor, allowFlowSwitch }, t.orm.em.fork());
const refusal = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => (e instanceof DomainError ? e : Promise.reject(e)));

describe('flow settings for staff', () => {
  let express: number;
  let packed: number;
  let sent: number;
  let delivered: number;

  it('previews a template with a built-in sample order while the shop has no orders yet', async () => {
    expect(await t.sql(`select 1 from orders where type = 'order'`)).toEqual([]);
    const res = await staff.get(`${S}/templates/preview?template=${encodeURIComponent('mail/flow/state-changed.njk')}`).expect(200);
    expect(res.text).toContain('a built-in sample order');
    expect(res.text).toContain('Your order ORDER1234 is now Shipped');
  });

  it('creates a flow and its states; the list groups flows by type with their colour badges', async () => {
    const list = await staff.get(`${S}/flows`).expect(200);
    for (const heading of ['Cart flows', 'Order flows', 'Quote flows', 'Return flows']) expect(list.text).toContain(heading);
    expect((await staff.get(`${S}/flows/new?type=order`)).status).toBe(200);

    const created = await post(`${S}/flows`, { type: 'order', name: 'Express order flow', description: 'Same-day delivery.' });
    expect(created.status).toBe(303);
    express = await flowId('order', 'Express order flow');
    expect(created.headers.location).toBe(`${S}/flows/${express}`);
    expect((await t.sql('select type, description, is_default from flows where id = $1', [express]))[0]).toEqual({ type: 'order', description: 'Same-day delivery.', is_default: false });

    packed = await createState(express, { name: 'Packed', color: '#FF8800' });
    sent = await createState(express, { name: 'Sent', color: '#2563eb' });
    delivered = await createState(express, { name: 'Delivered', color: '#059669', excludeFromStatistics: 'on', allowEdit: 'on' });
    const rows = await t.sql('select name, color, is_default, sort_order, exclude_from_statistics, allow_edit, allow_order from flow_states where flow_id = $1 order by sort_order', [express]);
    expect(rows).toEqual([
      { name: 'Packed', color: '#ff8800', is_default: true, sort_order: 0, exclude_from_statistics: false, allow_edit: false, allow_order: true },
      { name: 'Sent', color: '#2563eb', is_default: false, sort_order: 1, exclude_from_statistics: false, allow_edit: false, allow_order: true },
      { name: 'Delivered', color: '#059669', is_default: false, sort_order: 2, exclude_from_statistics: true, allow_edit: true, allow_order: true },
    ]);

    const again = await staff.get(`${S}/flows`).expect(200);
    expect(again.text).toContain('Express order flow');
    expect(again.text).toContain('style="--state-color: #ff8800">Packed</span>');
    // A second flow with the same name and type is refused at the name field.
    const dup = await post(`${S}/flows`, { type: 'order', name: 'express order flow' });
    expect(dup.status).toBe(422);
    expect(dup.text).toContain('Name is already used by another order flow');
  });

  it('keeps exactly one default state per flow: making another the default moves it in one go', async () => {
    const res = await post(`${S}/flows/${express}/states/${sent}`, stateForm({ name: 'Sent', color: '#2563eb', isDefault: 'on' }));
    expect(res.status).toBe(303);
    expect((await t.sql('select name from flow_states where flow_id = $1 and is_default', [express])).map((r) => r.name)).toEqual(['Sent']);

    // Unchecking the only default is refused with the reason; it stays the default.
    const off = await post(`${S}/flows/${express}/states/${sent}`, stateForm({ name: 'Sent', color: '#2563eb' }));
    expect(off.status).toBe(409);
    expect(off.text).toContain('there must always be one');
    expect((await stateRow(express, 'Sent')).is_default).toBe(true);

    // Back to Packed for the rest of the story.
    expect((await post(`${S}/flows/${express}/states/${packed}`, stateForm({ name: 'Packed', color: '#ff8800', isDefault: 'on' }))).status).toBe(303);
    expect((await t.sql('select name from flow_states where flow_id = $1 and is_default', [express])).map((r) => r.name)).toEqual(['Packed']);
  });

  it('keeps exactly one default flow per type: switching moves it, un-defaulting the only one is refused', async () => {
    const empty = await post(`${S}/flows`, { type: 'order', name: 'Empty flow' });
    expect(empty.status).toBe(303);
    const emptyId = await flowId('order', 'Empty flow');
    const notReady = await post(`${S}/flows/${emptyId}`, { name: 'Empty flow', description: '', isDefault: 'on' });
    expect(notReady.status).toBe(409);
    expect(notReady.text).toContain('has no default state yet');

    const res = await post(`${S}/flows/${express}`, { name: 'Express order flow', description: 'Same-day delivery.', isDefault: 'on' });
    expect(res.status).toBe(303);
    expect(await defaults('order')).toEqual([{ name: 'Express order flow' }]);
    expect(await defaults('cart')).toEqual([{ name: 'Standard cart' }]);

    const off = await post(`${S}/flows/${express}`, { name: 'Express order flow', description: 'Same-day delivery.' });
    expect(off.status).toBe(409);
    expect(off.text).toContain('make another order flow the default');
    expect(await defaults('order')).toEqual([{ name: 'Express order flow' }]);

    const standard = await flowId('order', 'Standard order flow');
    expect((await post(`${S}/flows/${standard}`, { name: 'Standard order flow', description: 'From a placed order to delivery.', isDefault: 'on' })).status).toBe(303);
    expect(await defaults('order')).toEqual([{ name: 'Standard order flow' }]);
    const [{ n }] = await t.sql(`select count(*)::int as n from flows where type = 'order' and is_default`);
    expect(n).toBe(1);
  });

  it('keeps one default flow when two staff make different flows the default at the same moment', async () => {
    const standard = await flowId('order', 'Standard order flow');
    const results = await Promise.all([
      post(`${S}/flows/${express}`, { name: 'Express order flow', description: 'Same-day delivery.', isDefault: 'on' }),
      post(`${S}/flows/${standard}`, { name: 'Standard order flow', description: 'From a placed order to delivery.', isDefault: 'on' }, staff2),
    ]);
    expect(results.map((r) => r.status)).toEqual([303, 303]);
    expect(await defaults('order')).toHaveLength(1);
    // Leave the standard flow as the default for the rest of the story.
    expect((await post(`${S}/flows/${standard}`, { name: 'Standard order flow', description: 'From a placed order to delivery.', isDefault: 'on' })).status).toBe(303);
    expect(await defaults('order')).toEqual([{ name: 'Standard order flow' }]);
  });

  it('reorders states with Move up and Move down', async () => {
    const order = async () => (await t.sql('select name from flow_states where flow_id = $1 order by sort_order, id', [express])).map((r) => r.name);
    expect((await post(`${S}/flows/${express}/states/${delivered}/move`, { direction: 'up' })).status).toBe(303);
    expect(await order()).toEqual(['Packed', 'Delivered', 'Sent']);
    expect((await post(`${S}/flows/${express}/states/${packed}/move`, { direction: 'down' })).status).toBe(303);
    expect(await order()).toEqual(['Delivered', 'Packed', 'Sent']);
    // Already first: nothing changes.
    await post(`${S}/flows/${express}/states/${delivered}/move`, { direction: 'up' });
    expect(await order()).toEqual(['Delivered', 'Packed', 'Sent']);
    const page = await staff.get(`${S}/flows/${express}`).expect(200);
    expect(page.text.indexOf('>Delivered<')).toBeLessThan(page.text.indexOf('>Packed<'));
    expect(page.text).toContain('Move up');
    expect((await post(`${S}/flows/${express}/states/${packed}/move`, { direction: 'sideways' })).status).toBe(422);
  });

  it('saves "May move to" from the checkboxes, and changeState enforces them', async () => {
    const editor = await staff.get(`${S}/flows/${express}/states/${packed}`).expect(200);
    expect(editor.text).toContain('No boxes checked = may move to any state of its flow');
    const standard = await flowId('order', 'Standard order flow');
    const shipped = await stateId(standard, 'Shipped');
    const cartOpen = await stateId(await flowId('cart', 'Standard cart'), 'Open');
    // Other order flows' states are offered; the state itself and cart states are not.
    expect(editor.text).toContain(`value="${shipped}"`);
    expect(editor.text).not.toContain(`id="rule-${packed}"`);
    expect(editor.text).not.toContain(`value="${cartOpen}"`);

    const res = await post(`${S}/flows/${express}/states/${packed}`, stateForm({ name: 'Packed', color: '#ff8800', isDefault: 'on', mayMoveTo: [String(delivered)] }));
    expect(res.status).toBe(303);
    expect(await rulesOf(packed)).toEqual([delivered]);
    expect((await staff.get(`${S}/flows/${express}/states/${packed}`)).text).toContain(`value="${delivered}" checked`);

    const order = await placedOrder();
    await move(order.id, packed, true); // staff may move an order into another flow of its type
    const refused = await refusal(move(order.id, sent));
    expect(refused?.code).toBe('TRANSITION_NOT_ALLOWED');
    expect(refused?.message).toContain('cannot move from “Packed” to “Sent”');
    expect((await t.sql('select state_id from orders where id = $1', [order.id]))[0].state_id).toBe(packed);

    // A state of a cart flow (another type) is refused and nothing is saved.
    const wrong = await post(`${S}/flows/${express}/states/${packed}`, stateForm({ name: 'Packed', color: '#ff8800', isDefault: 'on', mayMoveTo: [String(sent), String(cartOpen)] }));
    expect(wrong.status).toBe(422);
    expect(wrong.text).toContain('May move to can only list other, non-deleted states of order flows');
    expect(await rulesOf(packed)).toEqual([delivered]);

    // Unchecking every box removes the rules: any state of the flow again.
    expect((await post(`${S}/flows/${express}/states/${packed}`, stateForm({ name: 'Packed', color: '#ff8800', isDefault: 'on' }))).status).toBe(303);
    expect(await rulesOf(packed)).toEqual([]);
    expect((await post(`${S}/flows/${express}/states/${packed}`, stateForm({ name: 'Packed', color: '#ff8800', isDefault: 'on', mayMoveTo: [String(delivered), String(sent)] }))).status).toBe(303);
    expect(await rulesOf(packed)).toEqual([sent, delivered].sort((a, b) => a - b));
  });

  it('saves the notification settings, and entering the state queues and sends the mail', async () => {
    const res = await post(`${S}/flows/${express}/states/${delivered}`, stateForm({
      name: 'Delivered', color: '#059669', excludeFromStatistics: 'on', allowEdit: 'on',
      mailSubject: 'Shipped {OrderID}', mailSenderName: 'Express Desk', mailSenderEmail: 'desk@orderflow.test',
      sendToBillingEmail: 'on', sendToField: 'on', customRecipientField: 'approver_email', mailTemplate: 'mail/flow/order-shipped.njk',
      othersRecipients: 'ops@orderflow.test,\nboss@orderflow.test', othersTemplate: 'mail/flow/staff-notice.njk',
    }));
    expect(res.status).toBe(303);
    expect(await stateRow(express, 'Delivered')).toMatchObject({
      mail_subject: 'Shipped {OrderID}', mail_sender_name: 'Express Desk', mail_sender_email: 'desk@orderflow.test',
      send_to_billing_email: true, send_to_delivery_email: false, send_to_field: true, custom_recipient_field: 'approver_email',
      mail_template: 'mail/flow/order-shipped.njk', others_recipients: 'ops@orderflow.test\nboss@orderflow.test', others_template: 'mail/flow/staff-notice.njk',
    });
    const editor = await staff.get(`${S}/flows/${express}/states/${delivered}`).expect(200);
    expect(editor.text).toContain('{OrderID}');
    expect(editor.text).toContain('<option value="mail/flow/order-shipped.njk" selected>');

    const order = await placedOrder();
    await t.sql(`update orders set custom_fields = '{"approver_email": "approver@example.test"}' where id = $1`, [order.id]);
    await move(order.id, packed, true);
    await move(order.id, delivered);
    const queued = await t.sql('select to_address, subject, from_address from outbox_messages where order_id = $1 and subject like $2 order by to_address', [order.id, 'Shipped %']);
    expect(queued.map((m) => m.to_address)).toEqual(['approver@example.test', 'boss@orderflow.test', 'kim@example.test', 'ops@orderflow.test']);
    expect(queued.every((m) => m.subject === `Shipped ${order.number}`)).toBe(true);
    expect(queued[0].from_address).toBe('"Express Desk" <desk@orderflow.test>');

    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Shipped ${order.number}` && String(m.to).includes('kim@example.test')));
    expect(mail.text).toContain('is on its way');
  });

  it('refuses a bad colour or a bad e-mail in "Send to others" with 422, shows what was typed and saves nothing', async () => {
    const before = await stateRow(express, 'Sent');
    const badColour = await post(`${S}/flows/${express}/states/${sent}`, stateForm({ name: 'Sent renamed', color: 'red' }));
    expect(badColour.status).toBe(422);
    expect(badColour.text).toContain('Colour must be # and six hex digits');
    expect(badColour.text).toContain('value="Sent renamed"');

    const badMail = await post(`${S}/flows/${express}/states/${sent}`, stateForm({ name: 'Sent renamed', color: '#2563eb', othersRecipients: 'ok@orderflow.test, not-an-email' }));
    expect(badMail.status).toBe(422);
    expect(badMail.text).toContain('Other recipients contains “not-an-email”, which is not an e-mail address');
    expect(badMail.text).toContain('ok@orderflow.test, not-an-email</textarea>');

    const badSender = await post(`${S}/flows/${express}/states/${sent}`, stateForm({ name: 'Sent', color: '#2563eb', mailSenderEmail: 'desk@', sendToField: 'on' }));
    expect(badSender.status).toBe(422);
    expect(badSender.text).toContain('Sender e-mail must be an e-mail address');

    const badTemplate = await post(`${S}/flows/${express}/states/${sent}`, stateForm({ name: 'Sent', color: '#2563eb', mailTemplate: '../../../package.json' }));
    expect(badTemplate.status).toBe(422);
    expect(await stateRow(express, 'Sent')).toEqual(before);

    const newBad = await post(`${S}/flows/${express}/states`, stateForm({ name: 'Lost', color: '#12345' }));
    expect(newBad.status).toBe(422);
    expect(await stateRow(express, 'Lost')).toBeUndefined();
  });

  it('soft-deletes a state: it stays in history and on the page, but changeState refuses to enter it', async () => {
    const order = await placedOrder();
    await move(order.id, packed, true);
    await move(order.id, sent);
    await move(order.id, delivered, true);

    const res = await post(`${S}/flows/${express}/states/${sent}/delete`, {});
    expect(res.status).toBe(303);
    expect((await stateRow(express, 'Sent')).deleted).toBe(true);
    expect((await t.sql('select count(*)::int as n from order_state_history where to_state_id = $1', [sent]))[0].n).toBeGreaterThan(0);

    const refused = await refusal(move(order.id, sent, true));
    expect(refused?.code).toBe('TRANSITION_NOT_ALLOWED');
    expect(refused?.message).toContain('has been deleted and can no longer be entered');

    const page = await staff.get(`${S}/flows/${express}`).expect(200);
    expect(page.text).toContain('Restore');
    // Packed still has its rule to Sent, so the editor shows it (checked, marked deleted) rather than hiding a rule in force.
    const editor = await staff.get(`${S}/flows/${express}/states/${packed}`).expect(200);
    expect(editor.text).toContain(`value="${sent}" checked`);
    // Another flow's editor does not offer the deleted state.
    const standard = await flowId('order', 'Standard order flow');
    expect((await staff.get(`${S}/flows/${standard}/states/${await stateId(standard, 'New')}`)).text).not.toContain(`value="${sent}"`);

    // The default state cannot be deleted.
    const def = await post(`${S}/flows/${express}/states/${packed}/delete`, {});
    expect(def.status).toBe(409);
    expect(def.text).toContain('is the default state');
    expect((await stateRow(express, 'Packed')).deleted).toBe(false);

    expect((await post(`${S}/flows/${express}/states/${sent}/restore`, {})).status).toBe(303);
    expect((await stateRow(express, 'Sent')).deleted).toBe(false);
  });

  it('refuses to delete a flow in use (409) and deletes an unused one with its states and rules', async () => {
    const inUse = await post(`${S}/flows/${express}/delete`, {});
    expect(inUse.status).toBe(409);
    expect(inUse.text).toContain('is in use and cannot be deleted');
    expect(await flowId('order', 'Express order flow')).toBe(express);

    const standard = await flowId('order', 'Standard order flow');
    const isDefault = await post(`${S}/flows/${standard}/delete`, {});
    expect(isDefault.status).toBe(409);
    expect(isDefault.text).toContain('is the default order flow and cannot be deleted');

    expect((await post(`${S}/flows`, { type: 'return', name: 'Temporary returns' })).status).toBe(303);
    const temp = await flowId('return', 'Temporary returns');
    const a = await createState(temp, { name: 'A', color: '#111111' });
    await createState(temp, { name: 'B', color: '#222222', mayMoveTo: [String(a)] });
    const gone = await post(`${S}/flows/${temp}/delete`, {});
    expect(gone.status).toBe(303);
    expect(gone.headers.location).toBe(`${S}/flows`);
    expect(await t.sql('select 1 from flows where id = $1', [temp])).toEqual([]);
    expect(await t.sql('select 1 from flow_states where flow_id = $1', [temp])).toEqual([]);
    expect(await t.sql('select 1 from flow_state_rules where to_state_id = $1', [a])).toEqual([]);
  });

  it('previews a mail template with a sample order and accepts only the listed templates', async () => {
    const res = await staff.get(`${S}/templates/preview?template=${encodeURIComponent('mail/flow/order-shipped.njk')}&stateId=${delivered}`).expect(200);
    expect(res.text).toContain('<iframe');
    expect(res.text).toContain('is on its way');
    expect(res.text).toMatch(/data-testid="preview-subject">Shipped ORDER\d+</);
    expect((await staff.get(`${S}/templates/preview`)).status).toBe(200);
    for (const bad of ['../../etc/passwd', 'mail/flow/../../../package.json', 'mail/flow/_layout.njk', 'mail/receipt.njk', '/etc/passwd']) {
      const refused = await staff.get(`${S}/templates/preview?template=${encodeURIComponent(bad)}`);
      expect(refused.status).toBe(404);
      expect(refused.text).not.toContain('root:');
    }
  });

  it('answers unknown ids with 404, never a 500', async () => {
    for (const path of [`${S}/flows/999999`, `${S}/flows/abc`, `${S}/flows/${express}/states/999999`, `${S}/flows/999999/states/new`, `${S}/flows/${express}/states/${await stateId(await flowId('cart', 'Standard cart'), 'Open')}`]) {
      expect((await staff.get(path)).status).toBe(404);
    }
    expect((await post(`${S}/flows/999999`, { name: 'X' })).status).toBe(404);
    expect((await post(`${S}/flows/${express}/states/999999`, stateForm({ name: 'X' }))).status).toBe(404);
    expect((await post(`${S}/flows/${express}/states/999999/move`, { direction: 'up' })).status).toBe(404);
    expect((await post(`${S}/flows/999999/delete`, {})).status).toBe(404);
    expect((await staff.get(`${S}/templates/preview?template=mail/flow/state-changed.njk&stateId=999999`)).status).toBe(404);
  });

  it('keeps every settings page for staff: a shopper gets 403, a guest is sent to log in', async () => {
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    const gets = [`${S}`, `${S}/flows`, `${S}/flows/new`, `${S}/flows/${express}`, `${S}/flows/${express}/states/new`,
      `${S}/flows/${express}/states/${packed}`, `${S}/templates/preview?template=mail/flow/state-changed.njk`];
    for (const path of gets) expect((await shopper.get(path)).status).toBe(403);
    const posts: [string, Form][] = [
      [`${S}/flows`, { type: 'order', name: 'Sneaky' }], [`${S}/flows/${express}`, { name: 'Sneaky', isDefault: 'on' }], [`${S}/flows/${express}/delete`, {}],
      [`${S}/flows/${express}/states`, stateForm({ name: 'Sneaky' })], [`${S}/flows/${express}/states/${packed}`, stateForm({ name: 'Sneaky' })],
      [`${S}/flows/${express}/states/${packed}/move`, { direction: 'down' }], [`${S}/flows/${express}/states/${sent}/delete`, {}],
      [`${S}/flows/${express}/states/${sent}/restore`, {}],
    ];
    for (const [path, form] of posts) expect((await post(path, form, shopper)).status).toBe(403);
    expect(await t.sql(`select 1 from flows where name = 'Sneaky' union all select 1 from flow_states where name = 'Sneaky'`)).toEqual([]);
    const guest = await newAgent(t).get(`${S}/flows`);
    expect(guest.status).toBe(302);
    expect(guest.headers.location).toBe('/login?next=%2Fadmin%2Fsettings%2Fflows');
  });
});
