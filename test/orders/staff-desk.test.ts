import type TestAgent from 'supertest/lib/agent';
import { addToBasket, placeGuestOrder } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, waitFor, type TestApp } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

const sectionOf = (html: string, testId: string) => {
  const start = html.indexOf(`data-testid="${testId}"`);
  if (start < 0) throw new Error(`no ${testId}`);
  return html.slice(start, html.indexOf('</section>', start));
};

describe('order details: the seeds layout', () => {
  it('puts the toolbar first, then the boxes, lines, comments and history; a line shows its discount and stock location', async () => {
    const number = await placeGuestOrder(t, 'P-1010');
    const page = (await staff.get(`/admin/orders/${number}`).expect(200)).text;
    const order = ['details-toolbar', 'order-info', 'order-lines', 'comments', 'history-heading'].map((id) => page.indexOf(`"${id}"`));
    expect(order.every((at, i) => at > 0 && (i === 0 || at > order[i - 1]))).toBe(true);
    const toolbar = sectionOf(page, 'details-toolbar');
    for (const tool of ['name="stateId"', `href="/admin/orders/${number}/edit"`, 'Print this order', `action="/admin/orders/${number}/capture"`, `action="/admin/orders/${number}/cancel"`, 'Send confirmation again']) {
      expect(toolbar).toContain(tool);
    }
    const [{ location }] = await t.sql(`select s.name as location from order_lines l join orders o on o.id = l.order_id join stock_locations s on s.id = l.stock_location_id where o.number = $1`, [number]);
    expect(sectionOf(page, 'order-lines')).toContain(`From stock: ${location}`);
    // No discount on any line: no discount column.
    expect(sectionOf(page, 'order-lines')).not.toContain('>Discount<');

    await t.sql(`update order_lines set discount_minor = 500 where order_id = (select id from orders where number = $1)`, [number]);
    const discounted = (await staff.get(`/admin/orders/${number}`)).text;
    expect(sectionOf(discounted, 'order-lines')).toMatch(/>Discount<[\s\S]*data-testid="line-discount">−5.00 DKK</);
  });

  it('prints one order from its page: a print view with print, refresh and close, each order on its own page', async () => {
    const [a, b] = [await placeGuestOrder(t, 'P-1010'), await placeGuestOrder(t, 'P-1011')];
    const details = (await staff.get(`/admin/orders/${a}`)).text;
    const href = /href="([^"]+)" data-testid="print-this-order"/.exec(details)![1].replace(/&amp;/g, '&');
    const print = await staff.get(href).expect(200);
    const toolbar = sectionOf(print.text.replace('<div class="print-bar', '<section data-testid="bar"'), 'bar');
    expect(toolbar).toContain('data-print');
    expect(toolbar).toContain(`>Refresh</a>`);
    expect(toolbar).toContain(`href="/admin/orders/${a}">Close</a>`);
    expect(print.text).toContain(`data-testid="print-${a}"`);
    // Many orders: one article each (CSS starts each on a new page); Refresh reloads the same selection.
    const many = await staff.get(`/admin/orders/print?numbers=${a}&numbers=${b}`).expect(200);
    expect([...many.text.matchAll(/<article class="print-order"/g)]).toHaveLength(2);
    expect(many.text).toContain(`href="/admin/orders/print?numbers=${a}&amp;numbers=${b}">Refresh`);
    // Close never leads off the admin.
    expect((await staff.get(`/admin/orders/print?numbers=${a}&back=https://evil.test/`)).text).toContain('href="/admin/orders">Close</a>');
  });
});

