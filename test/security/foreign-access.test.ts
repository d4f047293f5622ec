import type TestAgent from 'supertest/lib/agent';
import { addToBasket } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';
import { type Customer, dropBasket, fileReturn, methodIds, offerQuote, placeOrder, registerCustomer, requestQuote, shipOrder, topUp } from './security-helpers';

/**
 * Every customer-facing URL that takes an id answers 404 for a record of another customer (exactly like a
 * missing one), and changes nothing. Each URL is first opened by its owner, so a 404 means "not yours", not "wrong URL".
 */
let t: TestApp;
let staff: TestAgent;
let owner: Customer;
/** Another shopper, and a B2B buyer of another company (Acme): neither may reach the owner's records. */
let strangers: { label: string; agent: TestAgent; userId: number }[];

/** What the owner has: one of each kind of record. */
const own = { order: '', shipped: '', invoiceOrder: '', quote: '', cart: '', rma: '', seriesId: 0, basketLineId: 0 };

beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
  owner = await registerCustomer(t, 'Olga Owner');
  own.order = await placeOrder(t, owner.agent, 'P-1020');
  own.shipped = await placeOrder(t, owner.agent, 'P-1021');
  await shipOrder(t, staff, own.shipped);
  own.rma = await fileReturn(t, owner.agent, own.shipped, 'owner return');
  own.invoiceOrder = await placeOrder(t, owner.agent, 'P-1022', { payment: 'INVOICE' });
  const series = await postForm(owner.agent, '/customer-center/recurring',
    { orderNumber: own.invoiceOrder, intervalCount: 1, intervalUnit: 'month', ends: 'never' }, `/customer-center/recurring/new?order=${own.invoiceOrder}`);
  expect(series.status).toBe(303);
  own.seriesId = Number(/\/customer-center\/recurring\/(\d+)/.exec(series.headers.location)![1]);
  own.quote = await requestQuote(t, owner, 'P-1023');
  await offerQuote(staff, own.quote);
  expect((await postForm(owner.agent, '/customer-center/carts', { name: 'Olga saved list' }, '/customer-center?CC=Carts')).status).toBe(303);
  [{ number: own.cart }] = await t.sql(`select number from orders where user_id = $1 and type = 'cart' and name = 'Olga saved list'`, [owner.userId]);
  await dropBasket(t, owner.userId);
  await topUp(t, 'P-1024');
  await addToBasket(t, owner.agent, 'P-1024', 3);
  [{ id: own.basketLineId }] = await t.sql(`select l.id from order_lines l join orders o on o.id = l.order_id where o.user_id = $1 and o.basket_status = 'basket'`, [owner.userId]);

  const other = await registerCustomer(t, 'Sly Stranger');
  const buyer = newAgent(t);
  await login(buyer, 'buyer1@acme.test', 'buyer-pass-1');
  const [b] = await t.sql(`select id from users where email = 'buyer1@acme.test'`);
  strangers = [{ label: 'another shopper', agent: other.agent, userId: other.userId }, { label: 'a buyer of another company', agent: buyer, userId: b.id }];
  // Each stranger has a basket of their own, so a foreign line id is looked for in a real basket.
  for (const s of strangers) {
    await topUp(t, 'P-1025');
    await addToBasket(t, s.agent, 'P-1025', 1);
  }
}, 120_000);
afterAll(async () => { await t.close(); });

async function snapshot() {
  const orders = await t.sql(`select number, type, name, deleted, basket_status, user_id, state_id, completed, quote_answer, total_minor from orders where user_id = $1 order by id`, [owner.userId]);
  const lines = await t.sql(`select l.id, l.quantity from order_lines l join orders o on o.id = l.order_id where o.user_id = $1 order by l.id`, [owner.userId]);
  const returns = await t.sql(`select count(*)::int as n from returns`);
  const series = await t.sql(`select id, status, next_due_at from recurring_series order by id`);
  const strangerOrders = await t.sql(`select count(*)::int as n, coalesce(sum((select count(*) from order_lines l where l.order_id = o.id)), 0)::int as lines from orders o where user_id = any($1)`, [strangers.map((s) => s.userId)]);
  return JSON.stringify({ orders, lines, returns, series, strangerOrders });
}

