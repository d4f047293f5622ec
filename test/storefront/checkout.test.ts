import { DEFAULT_FROM } from '../../src/mail/outbox.service';
import { ADDRESS, APPROVED_CARD, DECLINED_CARD, addToBasket, checkoutToReview, methodIds, place, reviewNumber, startCheckout, upcomingOrderNumber } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, startTestApp, waitFor, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

async function setPrice(number: string, priceMinor: number, vatRateBp: number, stock = 50) {
  await t.sql('update products set price_minor = $2, vat_rate_bp = $3 where number = $1', [number, priceMinor, vatRateBp]);
  await t.sql(`update stock_levels set quantity = case when location_id = (select min(id) from stock_locations) then $2 else 0 end
               where product_id = (select id from products where number = $1)`, [number, stock]);
}

describe('checkout', () => {
  it('takes a shopper from basket to receipt: order number from the shop numbering, VAT per rate, e-mail receipt', async () => {
    await setPrice('P-1001', 10000, 1200); // 100.00 + 12 %
    await setPrice('P-1013', 20000, 2500); // 200.00 + 25 %
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1001', 2);
    await addToBasket(t, agent, 'P-1013', 1);
    const [cart] = await t.sql(`select number, type from orders where type = 'cart' order by id desc limit 1`);
    expect(cart.number).toMatch(/^CART\d+$/);

    const next = await upcomingOrderNumber(t);
    const number = await checkoutToReview(t, agent, { shipping: 'EXPRESS' });
    expect(number).toBe(`ORDER${next}`);

    const review = await agent.get('/checkout/review').expect(200);
    // goods 200.00@12% + 200.00@25%; express 99.00 net @25%
    expect(review.text).toContain('VAT 25% of 299.00 DKK');
    expect(review.text).toContain('74.75 DKK');
    expect(review.text).toContain('VAT 12% of 200.00 DKK');
    expect(review.text).toContain('24.00 DKK');
    expect(review.text).toMatch(/data-testid="order-total">597.75 DKK/);

    const placed = await place(agent, number);
    expect(placed.status).toBe(303);
    expect(placed.headers.location).toBe(`/checkout/receipt/${number}`);
    const receipt = await agent.get(placed.headers.location).expect(200);
    expect(receipt.text).toContain(number);
    expect(receipt.text).toContain('Visa ending 4242');

    const [order] = await t.sql('select * from orders where number = $1', [number]);
    expect(order).toMatchObject({ type: 'order', completed: true, checkout_step: 'confirmation', capture_state: 'not_captured', payment_status: 'authorized', card_last4: '4242', basket_status: null });
    expect(Number(order.total_minor)).toBe(59775);
    const [{ n }] = await t.sql(`select count(*)::int as n from payment_transactions where order_id = $1 and operation = 'authorize' and success`, [order.id]);
    expect(n).toBe(1);

    // The basket is gone from the header and the receipt mail leaves through the outbox.
    const home = await agent.get('/');
    expect(home.text).toMatch(/data-testid="mini-cart-count">0</);
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Order confirmation ${number}`));
    expect(mail.to).toBe(ADDRESS.billing_email);
    expect(mail.from).toContain(DEFAULT_FROM.email);
    expect(mail.text).toContain('597.75 DKK');
  });

  it('looking at the checkout pages writes nothing: the order number is taken by "Go to checkout", a changed price shows at once and is what placing charges', async () => {
    await setPrice('P-1001', 10000, 2500);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1001', 1);
    const [cart] = await t.sql(`select id, number from orders where type = 'cart' order by id desc limit 1`);
    const stored = async () => (await t.sql(`select o.number, o.type, o.checkout_step, o.version, o.updated_at, o.totals, order_numbers_next(s.order_numbers)::int as next_number,
        (select count(*)::int from order_state_history h where h.order_id = o.id) as history
      from orders o join shops s on s.id = o.shop_id where o.id = $1`, [cart.id]))[0];
    const untouched = await stored();
    // Opening the addresses page of a cart (a bookmark, the back button) shows it and changes nothing, takes no number.
    const first = await agent.get('/checkout/addresses').expect(200);
    expect(first.text).toContain(`Basket ${cart.number}`);
    for (const page of ['/checkout/methods', '/checkout/review']) expect((await agent.get(page)).headers.location).toBe('/checkout/addresses');
    expect(await stored()).toEqual(untouched);

    const started = await startCheckout(agent);
    expect(started.headers.location).toBe('/checkout/addresses');
    const converted = await stored();
    expect(converted).toMatchObject({ number: `ORDER${untouched.next_number}`, type: 'order', checkout_step: 'addresses', next_number: untouched.next_number + 1 });
    expect((await agent.get('/checkout/addresses').expect(200)).text).toContain(`Order ${converted.number}`);

    const number = await checkoutToReview(t, agent, { payment: 'INVOICE' });
    expect(number).toBe(converted.number);
    // The methods page offers the active methods, the chosen ones checked.
    const chosen = await methodIds(t, 'STANDARD', 'INVOICE');
    const methodsPage = (await agent.get('/checkout/methods').expect(200)).text;
    expect(methodsPage).toContain(`name="shippingMethodId" value="${chosen.shippingMethodId}" required checked`);
    expect(methodsPage).toContain(`name="paymentMethodId" value="${chosen.paymentMethodId}" required checked`);
    const before = await stored();
    for (const page of ['/checkout/addresses', '/checkout/methods', '/checkout/review', '/cart']) await agent.get(page).expect(200);
    expect(await stored()).toEqual(before);

    // The price changed: the review shows the new total at once, still without writing; placing charges what it showed.
    await t.sql(`update products set price_minor = 20000 where number = 'P-1001'`);
    const shown = /data-testid="order-total">([\d,.]+) DKK/.exec((await agent.get('/checkout/review').expect(200)).text)![1];
    expect(Number(shown.replace(/,/g, '')) * 100).toBe(Number(before.totals.totalMinor) + 12500); // 100.00 more + 25 % VAT
    expect(await stored()).toEqual(before);
    expect((await place(agent, number, {})).status).toBe(303);
    const [placed] = await t.sql('select total_minor, completed from orders where number = $1', [number]);
    expect(placed).toEqual({ total_minor: String(Number(before.totals.totalMinor) + 12500), completed: true });
  });

  it('downgrades the order to a cart when it changes, and a new checkout gives it a new order id', async () => {
    await setPrice('P-1002', 5000, 1200);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1002');
    const first = await checkoutToReview(t, agent);
    expect(first).toMatch(/^ORDER/);

    await addToBasket(t, agent, 'P-1002'); // a changed quantity
    const [cart] = await t.sql(`select number, type, checkout_step from orders where number like 'CART%' order by id desc limit 1`);
    expect(cart.type).toBe('cart');
    expect((await agent.get('/checkout/review')).headers.location).toBe('/checkout/addresses');
    await startCheckout(agent);
    const second = await reviewNumber(agent);
    expect(second).toMatch(/^ORDER/);
    expect(second).not.toBe(first);

    // Changing the shipping method downgrades too.
    await postForm(agent, '/checkout/methods', await methodIds(t, 'EXPRESS'), '/checkout/methods');
    const third = await reviewNumber(agent);
    expect(third).not.toBe(second);

    // Posting the old id (a stale review page) refuses and places nothing.
    const stale = await place(agent, first);
    expect(stale.status).toBe(409);
    expect(stale.text).toContain('changed after you reviewed it');
    const history = await t.sql(`select event from order_state_history h join orders o on o.id = h.order_id where o.number = $1 order by h.id`, [third]);
    expect(history.map((h) => h.event)).toEqual(['converted', 'downgraded', 'converted', 'downgraded', 'converted']);

    // The basket changed in another window while the review page stood open: placing from it places nothing and
    // says why on the step the basket is back at (not a silent jump to the addresses).
    await addToBasket(t, agent, 'P-1002');
    const fromOldTab = await place(agent, third);
    expect(fromOldTab.status).toBe(303);
    expect(fromOldTab.headers.location).toBe('/checkout/addresses');
    const told = await agent.get('/checkout/addresses');
    expect(told.text).toContain('Your order changed after you reviewed it (in another window, perhaps), so it was not placed and nothing was charged.');
    expect(await t.sql(`select 1 from orders where number = $1 and completed`, [third])).toHaveLength(0);
  });

  it('charges what the review page showed: a total changed since (a new price) is shown first, nothing charged', async () => {
    await setPrice('P-1004', 28300, 2500);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1004');
    const number = await checkoutToReview(t, agent);
    const shown = Number(/name="shownTotalMinor" value="(\d+)"/.exec((await agent.get('/checkout/review')).text)![1]);

    // Staff change the price while the shopper looks at the review page.
    await setPrice('P-1004', 33900, 2500);
    const refused = await postForm(agent, '/checkout/place', { orderNumber: number, customerComment: 'Gift wrap', shownTotalMinor: shown, ...APPROVED_CARD }, '/checkout/review');
    expect(refused.status).toBe(409);
    expect(refused.text).toMatch(/data-testid="refused-place">The total changed since this page was shown: it is now [\d.,]+ DKK, not [\d.,]+ DKK[^<]*Nothing was charged\./);
    expect(refused.text).toContain('>Gift wrap</textarea>');
    expect(await t.sql(`select 1 from payment_transactions p join orders o on o.id = p.order_id where o.number = $1`, [number])).toHaveLength(0);
    expect(await t.sql('select 1 from orders where number = $1 and completed', [number])).toHaveLength(0);

    // The page now shows the new total; placing at it goes through, charged exactly that.
    const page = await agent.get('/checkout/review');
    const now = Number(/name="shownTotalMinor" value="(\d+)"/.exec(page.text)![1]);
    expect(now - shown).toBe(5600 * 1.25);
    const orderNow = /name="orderNumber" value="([^"]+)"/.exec(page.text)![1];
    expect((await postForm(agent, '/checkout/place', { orderNumber: orderNow, customerComment: 'Gift wrap', shownTotalMinor: now, ...APPROVED_CARD }, '/checkout/review')).status).toBe(303);
    const [placed] = await t.sql(`select o.total_minor::int as total, (select sum(p.amount_minor)::int from payment_transactions p where p.order_id = o.id and p.operation = 'authorize') as authorized
      from orders o where o.number = $1 and o.completed`, [orderNow]);
    expect(placed).toEqual({ total: now, authorized: now });
  });

  it('gives checkouts started at the same time distinct, consecutive order numbers', async () => {
    const next = await upcomingOrderNumber(t);
    const agents = await Promise.all([1, 2, 3, 4, 5, 6].map(async () => {
      const agent = newAgent(t);
      await addToBasket(t, agent, 'P-1010');
      return agent;
    }));
    const carts = (await t.sql(`select id from orders where type = 'cart' order by id desc limit 6`)).map((o) => o.id);
    const pages = await Promise.all(agents.map((agent) => postForm(agent, '/checkout', {}, '/cart')));
    expect(pages.map((p) => p.status)).toEqual([303, 303, 303, 303, 303, 303]);
    const taken = (await t.sql(`select number from orders where id = any($1) and type = 'order'`, [carts])).map((o) => o.number);
    expect(taken.sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `ORDER${next + i}`).sort());
    const history = await t.sql(`select count(*)::int as n from order_state_history where event = 'converted' and message like '%became order ORDER%' and order_id = any($1)`, [carts]);
    expect(history[0].n).toBe(6);
  });

  it('applies a voucher, refuses an unknown one with a message, and the change downgrades the order', async () => {
    await setPrice('P-1003', 10000, 2500);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1003', 2);
    const before = await checkoutToReview(t, agent);
    const bad = await postForm(agent, '/checkout/voucher', { voucherCode: 'NOPE' }, '/checkout/review');
    expect(bad.status).toBe(422);
    expect(bad.text).toContain('The voucher code &quot;NOPE&quot; is not valid.');
    expect(await reviewNumber(agent)).toBe(before);

    await postForm(agent, '/checkout/voucher', { voucherCode: 'welcome10' }, '/checkout/review');
    const after = await reviewNumber(agent);
    expect(after).not.toBe(before);
    const review = await agent.get('/checkout/review');
    // 200.00 net, 10 % off = 180.00 net; standard shipping 39.00 net; VAT 25 % of 219.00 = 54.75
    expect(review.text).toMatch(/data-testid="order-total">273.75 DKK/);
  });

  it("starts a signed-in shopper's next checkout from the addresses of their last order", async () => {
    await setPrice('P-1007', 10000, 2500);
    const agent = newAgent(t);
    const email = `again-${Date.now()}@example.test`;
    expect((await postForm(agent, '/register', { name: 'Alex Again', email, password: 'again-pass-12' }, '/register')).status).toBe(303);
    const fresh = await (async () => { await addToBasket(t, agent, 'P-1007'); return agent.get('/checkout/addresses'); })();
    expect(fresh.text).not.toContain('value="Harbour Road 7"'); // nothing to start from yet
    await checkoutToReview(t, agent, {
      payment: 'INVOICE',
      address: { billing_name: 'Alex Again', billing_address: 'Harbour Road 7', billing_zip: '8000', billing_city: 'Aarhus', billing_email: email, deliverySameAsBilling: '',
        delivery_name: 'Alex at work', delivery_address: 'Dock 3', delivery_zip: '8000', delivery_city: 'Aarhus', delivery_country: 'DK', delivery_email: email },
    });
    expect((await place(agent, await reviewNumber(agent), {})).status).toBe(303);

    await addToBasket(t, agent, 'P-1007');
    const next = await agent.get('/checkout/addresses').expect(200);
    expect(next.text).toContain('value="Harbour Road 7"');
    expect(next.text).toContain('value="Alex at work"');
    expect(next.text).toContain('value="Dock 3"');
    // Only shown: the basket keeps no address until the shopper sends the form.
    const [basket] = await t.sql(`select billing_address from orders o join users u on u.id = o.user_id where u.email = $1 and not o.completed`, [email]);
    expect(basket.billing_address).toBe('');
  });

  it('places an order once, however often it is submitted at the same time', async () => {
    await setPrice('P-1004', 10000, 2500, 10);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1004', 3);
    const number = await checkoutToReview(t, agent);
    const token = await csrfToken(agent, '/checkout/review');
    const results = await Promise.all([1, 2, 3].map(() => agent.post('/checkout/place').type('form').send({ _csrf: token, orderNumber: number, ...APPROVED_CARD })));
    expect(results.map((r) => r.status)).toEqual([303, 303, 303]);
    const [order] = await t.sql('select id, completed from orders where number = $1', [number]);
    expect(order.completed).toBe(true);
    const [{ auths }] = await t.sql(`select count(*)::int as auths from payment_transactions where order_id = $1`, [order.id]);
    expect(auths).toBe(1);
    const [{ quantity }] = await t.sql(`select sum(quantity)::int as quantity from stock_levels where product_id = (select id from products where number = 'P-1004')`);
    expect(quantity).toBe(7);
    // The back button and a resubmit land on the same receipt.
    const again = await place(agent, number);
    expect(again.headers.location).toBe(`/checkout/receipt/${number}`);
  });

  it('keeps a declined order not completed with a clear message, and the shopper can retry', async () => {
    await setPrice('P-1005', 10000, 2500, 5);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1005', 2);
    const number = await checkoutToReview(t, agent);
    const declined = await place(agent, number, { ...DECLINED_CARD, customerComment: 'Leave it at the <back> door' });
    expect(declined.status).toBe(402);
    expect(declined.text).toContain('The card was declined by the bank.');
    // Back at the review step, not an error page: the message, the comment as typed, the place form to try again.
    expect(declined.text).toContain('data-testid="refused-place"');
    expect(declined.text).toContain('>Leave it at the &lt;back&gt; door</textarea>');
    expect(declined.text).toContain('action="/checkout/place"');
    expect(declined.text).not.toContain('Continue shopping');
    const [order] = await t.sql('select id, completed, payment_status from orders where number = $1', [number]);
    expect(order).toMatchObject({ completed: false, payment_status: 'declined' });
    const [{ quantity }] = await t.sql(`select sum(quantity)::int as quantity from stock_levels where product_id = (select id from products where number = 'P-1005')`);
    expect(quantity).toBe(5); // nothing stays reserved by the failed attempt

    const retry = await place(agent, number, APPROVED_CARD);
    expect(retry.status).toBe(303);
    const attempts = await t.sql('select success from payment_transactions where order_id = $1 order by id', [order.id]);
    expect(attempts.map((a) => a.success)).toEqual([false, true]);
  });

  it('never oversells: concurrent checkouts for the last items, only as many succeed as there is stock', async () => {
    await setPrice('P-1006', 10000, 2500, 3);
    const shoppers = await Promise.all([1, 2, 3, 4, 5].map(async () => {
      const agent = newAgent(t);
      await addToBasket(t, agent, 'P-1006', 1);
      return { agent, number: await checkoutToReview(t, agent) };
    }));
    const results = await Promise.all(shoppers.map(({ agent, number }) => place(agent, number)));
    const ok = results.filter((r) => r.status === 303).length;
    expect(ok).toBe(3);
    expect(results.filter((r) => r.status === 409).every((r) => r.text.includes('in stock any more'))).toBe(true);
    const [{ quantity }] = await t.sql(`select sum(quantity)::int as quantity from stock_levels where product_id = (select id from products where number = 'P-1006')`);
    expect(quantity).toBe(0);
  });

  it('places more than is in stock when the shop allows it: the fullest location goes down to zero', async () => {
    await setPrice('P-1015', 10000, 2500, 1);
    await t.sql(`update shops set allow_out_of_stock_orders = true where id = 'SHOP1'`);
    try {
      const agent = newAgent(t);
      await addToBasket(t, agent, 'P-1015', 3);
      const number = await checkoutToReview(t, agent, { payment: 'INVOICE' });
      expect((await place(agent, number, {})).status).toBe(303);
      const [line] = await t.sql('select quantity, stock_location_id from order_lines where order_id = (select id from orders where number = $1)', [number]);
      expect(line.quantity).toBe(3);
      expect(line.stock_location_id).not.toBeNull();
      const levels = await t.sql(`select quantity from stock_levels where product_id = (select id from products where number = 'P-1015')`);
      expect(levels.every((l) => l.quantity === 0)).toBe(true);
    } finally {
      await t.sql(`update shops set allow_out_of_stock_orders = false where id = 'SHOP1'`);
    }
  });

  it('pays by invoice: no card, capture not supported, fee charged', async () => {
    await setPrice('P-1007', 10000, 2500);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1007');
    const number = await checkoutToReview(t, agent, { payment: 'INVOICE' });
    const review = await agent.get('/checkout/review');
    expect(review.text).not.toContain('Card number');
    expect(review.text).toContain('Payment fee');
    const res = await place(agent, number, {});
    expect(res.status).toBe(303);
    const [order] = await t.sql('select capture_state, payment_fee_minor from orders where number = $1', [number]);
    expect(order).toEqual({ capture_state: 'not_supported', payment_fee_minor: '2000' });
    // The receipt adds up: goods 125.00 + shipping 48.75 + fee 25.00 (all incl. VAT) = 198.75.
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Order confirmation ${number}`));
    expect(mail.text).toMatch(/Subtotal: 125\.00 DKK\s+Shipping: 48\.75 DKK\s+Payment fee: 25\.00 DKK[\s\S]*Total: 198\.75 DKK/);
  });

  it('keeps what was typed and says what is wrong when an address is incomplete', async () => {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1008');
    const res = await postForm(agent, '/checkout/addresses', { ...ADDRESS, billing_zip: '', billing_city: 'Århus <b>' }, '/checkout/addresses');
    expect(res.status).toBe(422);
    expect(res.text).toContain('Postal code is required');
    expect(res.text).toContain('value="Århus &lt;b&gt;"');
    expect(res.text).toContain('value="Main Street 1"');
  });

  it('shows a receipt only to the customer who placed the order', async () => {
    const buyer = newAgent(t);
    await login(buyer, 'shopper@orderflow.test', 'shopper-pass-1');
    await addToBasket(t, buyer, 'P-1009');
    const number = await checkoutToReview(t, buyer);
    await place(buyer, number);
    await buyer.get(`/checkout/receipt/${number}`).expect(200);
    await newAgent(t).get(`/checkout/receipt/${number}`).expect(404);
    const other = newAgent(t);
    await login(other, 'buyer1@acme.test', 'buyer-pass-1');
    await other.get(`/checkout/receipt/${number}`).expect(404);
  });

  it("shows a guest's receipts to the browser that placed them (a signed cookie), never to another or to a forged cookie", async () => {
    await setPrice('P-1010', 2000, 2500);
    const guest = newAgent(t);
    const numbers: string[] = [];
    for (let i = 0; i < 2; i++) {
      await addToBasket(t, guest, 'P-1010');
      const number = await checkoutToReview(t, guest);
      expect((await place(guest, number)).headers.location).toBe(`/checkout/receipt/${number}`);
      numbers.push(number);
    }
    const [first, second] = numbers;
    // Both receipts stay the guest's (the basket cookie that owned the orders is gone), and a resubmit finds its order.
    for (const number of numbers) expect((await guest.get(`/checkout/receipt/${number}`).expect(200)).text).toContain(number);
    expect((await place(guest, first)).headers.location).toBe(`/checkout/receipt/${first}`);

    const cookie = guest.jar.getCookie('orderflow.placed', { domain: '127.0.0.1', path: '/', secure: false, script: false })!.value;
    const [ids, signature] = cookie.split('.');
    const [{ id: foreignId }] = await t.sql(`select id from orders where completed and number <> all($1) order by id limit 1`, [numbers]);
    const [{ number: foreign }] = await t.sql('select number from orders where id = $1', [foreignId]);
    const stranger = newAgent(t);
    await stranger.get(`/checkout/receipt/${second}`).expect(404);
    // Another order's id under this cookie's signature, or a made-up signature, counts as no cookie at all.
    for (const forged of [`${ids},${foreignId}.${signature}`, `${foreignId}.${signature}`, `${foreignId}.${'A'.repeat(43)}`]) {
      stranger.jar.setCookie(`orderflow.placed=${forged}; Path=/`, '127.0.0.1');
      await stranger.get(`/checkout/receipt/${foreign}`).expect(404);
      await stranger.get(`/checkout/receipt/${second}`).expect(404);
    }
  });

  it('starting checkout as a logged-in shopper: the order takes the account e-mail and the shop number, however long', async () => {
    await setPrice('P-1004', 3000, 2500);
    await t.sql(`update shops set order_number_padding = 3 where id = 'SHOP1'`);
    await t.sql(`select setval(order_numbers, 1234567, false) from shops where id = 'SHOP1'`);
    const agent = newAgent(t);
    await login(agent, 'shopper@orderflow.test', 'shopper-pass-1');
    await addToBasket(t, agent, 'P-1004');
    await startCheckout(agent);
    const [order] = await t.sql(`select o.number, o.type, o.billing_email, o.checkout_step, order_numbers_next(s.order_numbers)::int as next_number from orders o join shops s on s.id = o.shop_id
      where o.number = 'ORDER1234567'`);
    expect(order).toEqual({ number: 'ORDER1234567', type: 'order', billing_email: 'shopper@orderflow.test', checkout_step: 'addresses', next_number: 1234568 });
    const history = await t.sql(`select event, message from order_state_history h join orders o on o.id = h.order_id where o.number = 'ORDER1234567' and h.event = 'converted'`);
    expect(history).toEqual([{ event: 'converted', message: expect.stringMatching(/^Cart CART\d+ became order ORDER1234567 when checkout started\.$/) }]);
  });

  it('when the order flow\'s first state mails the customer, starting checkout sends that mail once', async () => {
    await setPrice('P-1005', 3000, 2500);
    const [state] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.type = 'order' and f.is_default and s.is_default`);
    await t.sql(`update flow_states set send_to_billing_email = true, mail_subject = 'Your order {OrderID} has begun' where id = $1`, [state.id]);
    try {
      const agent = newAgent(t);
      await addToBasket(t, agent, 'P-1005');
      const number = await checkoutToReview(t, agent);
      const queued = await t.sql(`select to_address from outbox_messages where subject = $1`, [`Your order ${number} has begun`]);
      expect(queued).toEqual([{ to_address: ADDRESS.billing_email }]);
    } finally {
      await t.sql(`update flow_states set send_to_billing_email = false, mail_subject = '' where id = $1`, [state.id]);
    }
  });
});
