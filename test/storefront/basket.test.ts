import { addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { quickAddProduct } from '../../src/cart/quick-add';
import { Order } from '../../src/orders/order.entities';
import { reprice } from '../../src/orders/order-lifecycle';
import { csrfToken, login, newAgent, postForm, productId, startTestApp, stockAndPrice, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const miniCart = (html: string) => Number(/data-testid="mini-cart-count">(\d+)</.exec(html)?.[1]);
const basketLines = (t: TestApp, number: string) =>
  t.sql('select l.id, l.quantity, l.unit_price_minor, p.number from order_lines l join products p on p.id = l.product_id join orders o on o.id = l.order_id where o.number = $1 order by l.id', [number]);

describe('basket', () => {
  it('shows a cart that must be approved first with the state it waits for, and no way to checkout', async () => {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1022');
    const number = /Basket (CART\d+)/.exec((await agent.get('/cart')).text)![1];
    // As a company's approval flow would have it (a state change comes with its history entry, in one transaction).
    const waiting = `(select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = 'B2B cart approval' and s.name = 'Submitted for approval')`;
    await t.sql(`insert into order_state_history (order_id, from_state_id, to_state_id, event, actor_kind, source) select id, state_id, ${waiting}, 'state', 'system', 'system' from orders where number = '${number}';
      update orders set state_id = ${waiting} where number = '${number}'`);
    const page = await agent.get('/cart').expect(200);
    expect(page.text).toContain('This cart is “Submitted for approval” and cannot be checked out yet: it must reach a state that allows ordering (“Approved”) first.');
    expect(page.text).not.toContain('Go to checkout');
    expect(page.text).toContain('P-1022');
  });

  it('updates the basket in place when a product is added: no index of orders is written (a HOT update)', async () => {
    await stockAndPrice(t, ['P-1023', 'P-1024'], 10_000, 2500);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1023');
    const number = /Basket (CART\d+)/.exec((await agent.get('/cart')).text)![1];
    await addToBasket(t, agent, 'P-1024'); // a new line: the order row's totals and updated_at change
    await addToBasket(t, agent, 'P-1024'); // the same line again
    expect((await basketLines(t, number)).map((l) => [l.number, l.quantity])).toEqual([['P-1023', 1], ['P-1024', 2]]);
    const [row] = await t.sql(`select (ctid::text::point)[0]::int as page, (ctid::text::point)[1]::int as item from orders where number = $1`, [number]);
    // The row version a HOT update writes is a heap-only tuple (t_infomask2 HEAP_ONLY_TUPLE): no index points at it.
    await t.sql('create extension if not exists pageinspect');
    const [tuple] = await t.sql(`select (t_infomask2 & 32768) <> 0 as heap_only from heap_page_items(get_raw_page('orders', $1)) where lp = $2`, [row.page, row.item]);
    expect(tuple.heap_only).toBe(true);
  });

  it('adds, changes, removes and empties, with the item count in the header on every page', async () => {
    const agent = newAgent(t);
    const add = await addToBasket(t, agent, 'P-1020', 2);
    const cookie = String(add.headers['set-cookie']);
    expect(cookie).toMatch(/basket=[0-9a-f-]{36}; Max-Age=\d+; Path=\/; Expires=[^;]+; HttpOnly; SameSite=Lax/);
    await addToBasket(t, agent, 'P-1021');
    await addToBasket(t, agent, 'P-1020', 1);
    expect(miniCart((await agent.get('/products/P-1030')).text)).toBe(4);

    const page = await agent.get('/cart').expect(200);
    expect(miniCart(page.text)).toBe(4);
    const number = /Basket (CART\d+)/.exec(page.text)![1];
    let lines = await basketLines(t, number);
    expect(lines.map((l) => [l.number, l.quantity])).toEqual([['P-1020', 3], ['P-1021', 1]]);

    await postForm(agent, `/cart/lines/${lines[0].id}`, { quantity: 5 }, '/cart');
    await postForm(agent, `/cart/lines/${lines[1].id}/remove`, {}, '/cart');
    lines = await basketLines(t, number);
    expect(lines.map((l) => [l.number, l.quantity])).toEqual([['P-1020', 5]]);
    expect(miniCart((await agent.get('/')).text)).toBe(5);

    // A voucher applied before is gone with the contents: "Empty basket" is a fresh start.
    await t.sql(`update orders set voucher_code = 'WELCOME10' where number = $1`, [number]);
    await postForm(agent, '/cart/empty', {}, '/cart');
    expect(await basketLines(t, number)).toEqual([]);
    expect((await t.sql('select voucher_code from orders where number = $1', [number]))[0].voucher_code).toBe('');
    const empty = await agent.get('/cart');
    expect(empty.text).toContain('Your basket is empty');
    expect(miniCart(empty.text)).toBe(0);
  });

  it('shows the item count in the header on every checkout step, and on the basket page of a visitor without a basket', async () => {
    expect(miniCart((await newAgent(t).get('/cart')).text)).toBe(0);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1020', 2);
    await addToBasket(t, agent, 'P-1021', 1);
    expect(miniCart((await agent.get('/checkout/addresses').expect(200)).text)).toBe(3);
    await checkoutToReview(t, agent, { payment: 'INVOICE' });
    for (const step of ['/checkout/addresses', '/checkout/methods', '/checkout/review', '/cart']) expect(miniCart((await agent.get(step).expect(200)).text)).toBe(3);
    // A refused address form answers a POST with the page again, its count included.
    const refused = await postForm(agent, '/checkout/addresses', { billing_name: '' }, '/checkout/addresses');
    expect(refused.status).toBe(422);
    expect(miniCart(refused.text)).toBe(3);
  });

  it('says "Added to your basket." once after several adds without a page between them', async () => {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1020');
    const token = await csrfToken(agent, '/cart'); // shows the first message; the next two adds come without a page
    for (let i = 0; i < 2; i++) await agent.post('/cart/add').type('form').send({ _csrf: token, productId: await productId(t, 'P-1020'), quantity: 1 }).expect(303);
    const page = await agent.get('/cart').expect(200);
    expect(page.text.split('Added to your basket.').length - 1).toBe(1);
    expect(miniCart(page.text)).toBe(3);
  });

  it('starts a new basket when the cookie still names an order whose "placed" answer never arrived', async () => {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1020');
    const placedNumber = await checkoutToReview(t, agent);
    const [{ anonymous_token: oldToken }] = await t.sql('select anonymous_token from orders where number = $1', [placedNumber]);
    expect((await place(agent, placedNumber)).status).toBe(303);
    // The browser never saw the answer: it still sends the placed order's basket cookie.
    const lost = newAgent(t);
    lost.jar.setCookie(`basket=${oldToken}; Path=/`, '127.0.0.1');
    const add = await postForm(lost, '/cart/add', { productId: await productId(t, 'P-1021'), quantity: 1 });
    expect(add.status).toBe(303);
    const newToken = /basket=([0-9a-f-]{36})/.exec(String(add.headers['set-cookie']))?.[1];
    expect(newToken).toBeDefined();
    expect(newToken).not.toBe(oldToken);
    const basket = await lost.get('/cart').expect(200);
    expect(basket.text).toContain('P-1021');
    const [placed] = await t.sql('select completed, (select count(*) from order_lines where order_id = o.id)::int as lines from orders o where number = $1', [placedNumber]);
    expect(placed).toEqual({ completed: true, lines: 1 });
  });

  it('takes the price from the catalog, never from the form', async () => {
    const agent = newAgent(t);
    const id = await productId(t, 'P-1022');
    const token = await csrfToken(agent);
    await agent.post('/cart/add').type('form').send({ _csrf: token, productId: id, quantity: 1, price: 1, unitPriceMinor: 1 }).expect(303);
    const [{ price_minor }] = await t.sql('select price_minor from products where id = $1', [id]);
    const [line] = await t.sql('select unit_price_minor from order_lines where product_id = $1 order by id desc limit 1', [id]);
    expect(line.unit_price_minor).toBe(price_minor);

    // A price change in the catalog reaches open baskets.
    await t.sql('update products set price_minor = price_minor + 100 where id = $1', [id]);
    await addToBasket(t, agent, 'P-1022');
    const [after] = await t.sql('select unit_price_minor, quantity from order_lines where product_id = $1 order by id desc limit 1', [id]);
    expect(Number(after.unit_price_minor)).toBe(Number(price_minor) + 100);
  });

  it('prices an add to a cart that keeps a voucher and a shipping method exactly as a full reprice does', async () => {
    await stockAndPrice(t, ['P-1040'], 12_000, 2500);
    await stockAndPrice(t, ['P-1041'], 5_000, 1200);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1040', 2);
    await checkoutToReview(t, agent);
    await postForm(agent, '/checkout/voucher', { voucherCode: 'SAVE50' }, '/checkout/review');
    await addToBasket(t, agent, 'P-1041'); // the order in checkout goes back to being a cart
    const token = agent.jar.getCookie('basket', { domain: '127.0.0.1', path: '/', secure: false, script: false })!.value;

    // The next add takes the two-statement path (it answers with the basket's id)…
    const shopper = { userId: null, companyId: null, anonymousToken: token };
    const basketId = await quickAddProduct(t.orm, shopper, await productId(t, 'P-1041'), 2);
    expect(basketId).not.toBeNull();
    const [stored] = await t.sql('select type, shipping_method_id, subtotal_minor, discount_minor, shipping_fee_minor, total_excl_vat_minor, vat_minor, total_minor, totals from orders where id = $1', [basketId]);
    expect(stored.type).toBe('cart');
    expect(stored.shipping_method_id).not.toBeNull();
    expect((await basketLines(t, (await t.sql('select number from orders where id = $1', [basketId]))[0].number)).map((l) => [l.number, l.quantity])).toEqual([['P-1040', 2], ['P-1041', 3]]);

    // …and stores what the ORM's reprice computes from the same lines: voucher spread over two VAT rates, shipping fee.
    const em = t.orm.em.fork();
    const totals = await reprice(em, await em.findOneOrFail(Order, basketId!, { populate: ['lines'] }));
    expect(totals.discountMinor).toBe(5000);
    expect(totals.vatGroups).toHaveLength(2);
    expect(totals.shippingFeeMinor).toBeGreaterThan(0);
    expect(stored.totals).toEqual(totals);
    expect([stored.subtotal_minor, stored.discount_minor, stored.shipping_fee_minor, stored.total_excl_vat_minor, stored.vat_minor, stored.total_minor].map(Number))
      .toEqual([totals.subtotalMinor, totals.discountExclVatMinor, totals.shippingFeeMinor, totals.totalExclVatMinor, totals.vatMinor, totals.totalMinor]);
  });

  it.each([
    ['quantity 0', { quantity: 0 }, 422, 'must be at least 1'],
    ['a negative quantity', { quantity: -3 }, 422, 'must be at least 1'],
    ['a huge quantity', { quantity: 10_000_000 }, 422, 'must be at most 9999'],
    ['a quantity that is not a number', { quantity: 'lots' }, 422, 'must be a number'],
    ['a fractional quantity', { quantity: 1.5 }, 422, 'must be a whole number'],
    ['an unknown product', { productId: 999999 }, 404, 'The product was not found.'],
    ['a malformed product id', { productId: "1' or 1=1" }, 422, 'must be a number'],
  ])('refuses %s with a clear message and changes nothing', async (_name, override, status, message) => {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1023', 2);
    const before = await t.sql(`select l.quantity from order_lines l join products p on p.id = l.product_id where p.number = 'P-1023' order by l.id desc limit 1`);
    const res = await postForm(agent, '/cart/add', { productId: await productId(t, 'P-1023'), quantity: 1, ...override });
    expect(res.status).toBe(status);
    expect(res.text).toContain(message);
    // The error page answering the POST shows the basket's real count in the header, like every other page.
    expect(res.text).toMatch(/data-testid="mini-cart-count">2</);
    const after = await t.sql(`select l.quantity from order_lines l join products p on p.id = l.product_id where p.number = 'P-1023' order by l.id desc limit 1`);
    expect(after).toEqual(before);
    expect(miniCart((await agent.get('/')).text)).toBe(2);
  });

  it("refuses to touch another shopper's basket line (404) and leaves it as it was", async () => {
    const owner = newAgent(t);
    await addToBasket(t, owner, 'P-1024', 2);
    const [line] = await t.sql(`select l.id from order_lines l join products p on p.id = l.product_id where p.number = 'P-1024' order by l.id desc limit 1`);
    const intruder = newAgent(t);
    await addToBasket(t, intruder, 'P-1025');
    expect((await postForm(intruder, `/cart/lines/${line.id}`, { quantity: 1 })).status).toBe(404);
    expect((await postForm(intruder, `/cart/lines/${line.id}/remove`, {})).status).toBe(404);
    const [still] = await t.sql('select quantity from order_lines where id = $1', [line.id]);
    expect(still.quantity).toBe(2);
  });

  it("makes a new basket on the first add in its flow's starting state — the company's cart flow for a company buyer — priced as a full reprice does", async () => {
    const guest = newAgent(t);
    await addToBasket(t, guest, 'P-1031', 2);
    const buyer = newAgent(t);
    await login(buyer, 'buyer2@acme.test', 'buyer-pass-2');
    const [user] = await t.sql(`select id, company_id from users where email = 'buyer2@acme.test'`);
    await t.sql(`delete from orders where user_id = $1`, [user.id]);
    await addToBasket(t, buyer, 'P-1032');

    const token = guest.jar.getCookie('basket', { domain: '127.0.0.1', path: '/', secure: false, script: false })!.value;
    const baskets = await t.sql(
      `select o.id, o.number, o.type, o.user_id, o.company_id, o.anonymous_token, o.currency_code, o.price_calculation_date is not null as priced, f.name as flow, s.is_default as starting
       from orders o join flow_states s on s.id = o.state_id join flows f on f.id = s.flow_id
       where o.basket_status = 'basket' and (o.anonymous_token = $1 or o.user_id = $2) order by o.user_id nulls first`, [token, user.id]);
    expect(baskets.map(({ id: _id, number: _n, ...b }) => b)).toEqual([
      { type: 'cart', user_id: null, company_id: null, anonymous_token: token, currency_code: 'DKK', priced: true, flow: 'Standard cart', starting: true },
      { type: 'cart', user_id: user.id, company_id: user.company_id, anonymous_token: null, currency_code: 'DKK', priced: true, flow: 'B2B cart approval', starting: true },
    ]);
    for (const basket of baskets) {
      expect(basket.number).toMatch(/^CART\d+$/);
      const [stored] = await t.sql('select totals from orders where id = $1', [basket.id]);
      const em = t.orm.em.fork();
      expect(stored.totals).toEqual(await reprice(em, await em.findOneOrFail(Order, basket.id, { populate: ['lines'] })));
    }
    expect((await basketLines(t, baskets[0].number)).map((l) => [l.number, l.quantity])).toEqual([['P-1031', 2]]);
    expect((await basketLines(t, baskets[1].number)).map((l) => [l.number, l.quantity])).toEqual([['P-1032', 1]]);
  });

  it('gives a signed-in user exactly one basket, even when the first two add-to-cart requests race', async () => {
    const agent = newAgent(t);
    await login(agent, 'buyer2@acme.test', 'buyer-pass-2');
    const [user] = await t.sql(`select id from users where email = 'buyer2@acme.test'`);
    await t.sql(`delete from orders where user_id = $1`, [user.id]);
    const token = await csrfToken(agent);
    const ids = await Promise.all(['P-1026', 'P-1027', 'P-1028', 'P-1029'].map((n) => productId(t, n)));
    const results = await Promise.all(ids.map((id) => agent.post('/cart/add').type('form').send({ _csrf: token, productId: id, quantity: 1 })));
    expect(results.map((r) => r.status)).toEqual([303, 303, 303, 303]);
    const baskets = await t.sql(`select id, company_id from orders where user_id = $1 and basket_status = 'basket'`, [user.id]);
    expect(baskets).toHaveLength(1);
    const [{ n }] = await t.sql('select count(*)::int as n from order_lines where order_id = $1', [baskets[0].id]);
    expect(n).toBe(4);
    // The database refuses a second basket even if the service were bypassed.
    await expect(t.sql(`insert into orders (number, shop_id, type, basket_status, user_id, currency_code, currency_name, currency_rate) values ('CARTX', 'SHOP1', 'cart', 'basket', $1, 'DKK', 'Danish krone', 1)`, [user.id]))
      .rejects.toThrow(/orders_one_basket_per_user/);
  });
});

describe('basket stock', () => {
  it('refuses more than is in stock with a clear message when out-of-stock ordering is off', async () => {
    await t.sql(`update stock_levels set quantity = case when location_id = (select min(id) from stock_locations) then 2 else 1 end where product_id = (select id from products where number = 'P-1035')`);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1035', 3);
    const res = await postForm(agent, '/cart/add', { productId: await productId(t, 'P-1035'), quantity: 1 });
    expect(res.status).toBe(409);
    expect(res.text).toMatch(/Only 3 × .* in stock\./);
    expect(miniCart((await agent.get('/')).text)).toBe(3);
    await t.sql(`update shops set allow_out_of_stock_orders = true`);
    try {
      expect((await postForm(agent, '/cart/add', { productId: await productId(t, 'P-1035'), quantity: 1 })).status).toBe(303);
    } finally {
      await t.sql(`update shops set allow_out_of_stock_orders = false`);
    }
  });

  it('shows a refused add on the product page it was tried from, next to the form, with the typed quantity kept', async () => {
    await t.sql(`update stock_levels set quantity = case when location_id = (select min(id) from stock_locations) then 4 else 0 end where product_id = (select id from products where number = 'P-1036')`);
    const agent = newAgent(t);
    await agent.get('/products/P-1036');
    const res = await postForm(agent, '/cart/add', { productId: await productId(t, 'P-1036'), productNumber: 'P-1036', returnTo: 'product', quantity: 7 });
    expect(res.status).toBe(409);
    expect(res.text).toMatch(/<h1>[^<]+<\/h1>/);
    expect(res.text).toMatch(/data-testid="refused-add">Only 4 × [^<]+ in stock\.</);
    expect(res.text).toContain('name="quantity" type="number" min="1" max="9999" value="7"');
    // The page works on: a smaller quantity is added from it.
    expect((await postForm(agent, '/cart/add', { productId: await productId(t, 'P-1036'), productNumber: 'P-1036', returnTo: 'product', quantity: 4 })).status).toBe(303);
    expect(miniCart((await agent.get('/')).text)).toBe(4);
  });
});