async function stateId(flowType: string, stateName: string): Promise<number> {
  const [s] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = $1 and f.is_default and s.name = $2`, [flowType, stateName]);
  if (!s) throw new Error(`no ${flowType} state ${stateName}`);
  return s.id;
}

const GET_URLS = () => [
  `/customer-center/orders/${own.order}`,
  `/customer-center/orders/${own.order}/print`,
  `/checkout/receipt/${own.order}`,
  `/customer-center/quotes/${own.quote}`,
  `/customer-center/returns/new?order=${own.shipped}`,
  `/customer-center/returns/${own.rma}`,
  `/customer-center/recurring/${own.seriesId}`,
  `/customer-center/recurring/new?order=${own.invoiceOrder}`,
];

describe("another customer's records", () => {
  it('are reachable by their owner (so the 404s below are about ownership, not a wrong URL)', async () => {
    for (const url of GET_URLS()) {
      const res = await owner.agent.get(url);
      expect({ url, status: res.status }).toEqual({ url, status: 200 });
    }
    const carts = await owner.agent.get('/customer-center?CC=Carts');
    expect(carts.text).toContain(own.cart);
  });

  it('answer 404 on every page that shows one, for another shopper and for a buyer of another company', async () => {
    for (const s of strangers) {
      for (const url of GET_URLS()) {
        const res = await s.agent.get(url);
        expect({ who: s.label, url, status: res.status }).toEqual({ who: s.label, url, status: 404 });
        expect(res.text).not.toContain('Olga');
      }
    }
  });

  it('never show up in the other customers’ own lists', async () => {
    for (const s of strangers) {
      for (const url of ['/customer-center?CC=Carts', '/customer-center?CC=Orders', '/customer-center?CC=Quotes', '/customer-center?CC=Returns', '/customer-center/recurring']) {
        const res = await s.agent.get(url);
        expect(res.status).toBe(200);
        for (const n of [own.order, own.shipped, own.invoiceOrder, own.quote, own.cart, own.rma]) expect({ url, has: res.text.includes(n) }).toEqual({ url, has: false });
        expect(res.text).not.toContain(`/customer-center/recurring/${own.seriesId}"`);
      }
    }
  });

  it('answer 404 on every action (named carts, cart state, order again, quotes, returns, recurring, basket lines) and change nothing', async () => {
    const before = await snapshot();
    const { paymentMethodId } = await methodIds(t);
    const [line] = await t.sql('select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1 order by l.id limit 1', [own.shipped]);
    const [{ id: anyCartState }] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'cart' and s.name = 'Approved'`);
    const actions: [string, Record<string, string | number>][] = [
      [`/customer-center/carts/${own.cart}/rename`, { name: 'stolen' }],
      [`/customer-center/carts/${own.cart}/copy`, {}],
      [`/customer-center/carts/${own.cart}/delete`, {}],
      [`/customer-center/carts/${own.cart}/activate`, {}],
      ['/customer-center?CC=Carts', { CartID: own.cart, StateId: anyCartState }],
      [`/customer-center/orders/${own.order}/reorder`, {}],
      [`/customer-center/quotes/${own.quote}/reject`, { reason: 'not mine' }],
      [`/customer-center/quotes/${own.quote}/accept`, { paymentMethodId, cardHolder: 'X', cardNumber: '4242 4242 4242 4242', cardExpiry: '12/39', cardCvc: '123' }],
      ['/customer-center/returns', { orderNumber: own.shipped, reason: 'Other', comment: '', resolution: 'refund', [`line_${line.id}`]: 1 }],
      ['/customer-center/recurring', { orderNumber: own.invoiceOrder, intervalCount: 1, intervalUnit: 'week', ends: 'never' }],
      [`/customer-center/recurring/${own.seriesId}/pause`, {}],
      [`/customer-center/recurring/${own.seriesId}/cancel`, {}],
      [`/customer-center/recurring/${own.seriesId}/cancel`, { confirmed: '1' }],
      [`/customer-center/recurring/${own.seriesId}/resume`, {}],
      [`/cart/lines/${own.basketLineId}`, { quantity: 7 }],
      [`/cart/lines/${own.basketLineId}/remove`, {}],
    ];
    for (const s of strangers) {
      for (const [path, form] of actions) {
        const res = await postForm(s.agent, path, form);
        expect({ who: s.label, path, status: res.status }).toEqual({ who: s.label, path, status: 404 });
      }
    }
    expect(await snapshot()).toBe(before);
  });

  it('answer 404 to a guest with another session on the checkout receipt, and send guests to log in elsewhere', async () => {
    const guest = newAgent(t);
    expect((await guest.get(`/checkout/receipt/${own.order}`)).status).toBe(404);
    for (const url of GET_URLS().filter((u) => !u.startsWith('/checkout'))) {
      const res = await guest.get(url);
      expect({ url, status: res.status }).toEqual({ url, status: 302 });
      expect(res.headers.location).toMatch(/^\/login\?next=/);
    }
  });
});

describe('company carts', () => {
  it('are shared with a colleague but 404 for a shopper outside the company', async () => {
    const bea = newAgent(t);
    await login(bea, 'buyer1@acme.test', 'buyer-pass-1');
    const bo = newAgent(t);
    await login(bo, 'buyer2@acme.test', 'buyer-pass-2');
    expect((await postForm(bea, '/customer-center/carts', { name: 'Acme shared list' }, '/customer-center?CC=Carts')).status).toBe(303);
    const [{ number }] = await t.sql(`select number from orders where type = 'cart' and name = 'Acme shared list'`);
    const outsider = await registerCustomer(t, 'Out Sider');
    const before = JSON.stringify(await t.sql('select name, deleted, basket_status, user_id, state_id from orders where number = $1', [number]));
    for (const action of ['rename', 'copy', 'delete', 'activate']) {
      const res = await postForm(outsider.agent, `/customer-center/carts/${number}/${action}`, { name: 'mine now' });
      expect({ action, status: res.status }).toEqual({ action, status: 404 });
    }
    const [{ state_id: stateIdNow }] = await t.sql('select state_id from orders where number = $1', [number]);
    const [other] = await t.sql(`select s.id from flow_states s where s.flow_id = (select flow_id from flow_states where id = $1) and s.id <> $1 order by s.sort_order limit 1`, [stateIdNow]);
    expect((await postForm(outsider.agent, '/customer-center?CC=Carts', { CartID: number, StateId: other.id })).status).toBe(404);
    expect(JSON.stringify(await t.sql('select name, deleted, basket_status, user_id, state_id from orders where number = $1', [number]))).toBe(before);
    expect((await outsider.agent.get('/customer-center?CC=Carts')).text).not.toContain(number);
    // The colleague may (the company shares it), which shows the URL and form are right.
    expect((await postForm(bo, `/customer-center/carts/${number}/rename`, { name: 'Acme shared list 2' })).status).toBe(303);
  });
});

describe('company orders (the access policy: owner, colleague, stranger)', () => {
  it('a colleague sees the company’s order but only its buyer may make it recurring; a shopper outside the company gets 404', async () => {
    await t.sql(`update products set price_minor = 1000 where number = 'P-1028'`);
    const bea = newAgent(t);
    await login(bea, 'buyer1@acme.test', 'buyer-pass-1');
    const bo = newAgent(t);
    await login(bo, 'buyer2@acme.test', 'buyer-pass-2');
    const number = await placeOrder(t, bo, 'P-1028', { payment: 'INVOICE' });
    const repeatUrl = `/customer-center/recurring/new?order=${number}`;
    expect((await bo.get(repeatUrl)).status).toBe(200);
    expect((await bea.get(`/customer-center/orders/${number}`)).status).toBe(200);
    const colleague = await bea.get(repeatUrl);
    expect(colleague.status).toBe(403);
    expect(colleague.text).toContain(`Only the colleague who placed ${number} can make it a recurring order.`);
    const outsider = await registerCustomer(t, 'Otto Outside');
    for (const url of [`/customer-center/orders/${number}`, repeatUrl]) {
      const res = await outsider.agent.get(url);
      expect({ url, status: res.status }).toEqual({ url, status: 404 });
    }
  });
});

describe('the cart state form (ChangeDraftStatusForm)', () => {
  it('only moves carts: the customer’s own placed order or quote is not a cart (404), and nothing changes', async () => {
    const c = await registerCustomer(t, 'Cora Cart');
    const order = await placeOrder(t, c.agent, 'P-1026');
    const quote = await requestQuote(t, c, 'P-1027');
    const before = JSON.stringify(await t.sql('select number, type, state_id, quote_answer from orders where number = any($1) order by number', [[order, quote]]));
    // Both moves follow the flows' rules (New → Cancelled, Requested → In review): only the record type stops them.
    const byOrder = await postForm(c.agent, '/customer-center?CC=Carts', { CartID: order, StateId: await stateId('order', 'Cancelled') });
    expect(byOrder.status).toBe(404);
    const byQuote = await postForm(c.agent, '/customer-center?CC=Carts', { CartID: quote, StateId: await stateId('quote', 'In review') });
    expect(byQuote.status).toBe(404);
    expect(JSON.stringify(await t.sql('select number, type, state_id, quote_answer from orders where number = any($1) order by number', [[order, quote]]))).toBe(before);
    const [{ n }] = await t.sql(`select count(*)::int as n from order_state_history h join orders o on o.id = h.order_id where o.number = any($1) and h.source = 'frontend' and h.event = 'state_changed'`, [[order, quote]]);
    expect(n).toBe(0);
  });

  it('answers a token-less guest with a login redirect, not a change', async () => {
    const guest = newAgent(t);
    const token = await csrfToken(guest);
    const res = await guest.post('/customer-center?CC=Carts').type('form').send({ _csrf: token, CartID: own.cart, StateId: 1 });
    expect(res.status).toBe(302);
    expect(res.headers.location).toMatch(/^\/login/);
  });
});
