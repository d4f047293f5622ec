import { placeGuestOrder } from '../helpers/shopping';
import { csrfToken, postForm, staffAgent, startTestApp, type TestApp, waitFor } from '../helpers/test-app';
import type TestAgent from 'supertest/lib/agent';

let t: TestApp;
let staff: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

const placedOrder = () => placeGuestOrder(t, 'P-1042');
const stateId = async (flow: string, name: string) =>
  (await t.sql('select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = $1 and s.name = $2', [flow, name]))[0].id as number;
const stateOf = async (number: string) =>
  (await t.sql('select s.name, o.version from orders o join flow_states s on s.id = o.state_id where o.number = $1', [number]))[0];
const version = async (number: string) => (await stateOf(number)).version as number;

describe('order states changed by staff', () => {
  it('places new orders in the default state of the default order flow', async () => {
    const number = await placedOrder();
    expect((await stateOf(number)).name).toBe('New');
    const page = await staff.get(`/admin/orders/${number}`).expect(200);
    expect(page.text).toContain('state-badge');
    expect(page.text).toMatch(/converted|placed/);
  });

  it('moves an order along the rules from the details page and records who, from, to and source', async () => {
    const number = await placedOrder();
    const res = await postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Received'), version: await version(number) }, `/admin/orders/${number}`);
    expect(res.status).toBe(303);
    expect((await stateOf(number)).name).toBe('Received');
    const [h] = await t.sql(`select f.name as from_name, s.name as to_name, h.actor_kind, h.source, u.email
      from order_state_history h join orders o on o.id = h.order_id left join flow_states f on f.id = h.from_state_id join flow_states s on s.id = h.to_state_id
      join users u on u.id = h.actor_user_id where o.number = $1 and h.event = 'state_changed'`, [number]);
    expect(h).toEqual({ from_name: 'New', to_name: 'Received', actor_kind: 'staff', source: 'backend', email: 'admin@orderflow.test' });
    const page = await staff.get(`/admin/orders/${number}`);
    expect(page.text).toMatch(/New → <strong>Received<\/strong>/);
  });

  it('refuses a move the rules do not allow, with the reason, and changes nothing', async () => {
    const number = await placedOrder();
    const res = await postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Completed'), version: await version(number) }, `/admin/orders/${number}`);
    expect(res.status).toBe(409);
    expect(res.text).toContain('cannot move from “New” to “Completed”: that transition is not allowed.');
    expect((await stateOf(number)).name).toBe('New');
    expect(await t.sql(`select 1 from order_state_history h join orders o on o.id = h.order_id where o.number = $1 and h.event = 'state_changed'`, [number])).toEqual([]);
  });

  it('mails the customer exactly once when the order enters Shipped', async () => {
    const number = await placedOrder();
    for (const name of ['Received', 'Picked', 'Shipped']) {
      const res = await postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('Standard order flow', name), version: await version(number) }, `/admin/orders/${number}`);
      expect(res.status).toBe(303);
    }
    const queued = await t.sql(`select to_address, subject from outbox_messages where subject like $1`, [`%${number}%shipped%`]);
    expect(queued).toEqual([{ to_address: 'kim@example.test', subject: `Your order ${number} has been shipped` }]);
    await t.worker.sendDue();
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Your order ${number} has been shipped`));
    expect(mail.text).toContain('on its way');
    expect(t.mails.filter((m) => m.subject === mail.subject)).toHaveLength(1);
  });

  it('tells the second of two staff saving the same order that it changed meanwhile (optimistic locking)', async () => {
    const number = await placedOrder();
    const other = await staffAgent(t);
    const seen = await version(number);
    const [a, b] = [await csrfToken(staff, `/admin/orders/${number}`), await csrfToken(other, `/admin/orders/${number}`)];
    const received = await stateId('Standard order flow', 'Received');
    const cancelled = await stateId('Standard order flow', 'Cancelled');
    const [first, second] = await Promise.all([
      staff.post(`/admin/orders/${number}/state`).type('form').send({ _csrf: a, stateId: received, version: seen }),
      other.post(`/admin/orders/${number}/state`).type('form').send({ _csrf: b, stateId: cancelled, version: seen }),
    ]);
    const statuses = [first.status, second.status].sort();
    expect(statuses).toEqual([303, 409]);
    const loser = first.status === 409 ? first : second;
    expect(loser.text).toContain('was changed by someone else meanwhile');
    const winner = first.status === 303 ? 'Received' : 'Cancelled';
    expect((await stateOf(number)).name).toBe(winner);
    const [{ n }] = await t.sql(`select count(*)::int as n from order_state_history h join orders o on o.id = h.order_id where o.number = $1 and h.event = 'state_changed'`, [number]);
    expect(n).toBe(1);
  });

  it('tells staff whose page was opened before a colleague made the order final why, and shows the note not saved', async () => {
    const number = await placedOrder();
    const other = await staffAgent(t);
    const seen = await version(number);
    const token = await csrfToken(staff, `/admin/orders/${number}`);
    expect((await postForm(other, `/admin/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Cancelled'), version: seen }, `/admin/orders/${number}`)).status).toBe(303);
    const late = await staff.post(`/admin/orders/${number}/state`).type('form')
      .send({ _csrf: token, stateId: await stateId('Standard order flow', 'Received'), version: seen, message: 'Packed by Kim' });
    expect(late.status).toBe(409);
    expect(late.text).toMatch(/data-testid="refused-state">[^<]*was changed by someone else meanwhile\. Look at it as it is now, then try again\. Your note was not saved: “Packed by Kim”\./);
    expect(late.text).toContain('Reopen'); // the page as it is now: a final order, with its way on
    expect((await stateOf(number)).name).toBe('Cancelled');
  });

  it('bulk change: says per order moved or refused and why; refusals leave those orders untouched', async () => {
    const [a, b, c] = [await placedOrder(), await placedOrder(), await placedOrder()];
    await t.services.flows.changeState({ orderId: (await t.sql('select id from orders where number = $1', [c]))[0].id, toStateId: await stateId('Standard order flow', 'Received'), actor: { userId: null, kind: 'system', source: 'system' } });
    await t.services.flows.changeState({ orderId: (await t.sql('select id from orders where number = $1', [c]))[0].id, toStateId: await stateId('Standard order flow', 'Picked'), actor: { userId: null, kind: 'system', source: 'system' } });
    const token = await csrfToken(staff, '/admin/orders');
    const res = await staff.post('/admin/orders/bulk-state').type('form')
      .send(`_csrf=${encodeURIComponent(token)}&numbers=${a}&numbers=${b}&numbers=${c}&stateId=${await stateId('Standard order flow', 'Received')}`);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/data-testid="bulk-summary"><strong>\d+ of \d+ moved<\/strong>, \d+ refused \(the reason is by each\) · <time datetime="\d{4}-\d\d-\d\d \d\d:\d\d">/);
    expect(res.text).toMatch(new RegExp(`data-testid="bulk-${a}">.*Moved`, 's'));
    expect(res.text).toMatch(new RegExp(`data-testid="bulk-${c}"><td>.*?</td><td class="stock-out">Refused</td><td>${c} cannot move from “Picked” to “Received”`, 's'));
    expect((await stateOf(a)).name).toBe('Received');
    expect((await stateOf(b)).name).toBe('Received');
    expect((await stateOf(c)).name).toBe('Picked');
    const [h] = await t.sql(`select source from order_state_history h join orders o on o.id = h.order_id where o.number = $1 and h.event = 'state_changed'`, [a]);
    expect(h.source).toBe('bulk');
  });

  it('lets staff move an order into another order flow, but never into a deleted state or a state of another flow type', async () => {
    const number = await placedOrder();
    const [flow] = await t.sql(`insert into flows (type, name) values ('order', 'Pick-up in store') returning id`);
    const [ready] = await t.sql(`insert into flow_states (flow_id, name, is_default) values ($1, 'Ready for pick-up', true) returning id`, [flow.id]);
    const [gone] = await t.sql(`insert into flow_states (flow_id, name, deleted) values ($1, 'Old state', true) returning id`, [flow.id]);

    const toGone = await postForm(staff, `/admin/orders/${number}/state`, { stateId: gone.id, version: await version(number) }, `/admin/orders/${number}`);
    expect(toGone.status).toBe(409);
    expect(toGone.text).toContain('has been deleted');
    const toCartState = await postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('B2B cart approval', 'Approved'), version: await version(number) }, `/admin/orders/${number}`);
    expect(toCartState.status).toBe(409);
    expect(toCartState.text).toContain('belongs to a cart flow; ' + number + ' is an order.');

    const moved = await postForm(staff, `/admin/orders/${number}/state`, { stateId: ready.id, version: await version(number) }, `/admin/orders/${number}`);
    expect(moved.status).toBe(303);
    expect((await stateOf(number)).name).toBe('Ready for pick-up');
  });
});

describe('a message to the customer with a state change', () => {
  it('goes into the history and into the notification e-mail, escaped', async () => {
    const number = await placedOrder();
    for (const name of ['Received', 'Picked']) {
      await postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('Standard order flow', name), version: await version(number) }, `/admin/orders/${number}`);
    }
    const res = await postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Shipped'), version: await version(number), message: 'Packed with care <3' }, `/admin/orders/${number}`);
    expect(res.status).toBe(303);
    const [h] = await t.sql(`select h.message from order_state_history h join orders o on o.id = h.order_id join flow_states s on s.id = h.to_state_id where o.number = $1 and s.name = 'Shipped'`, [number]);
    expect(h.message).toBe('Packed with care <3');
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Your order ${number} has been shipped`));
    expect(mail.html).toContain('Packed with care &lt;3');
  });
});
