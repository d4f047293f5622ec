import { randomBytes } from 'node:crypto';
import type TestAgent from 'supertest/lib/agent';
import { hashPassword } from '../../src/accounts/password';
import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  // Acme's carts normally wait for approval before checkout; these stories are about placed orders, so Acme
  // buyers check out straight away here (the approval flow has its own tests).
  await t.sql('update companies set cart_flow_id = null');
});
afterAll(async () => { await t.close(); });

const PASSWORD = 'history-pass-1';

/** A brand-new shopper account (so counts and order are this test's own), logged in. */
async function newShopper(name = 'Hana History'): Promise<{ agent: TestAgent; email: string }> {
  const agent = newAgent(t);
  const email = `h-${randomBytes(4).toString('hex')}@example.test`;
  const res = await postForm(agent, '/register', { name, email, password: PASSWORD }, '/register');
  if (res.status !== 303) throw new Error(`register failed: ${res.status}`);
  return { agent, email };
}

/** A buyer of another company, logged in. */
async function otherCompanyBuyer(): Promise<TestAgent> {
  const suffix = randomBytes(4).toString('hex');
  const [c] = await t.sql(`insert into companies (name, customer_number) values ($1, $2) returning id`, [`Other Co ${suffix}`, `C-${suffix}`]);
  const email = `other-${suffix}@other.test`;
  await t.sql(`insert into users (email, password_hash, name, role, company_id) values ($1, $2, 'Otto Other', 'buyer', $3)`, [email, await hashPassword(PASSWORD), c.id]);
  const agent = newAgent(t);
  await login(agent, email, PASSWORD);
  return agent;
}

async function loggedIn(email: string, password: string): Promise<TestAgent> {
  const agent = newAgent(t);
  await login(agent, email, password);
  return agent;
}

async function setProduct(number: string, priceMinor: number, vatRateBp: number) {
  await t.sql('update products set price_minor = $2, vat_rate_bp = $3, active = true where number = $1', [number, priceMinor, vatRateBp]);
}

/** Places an order through the real basket and checkout; stock is topped up first. */
async function placeOrder(agent: TestAgent, items: [string, number][], address: Record<string, string> = {}): Promise<string> {
  for (const [p] of items) {
    await t.sql('update stock_levels set quantity = greatest(quantity, 1000) where product_id = (select id from products where number = $1)', [p]);
  }
  for (const [p, q] of items) await addToBasket(t, agent, p, q);
  const number = await checkoutToReview(t, agent, { address });
  const res = await place(agent, number);
  if (res.status !== 303) throw new Error(`placing ${number} failed: ${res.status} ${res.text.slice(0, 300)}`);
  return number;
}

const stateId = async (flow: string, name: string) =>
  (await t.sql('select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = $1 and s.name = $2', [flow, name]))[0].id as number;

/** The order numbers of the list page, in the order shown. */
const numbersShown = (html: string) => [...html.matchAll(/data-testid="history-order">([^<]+)</g)].map((m) => m[1]);