describe('internal order comment', () => {
  it('staff write and read it, separate from the customer comment; the customer never sees it', async () => {
    const buyer = newAgent(t);
    await login(buyer, 'shopper@orderflow.test', 'shopper-pass-1');
    const number = await placeGuestOrder(t, 'P-1012');
    await t.sql(`update orders set customer_comment = 'Ring twice', user_id = (select id from users where email = 'shopper@orderflow.test') where number = $1`, [number]);

    const saved = await postForm(staff, `/admin/orders/${number}/comment`, { comment: 'Call <before> delivery' }, `/admin/orders/${number}`);
    expect(saved.status).toBe(303);
    const page = (await staff.get(`/admin/orders/${number}`)).text;
    const comments = sectionOf(page, 'comments');
    expect(comments).toContain('Call &lt;before&gt; delivery</textarea>');
    expect(comments).toContain('data-testid="customer-comment">Ring twice<');
    expect(page).toMatch(/internal comment[\s\S]*Internal comment changed\./);
    const [row] = await t.sql(`select staff_comment, customer_comment from orders where number = $1`, [number]);
    expect(row).toEqual({ staff_comment: 'Call <before> delivery', customer_comment: 'Ring twice' });

    const own = await buyer.get(`/customer-center/orders/${number}`);
    expect(own.status).toBe(200);
    expect(own.text).toContain('Ring twice');
    expect(own.text).not.toContain('Call &lt;before&gt;');

    const tooLong = await postForm(staff, `/admin/orders/${number}/comment`, { comment: 'x'.repeat(4001) }, `/admin/orders/${number}`);
    expect(tooLong.status).toBe(422);
    expect(sectionOf(tooLong.text, 'comments')).toMatch(/data-testid="refused-comment">[^<]*at most 4000 characters/);
    expect(tooLong.text).toContain(`${'x'.repeat(4001)}</textarea>`);
    expect((await t.sql(`select staff_comment from orders where number = $1`, [number]))[0].staff_comment).toBe('Call <before> delivery');
  });

  it('the comment a recurring order writes is shown on its details page', async () => {
    const number = await placeGuestOrder(t, 'P-1012');
    await t.sql(`update orders set staff_comment = 'Recurring order from ORDER1 (series #7).' where number = $1`, [number]);
    expect(sectionOf((await staff.get(`/admin/orders/${number}`)).text, 'comments')).toContain('Recurring order from ORDER1 (series #7).</textarea>');
  });
});

describe('send again', () => {
  it('queues the order confirmation once more, as the order is now, and notes it in the history', async () => {
    const number = await placeGuestOrder(t, 'P-1013');
    await t.worker.sendDue();
    const before = t.mails.filter((m) => m.subject === `Order confirmation ${number}`).length;
    expect((await postForm(staff, `/admin/orders/${number}/send-again`, {}, `/admin/orders/${number}`)).status).toBe(303);
    await t.worker.sendDue();
    await waitFor(() => t.mails.filter((m) => m.subject === `Order confirmation ${number}`).length === before + 1);
    expect((await staff.get(`/admin/orders/${number}`)).text).toContain('Order confirmation sent again to kim@example.test.');
  });
});

describe('admin carts list and the customer center basket', () => {
  it('lists every cart, empty ones and those submitted for approval too; an empty basket offers no "Check out"', async () => {
    const bea = newAgent(t);
    await login(bea, 'buyer1@acme.test', 'buyer-pass-1');
    await addToBasket(t, bea, 'P-1043');
    const [{ number: submitted }] = await t.sql(`select o.number from orders o join users u on u.id = o.user_id where u.email = 'buyer1@acme.test' and o.basket_status = 'basket'`);
    const [{ id: submittedState }] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = 'B2B cart approval' and s.name = 'Submitted for approval'`);
    const token = await csrfToken(bea, '/customer-center?CC=Carts');
    expect((await bea.post('/customer-center?CC=Carts').type('form').send({ _csrf: token, CartID: submitted, StateId: submittedState })).status).toBe(303);

    const sam = newAgent(t);
    await login(sam, 'shopper@orderflow.test', 'shopper-pass-1');
    await postForm(sam, '/customer-center/carts', { name: 'Empty wishlist' }, '/customer-center?CC=Carts');
    const [{ number: empty }] = await t.sql(`select number from orders where name = 'Empty wishlist'`);
    await postForm(sam, `/customer-center/carts/${empty}/activate`, {}, '/customer-center?CC=Carts');
    const center = (await sam.get('/customer-center?CC=Carts')).text;
    const card = center.slice(center.indexOf(`data-testid="cart-${empty}"`));
    expect(card.slice(0, card.indexOf('</section>'))).not.toContain('Check out');
    expect(card).toContain('data-testid="empty-basket"');

    const list = (await staff.get('/admin/carts?apply=1').expect(200)).text;
    expect(list).toContain(`>${submitted}<`);
    expect(list).toContain(`>${empty}<`);
  });
});