describe('order history list (GET /customer-center?CC=Orders)', () => {
  it('lists the shopper’s own placed orders newest first with date, state badge and total — not baskets, not other people’s orders', async () => {
    const other = await newShopper('Someone Else');
    const othersOrder = await placeOrder(other.agent, [['P-1002', 1]]);

    const { agent } = await newShopper();
    await setProduct('P-1001', 10000, 2500);
    const first = await placeOrder(agent, [['P-1001', 1]]);
    const second = await placeOrder(agent, [['P-1001', 2]]);
    await t.sql(`update orders set completed_at = now() - interval '2 days' where number = $1`, [first]);
    await addToBasket(t, agent, 'P-1001'); // an open basket is not an order

    const page = await agent.get('/customer-center?CC=Orders').expect(200);
    expect(numbersShown(page.text)).toEqual([second, first]);
    expect(page.text).not.toContain(othersOrder);
    expect(page.text).toContain('Showing 1–2 of 2 orders');
    expect(page.text).toMatch(/class="state-badge" style="--state-color: #2563eb">New</);
    // 2 × 100.00 + 25 % = 250.00, standard delivery 39.00 + 25 % = 48.75
    expect(page.text).toContain('298.75 DKK');
    const today = new Date().toISOString().slice(0, 10);
    expect(page.text).toContain(`<time datetime="${today}">${today}</time>`);
    expect(page.text).toContain('<label for="filter-from">');
    expect(page.text).toContain('<label for="filter-state">');
    // A shopper sees only their own orders, so no "ordered by" column.
    expect(page.text).not.toContain('Ordered by');
  });

  it('shows a B2B buyer a colleague’s company order with who ordered it; a shopper and another company’s buyer never see it', async () => {
    const bo = await loggedIn('buyer2@acme.test', 'buyer-pass-2');
    const bosOrder = await placeOrder(bo, [['P-1005', 1]]);

    const bea = await loggedIn('buyer1@acme.test', 'buyer-pass-1');
    const list = await bea.get('/customer-center?CC=Orders').expect(200);
    expect(numbersShown(list.text)).toContain(bosOrder);
    expect(list.text).toContain('Ordered by');
    expect(list.text).toContain('Bo Buyer');
    const details = await bea.get(`/customer-center/orders/${bosOrder}`).expect(200);
    expect(details.text).toMatch(/data-testid="ordered-by">Bo Buyer</);

    const sam = await loggedIn('shopper@orderflow.test', 'shopper-pass-1');
    expect((await sam.get('/customer-center?CC=Orders').expect(200)).text).not.toContain(bosOrder);
    const otto = await otherCompanyBuyer();
    expect((await otto.get('/customer-center?CC=Orders').expect(200)).text).not.toContain(bosOrder);
  });

  it('filters by placed date (from/to, inclusive) and by state, keeping the chosen values in the form', async () => {
    const { agent } = await newShopper();
    const march = await placeOrder(agent, [['P-1003', 1]]);
    const may = await placeOrder(agent, [['P-1003', 1]]);
    const received = await placeOrder(agent, [['P-1003', 1]]);
    await t.sql(`update orders set completed_at = '2024-03-15T12:00:00Z' where number = $1`, [march]);
    await t.sql(`update orders set completed_at = '2024-05-01T08:00:00Z' where number = $1`, [may]);
    const receivedId = await stateId('Standard order flow', 'Received');
    // A fixture move: the database refuses a state change without its history row (orders_state_change_has_history).
    await t.sql(`with moved as (update orders set state_id = $2 where number = $1 returning id)
      insert into order_state_history (order_id, to_state_id, event, actor_kind, source) select id, $2, 'state_changed', 'system', 'system' from moved`, [received, receivedId]);

    const spring = await agent.get('/customer-center?CC=Orders&from=2024-03-01&to=2024-03-15').expect(200);
    expect(numbersShown(spring.text)).toEqual([march]);
    expect(spring.text).toContain('value="2024-03-01"');
    const fromApril = await agent.get('/customer-center?CC=Orders&from=2024-04-01&to=').expect(200);
    expect(numbersShown(fromApril.text)).toEqual([received, may]);
    const none = await agent.get('/customer-center?CC=Orders&from=2023-01-01&to=2023-12-31').expect(200);
    expect(numbersShown(none.text)).toEqual([]);
    expect(none.text).toContain('No orders match your filters.');

    const byState = await agent.get(`/customer-center?CC=Orders&state=${receivedId}`).expect(200);
    expect(numbersShown(byState.text)).toEqual([received]);
    expect(byState.text).toContain(`<option value="${receivedId}" selected>Received</option>`);
    // The state select offers the states this shopper's orders are in.
    expect(byState.text).toMatch(/<option value="\d+">New<\/option>/);
    expect(byState.text).not.toContain('>Shipped</option>');
  });

  it('answers bad filter values with 422 and a clear message, never a 500', async () => {
    const { agent } = await newShopper();
    const cases: [string, string][] = [
      ['from=2024-13-45', 'The “From” date is not a real date.'],
      ['from=yesterday', 'The “From” date must be a date written as yyyy-mm-dd'],
      ['to=2024-02-30', 'The “To” date is not a real date.'],
      ['from=2024-05-01&to=2024-04-01', 'The “To” date must be on or after the “From” date.'],
      ['from=2024-01-01&from=2024-02-01', 'The “From” date must be a date written as yyyy-mm-dd'],
      ['state=abc', 'Please choose a state from the list.'],
      ['state=-1', 'Please choose a state from the list.'],
      [`state=${await stateId('Standard cart', 'Open')}`, 'That state is not an order state.'],
      ['state=99999999', 'That state is not an order state.'],
      ['page=0', 'The page must be a whole number of 1 or more.'],
      ['page=1.5', 'The page must be a whole number of 1 or more.'],
      ["page=1'%20or%201=1", 'The page must be a whole number of 1 or more.'],
    ];
    for (const [query, message] of cases) {
      const res = await agent.get(`/customer-center?CC=Orders&${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 422 });
      expect(res.text).toContain(message);
      if (!query.startsWith('page')) expect(res.text).toContain('aria-invalid="true"');
      expect(res.text).toContain('<label for="filter-from">'); // the form is shown again to fix it
    }
  });

  it('pages 20 orders at a time, newest first, and keeps the filters in the page links', async () => {
    const { agent } = await newShopper();
    const placed = await placeOrder(agent, [['P-1004', 1]]);
    // 24 more orders, cheaply: copies of the placed one, a day older each.
    await t.sql(
      `insert into orders (number, shop_id, type, user_id, company_id, state_id, completed, completed_at, checkout_step, currency_code, currency_name,
                           currency_rate, subtotal_minor, total_excl_vat_minor, vat_minor, total_minor, totals, billing_name, billing_address, billing_zip,
                           billing_city, billing_country, billing_email, shipping_method_id, payment_method_id, created_at)
       select o.number || '-C' || lpad(g::text, 2, '0'), shop_id, type, user_id, company_id, state_id, true, o.completed_at - g * interval '1 day', checkout_step,
              currency_code, currency_name, currency_rate, subtotal_minor, total_excl_vat_minor, vat_minor, total_minor, totals, billing_name, billing_address,
              billing_zip, billing_city, billing_country, billing_email, shipping_method_id, payment_method_id, o.created_at - g * interval '1 day'
       from orders o, generate_series(1, 24) g where o.number = $1`, [placed]);

    const page1 = await agent.get('/customer-center?CC=Orders').expect(200);
    const shown1 = numbersShown(page1.text);
    expect(shown1).toHaveLength(20);
    expect(shown1[0]).toBe(placed);
    expect(shown1[19]).toBe(`${placed}-C19`);
    expect(page1.text).toContain('Showing 1–20 of 25 orders');
    expect(page1.text).toContain('Page 1 of 2');
    expect(page1.text).toContain('href="/customer-center?CC=Orders&amp;page=2" rel="next"');

    const page2 = await agent.get('/customer-center?CC=Orders&page=2').expect(200);
    expect(numbersShown(page2.text)).toEqual(['C20', 'C21', 'C22', 'C23', 'C24'].map((c) => `${placed}-${c}`));
    expect(page2.text).toContain('href="/customer-center?CC=Orders" rel="prev"');

    const from = new Date(Date.now() - 40 * 86400000).toISOString().slice(0, 10);
    const filtered = await agent.get(`/customer-center?CC=Orders&from=${from}`).expect(200);
    expect(filtered.text).toContain(`href="/customer-center?CC=Orders&amp;from=${from}&amp;page=2" rel="next"`);

    const beyond = await agent.get('/customer-center?CC=Orders&page=9').expect(200);
    expect(numbersShown(beyond.text)).toEqual([]);
    expect(beyond.text).toContain('There is no page 9.');
  });
});

describe('order details, receipt and order again (/customer-center/orders/:number)', () => {
  it('shows lines, totals, addresses, payment, shipping and the customer timeline — never staff names, staff notes or internal messages', async () => {
    const { agent } = await newShopper('Dana Details');
    await setProduct('P-1006', 10000, 1200); // 100.00 + 12 %
    await setProduct('P-1014', 20000, 2500); // 200.00 + 25 %
    const number = await placeOrder(agent, [['P-1006', 2], ['P-1014', 1]], {
      deliverySameAsBilling: '', delivery_name: 'Dana at Work', delivery_company: 'Work Place ApS', delivery_address: 'Harbour Road 9',
      delivery_address2: '', delivery_zip: '8000', delivery_city: 'Aarhus', delivery_country: 'DK', delivery_region: '', delivery_phone: '', delivery_email: 'dana@work.test',
    });
    await t.sql(`update orders set staff_comment = 'Staff note: call before delivery' where number = $1`, [number]);

    // Staff move the order on; the history entry carries the staff member and an internal message.
    const staff = await loggedIn('admin@orderflow.test', 'admin-pass-1');
    const [{ version }] = await t.sql('select version from orders where number = $1', [number]);
    const moved = await postForm(staff, `/admin/orders/${number}/state`, { stateId: await stateId('Standard order flow', 'Received'), version }, `/admin/orders/${number}`);
    expect(moved.status).toBe(303);
    await t.sql(`update order_state_history set message = 'Internal: customer owes us money', created_at = '2030-01-02T10:30:00Z'
                 where event = 'state_changed' and order_id = (select id from orders where number = $1)`, [number]);

    const page = await agent.get(`/customer-center/orders/${number}`).expect(200);
    const html = page.text;
    expect(html).toContain(`data-testid="order-number">${number}<`);
    expect(html).toMatch(/data-testid="order-state">Received</);
    expect(html).toContain('P-1006');
    expect(html).toContain('P-1014');
    expect(html).toContain('2 pack');
    // goods 200.00@12 % + 200.00@25 % = 474.00 incl. VAT, below free delivery: + 48.75 standard delivery
    expect(html).toContain('VAT 12% of 200.00 DKK');
    expect(html).toMatch(/data-testid="order-total">522.75 DKK/);
    expect(html).toContain('Main Street 1');
    expect(html).toContain('Harbour Road 9');
    expect(html).toContain('Work Place ApS');
    expect(html).toContain('Card (Visa ending 4242)');
    expect(html).toContain('Standard delivery');
    // The timeline: placed, then the state entered and when — nothing about who or why.
    expect(html).toContain('Order placed');
    expect(html).toMatch(/2030-01-02 10:30 UTC<\/time> <span class="state-badge" style="--state-color: #0891b2">Received</);
    expect(html).not.toContain('Ada Admin');
    expect(html).not.toContain('admin@orderflow.test');
    expect(html).not.toContain('Internal: customer owes us money');
    expect(html).not.toContain('Staff note');
    expect(html).not.toContain('became order'); // the internal "converted" log entry
    // No tracking column yet: no tracking block.
    expect(html).not.toContain('data-testid="tracking"');
    expect(html).toContain(`href="/customer-center/orders/${number}/print">Print receipt</a>`);
    expect(html).toContain(`action="/customer-center/orders/${number}/reorder"`);
    expect(html).toContain('>Order again</button>');
  });

  it('renders a print-friendly receipt without the site header and navigation', async () => {
    const { agent } = await newShopper('Pia Print');
    await setProduct('P-1007', 5000, 2500);
    const number = await placeOrder(agent, [['P-1007', 3]]);
    const res = await agent.get(`/customer-center/orders/${number}/print`).expect(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.text).toContain(`Receipt for order <span data-testid="order-number">${number}</span>`);
    expect(res.text).toContain('P-1007');
    expect(res.text).toContain('data-testid="order-total"');
    expect(res.text).toContain('Billing address');
    // A Print button where JavaScript runs (public/js/app.js shows it), the browser's command named where it does not.
    expect(res.text).toContain('<button type="button" data-print hidden>Print</button>');
    expect(res.text).toContain('<script src="/public/js/app.js" defer></script>');
    expect(res.text).not.toContain('site-header');
    expect(res.text).not.toContain('Log out');
    expect(res.text).not.toContain('aria-label="Customer center"');
    expect(res.text).toContain(`href="/customer-center/orders/${number}"`);
  });

  it('orders again at today’s prices and reports a changed price and a product no longer sold', async () => {
    const { agent } = await newShopper('Rita Reorder');
    await setProduct('P-1008', 10000, 2500); // 125.00 incl. VAT
    await setProduct('P-1009', 4000, 2500); // unchanged: 50.00 incl. VAT
    await setProduct('P-1010', 6000, 2500); // will be withdrawn
    const number = await placeOrder(agent, [['P-1008', 2], ['P-1009', 1], ['P-1010', 4]]);

    await setProduct('P-1008', 12000, 2500); // now 150.00 incl. VAT
    await t.sql(`update products set active = false where number = 'P-1010'`);
    const [p1010] = await t.sql(`select name from products where number = 'P-1010'`);

    const token = await csrfToken(agent, `/customer-center/orders/${number}`);
    const res = await agent.post(`/customer-center/orders/${number}/reorder`).type('form').send({ _csrf: token });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/cart');

    const lines = await t.sql(`select p.number, l.quantity, l.unit_price_minor::int as price from order_lines l join orders o on o.id = l.order_id
      join products p on p.id = l.product_id join users u on u.id = o.user_id
      where o.basket_status = 'basket' and u.name = 'Rita Reorder' order by p.number`);
    expect(lines).toEqual([{ number: 'P-1008', quantity: 2, price: 12000 }, { number: 'P-1009', quantity: 1, price: 4000 }]);

    const cart = await agent.get('/cart').expect(200);
    expect(cart.text).toContain(`Added from order ${number} to your basket at today&#39;s prices`);
    expect(cart.text).toMatch(/Prices have changed since you ordered \(unit prices incl\. VAT\): [^<]*: 150\.00 DKK per pack now, was 125\.00 DKK\./);
    expect(cart.text).toContain(`No longer sold, so not added: ${p1010.name} (P-1010).`);
    expect(cart.text).not.toMatch(/: 50\.00 DKK per pack now/);
    // The order itself is untouched.
    const [order] = await t.sql('select type, completed from orders where number = $1', [number]);
    expect(order).toEqual({ type: 'order', completed: true });
  });

  it('gives another company’s buyer, another shopper and a bad order number a 404 on details, print and order again', async () => {
    const bea = await loggedIn('buyer1@acme.test', 'buyer-pass-1');
    const number = await placeOrder(bea, [['P-1011', 1]]);
    const [{ n: linesBefore }] = await t.sql(`select count(*)::int as n from order_lines`);

    for (const agent of [await otherCompanyBuyer(), (await newShopper()).agent]) {
      for (const path of [`/customer-center/orders/${number}`, `/customer-center/orders/${number}/print`]) {
        const res = await agent.get(path);
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
        expect(res.text).toContain('The order was not found.');
        expect(res.text).not.toContain('Bea Buyer');
      }
      const token = await csrfToken(agent, '/');
      const re = await agent.post(`/customer-center/orders/${number}/reorder`).type('form').send({ _csrf: token });
      expect(re.status).toBe(404);
      expect(re.text).toContain('The order was not found.');
    }
    const [{ n: linesAfter }] = await t.sql(`select count(*)::int as n from order_lines`);
    expect(linesAfter).toBe(linesBefore);

    // A missing order and a malformed number look exactly the same as someone else's order.
    const sam = await loggedIn('shopper@orderflow.test', 'shopper-pass-1');
    expect((await sam.get('/customer-center/orders/ORDER999999')).status).toBe(404);
    expect((await sam.get(`/customer-center/orders/${encodeURIComponent("x' or 1=1")}`)).status).toBe(404);
    // A cart is not an order in the history, even for its owner.
    await addToBasket(t, sam, 'P-1011');
    const [cart] = await t.sql(`select o.number from orders o join users u on u.id = o.user_id where u.email = 'shopper@orderflow.test' and o.basket_status = 'basket'`);
    expect((await sam.get(`/customer-center/orders/${cart.number}`)).status).toBe(404);
  });

  it('sends guests to log in from the list, details, print page and order again', async () => {
    const guest = newAgent(t);
    for (const path of ['/customer-center?CC=Orders', '/customer-center/orders/ORDER1001', '/customer-center/orders/ORDER1001/print']) {
      const res = await guest.get(path);
      expect(res.status).toBe(302);
      expect(res.headers.location).toBe(`/login?next=${encodeURIComponent(path)}`);
    }
    const token = await csrfToken(guest, '/');
    const res = await guest.post('/customer-center/orders/ORDER1001/reorder').type('form').send({ _csrf: token });
    expect(res.status).toBe(302);
    expect(res.headers.location).toContain('/login');
  });
});
