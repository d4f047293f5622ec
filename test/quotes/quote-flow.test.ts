import type TestAgent from 'supertest/lib/agent';
import { APPROVED_CARD, DECLINED_CARD, addToBasket, checkoutToReview, methodIds } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, stockAndPrice, type TestApp, waitFor } from '../helpers/test-app';

let t: TestApp;
let staff: TestAgent;
beforeAll(async () => {
  t = await startTestApp();
  await stockAndPrice(t, ['P-1010', 'P-1011', 'P-1012'], 10000, 2500);
  staff = await staffAgent(t);
});
afterAll(async () => { await t.close(); });

async function requestQuote(): Promise<{ customer: TestAgent; number: string }> {
  const customer = newAgent(t);
  await login(customer, 'shopper@orderflow.test', 'shopper-pass-1');
  await t.sql(`update orders set deleted = true, basket_status = null where user_id = (select id from users where email = 'shopper@orderflow.test') and basket_status = 'basket'`);
  await addToBasket(t, customer, 'P-1010', 10);
  await checkoutToReview(t, customer);
  const res = await postForm(customer, '/checkout/quote', { customerComment: 'Can you do better for 10?' }, '/checkout/review');
  expect(res.status).toBe(303);
  const number = /\/customer-center\/quotes\/(QUOTE\d+)/.exec(res.headers.location)![1];
  return { customer, number };
}

async function staffEdit(number: string, form: Record<string, string | number>) {
  const page = await staff.get(`/admin/quotes/${number}`);
  const version = /name="version" value="(\d+)"/.exec(page.text)![1];
  const lines: Record<string, string> = {};
  for (const m of page.text.matchAll(/name="(line_\d+_(?:quantity|unitPrice|discount))" [^>]*value="([^"]*)"/g)) lines[m[1]] = m[2];
  return postForm(staff, `/admin/quotes/${number}`, { version, ...lines, ...form }, `/admin/quotes/${number}`);
}

const accept = async (customer: TestAgent, number: string, extra: Record<string, string | number> = {}) => {
  const token = await csrfToken(customer, `/customer-center/quotes/${number}`);
  const { paymentMethodId } = await methodIds(t);
  return customer.post(`/customer-center/quotes/${number}/accept`).type('form').send({ _csrf: token, paymentMethodId, ...APPROVED_CARD, ...extra });
};

const stockOf = async (productNumber: string): Promise<number> =>
  (await t.sql(`select sum(quantity)::int as n from stock_levels where product_id = (select id from products where number = $1)`, [productNumber]))[0].n;

/** How often the quote was authorized at the card gateway, and its payment attempts' outcome. */
async function payments(quoteNumber: string) {
  const attempts = await t.sql(`select a.status from payment_attempts a join orders o on o.id = a.order_id where $1 in (o.number, o.quote_number) order by a.id`, [quoteNumber]);
  const [{ n }] = await t.sql(`select count(*)::int as n from sandbox_payments where order_number = $1 and status = 'authorized'`, [quoteNumber]);
  return { attempts: attempts.map((a) => a.status), heldAtGateway: n };
}

const inFuture = () => new Date(Date.now() + 7 * 864e5).toISOString().slice(0, 10);

describe('quotes', () => {
  it('request → staff edits (versioned) → offer mailed → customer accepts at exactly the offered prices', async () => {
    const { customer, number } = await requestQuote();
    const [q] = await t.sql(`select o.type, o.basket_status, o.customer_comment, s.name as state from orders o join flow_states s on s.id = o.state_id where o.number = $1`, [number]);
    expect(q).toEqual({ type: 'quote', basket_status: null, customer_comment: 'Can you do better for 10?', state: 'Requested' });
    expect((await customer.get('/')).text).toMatch(/data-testid="mini-cart-count">0</);

    // Requested allows editing: 10 × 80.00, a 5.00 line discount, add P-1011 at 50.00, 20.00 order discount.
    const [line] = await t.sql(`select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1`, [number]);
    const edited = await staffEdit(number, {
      [`line_${line.id}_unitPrice`]: '80', [`line_${line.id}_discount`]: '5', addProductNumber: 'P-1011', addQuantity: 2, addUnitPrice: '50',
      orderDiscount: '20', expiresOn: inFuture(), message: 'Special price for you.',
    });
    expect(edited.status).toBe(303);
    // goods net: 800 − 5 + 100 = 895; order discount 20 → 875 net; VAT 25 % → 1093.75 (+ standard shipping free above 500)
    const [after] = await t.sql(`select total_minor, order_discount_minor from orders where number = $1`, [number]);
    expect(Number(after.total_minor)).toBe(109375);
    const versions = await t.sql(`select v.version_no, v.note from quote_versions v join orders o on o.id = v.order_id where o.number = $1 order by v.version_no`, [number]);
    expect(versions.map((v) => v.version_no)).toEqual([1, 2]);
    const v1 = await staff.get(`/admin/quotes/${number}/versions/1`).expect(200);
    expect(v1.text).toContain('100.00 DKK'); // the unit price as requested

    // Not yet offered: the customer cannot accept.
    expect((await accept(customer, number)).status).toBe(409);

    await t.sql(`update flow_states set allow_edit = false where name = 'Offered'`);
    expect((await postForm(staff, `/admin/quotes/${number}/offer`, {}, `/admin/quotes/${number}`)).status).toBe(303);
    await t.worker.sendDue();
    await waitFor(() => t.mails.find((m) => m.subject === `Your quote ${number} is ready`));
    const offer = await customer.get(`/customer-center/quotes/${number}`);
    expect(offer.text).toContain('Special price for you.');
    expect(offer.text).toContain('Accept and order');
    // What accepting costs: a method's fee is named by the method (Invoice: 20.00 + 25 % VAT) and added to the total.
    expect(offer.text).toContain('<label for="pm-');
    expect(offer.text).toMatch(/>Invoice — <span class="choice-price">fee 25.00 DKK<\/span><\/label>/);
    expect(offer.text).toContain("A payment method's fee is added to the offer's total when you accept.");
    // A quote is paid on its own page: a method paid on the provider's page is not offered.
    expect(offer.text).not.toContain('Sandbox Pay');

    const res = await accept(customer, number);
    expect(res.status).toBe(303);
    const orderNumber = /\/checkout\/receipt\/(ORDER\d+)/.exec(res.headers.location)![1];
    const [order] = await t.sql(`select o.type, o.completed, o.total_minor, o.quote_number, o.quote_answer, s.name as state from orders o join flow_states s on s.id = o.state_id where o.number = $1`, [orderNumber]);
    expect(order).toMatchObject({ type: 'order', completed: true, quote_number: number, quote_answer: 'accepted', state: 'New' });
    expect(Number(order.total_minor)).toBe(109375);
    const lines = await t.sql(`select l.unit_price_minor, l.discount_minor, l.quantity from order_lines l join orders o on o.id = l.order_id where o.number = $1 order by l.id`, [orderNumber]);
    expect(lines.map((l) => [Number(l.unit_price_minor), Number(l.discount_minor), l.quantity])).toEqual([[8000, 500, 10], [5000, 0, 2]]);
    const accepted = await customer.get(`/customer-center/quotes/${number}`).expect(200);
    expect(accepted.text).toContain(`It became order <a href="/customer-center/orders/${orderNumber}">${orderNumber}</a>, now <span class="state-badge"`);
    // The quote says "accepted"; the order's own state ("New") is named as the order's, never as the quote's.
    expect(accepted.text).toMatch(/<h1>Quote QUOTE\d+ <span class="state-badge" data-testid="quote-accepted">Accepted<\/span><\/h1>/);
    const list = (await customer.get('/customer-center?CC=Quotes')).text;
    expect(list).toContain(`accepted → order ${orderNumber}`);
    expect(list).toContain('<td data-label="State"><span class="state-badge">Accepted</span></td>');
    const history = await t.sql(`select h.event from order_state_history h join orders o on o.id = h.order_id where o.number = $1 order by h.id`, [orderNumber]);
    expect(history.map((h) => h.event)).toEqual(expect.arrayContaining(['quote_requested', 'state_changed', 'quote_accepted', 'placed']));
    // Staff still find it among the quotes, by its quote number, leading to the order it became.
    const staffList = (await staff.get('/admin/quotes').expect(200)).text;
    expect(staffList).toContain(`<a href="/admin/orders/${orderNumber}">${number}</a>`);
    expect(staffList).toContain(`Accepted → <a href="/admin/orders/${orderNumber}" data-testid="accepted-as">${orderNumber}</a>`);
    const oldLink = await staff.get(`/admin/quotes/${number}`);
    expect(oldLink.status).toBe(303);
    expect(oldLink.headers.location).toBe(`/admin/orders/${orderNumber}`);
  });

  it('accepting twice at the same time creates one order, authorized once, with no lock held while the gateway answers', async () => {
    const { customer, number } = await requestQuote();
    await staffEdit(number, { expiresOn: inFuture() });
    await postForm(staff, `/admin/quotes/${number}/offer`, {}, `/admin/quotes/${number}`);
    const token = await csrfToken(customer, `/customer-center/quotes/${number}`);
    const { paymentMethodId } = await methodIds(t);
    const stockBefore = await stockOf('P-1010');
    const card = t.services.payments.get('sandbox_card');
    if (card.flow !== 'direct') throw new Error('the card gateway authorizes directly');
    // The gateway answers only when the test lets it.
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => { answer = resolve; });
    const authorizeAtGateway = card.authorize.bind(card);
    const authorize = jest.spyOn(card, 'authorize').mockImplementation(async (request) => { await answered; return authorizeAtGateway(request); });
    // (Promise.resolve sends the request now; supertest sends only when awaited.)
    const send = () => Promise.resolve(customer.post(`/customer-center/quotes/${number}/accept`).type('form').send({ _csrf: token, paymentMethodId, ...APPROVED_CARD }));
    let results, authorizations;
    try {
      const first = send();
      for (let i = 0; i < 200 && (await payments(number)).attempts[0] !== 'reserved'; i++) await new Promise((r) => setTimeout(r, 10));
      expect((await payments(number)).attempts).toEqual(['reserved']);
      // While the gateway answers, the stock is taken in a committed reservation and neither the quote's row nor a
      // stock row is locked (NOWAIT fails at once if a transaction holds one).
      expect(await stockOf('P-1010')).toBe(stockBefore - 10);
      await t.sql(`begin; select 1 from orders where number = '${number}' for update nowait;
        select 1 from stock_levels where product_id = (select id from products where number = 'P-1010') for update nowait; rollback`);
      // Two more clicks meanwhile wait for the first one's payment.
      const more = [send(), send()];
      await new Promise((r) => setTimeout(r, 300));
      expect((await payments(number)).attempts).toEqual(['reserved']);
      answer();
      results = await Promise.all([first, ...more]);
    } finally {
      authorizations = authorize.mock.calls.length;
      authorize.mockRestore();
    }
    expect(authorizations).toBe(1);
    expect(results.map((r) => r.status)).toEqual([303, 303, 303]);
    const orders = await t.sql(`select number from orders where quote_number = $1`, [number]);
    expect(orders).toHaveLength(1);
    // Every click is sent to the one order's receipt.
    expect(new Set(results.map((r) => r.headers.location))).toEqual(new Set([`/checkout/receipt/${orders[0].number}`]));
    const [{ n }] = await t.sql(`select count(*)::int as n from payment_transactions p join orders o on o.id = p.order_id where o.quote_number = $1`, [number]);
    expect(n).toBe(1);
    // One authorization at the gateway, by one payment attempt; the stock taken once; one receipt.
    expect(await payments(number)).toEqual({ attempts: ['completed'], heldAtGateway: 1 });
    expect(await stockOf('P-1010')).toBe(stockBefore - 10);
    const [{ receipts }] = await t.sql(`select count(*)::int as receipts from outbox_messages m join orders o on o.id = m.order_id where o.quote_number = $1 and m.subject like 'Order confirmation%'`, [number]);
    expect(receipts).toBe(1);
  });

  it('a declined card leaves the quote offered, gives the stock back and says so on the quote page', async () => {
    const { customer, number } = await requestQuote();
    await staffEdit(number, { expiresOn: inFuture() });
    await postForm(staff, `/admin/quotes/${number}/offer`, {}, `/admin/quotes/${number}`);
    const stockBefore = await stockOf('P-1010');

    const declined = await accept(customer, number, DECLINED_CARD);
    expect(declined.status).toBe(402);
    expect(declined.text).toMatch(/data-testid="refused-accept">Your payment was not accepted: /);
    expect(declined.text).toContain(`value="${DECLINED_CARD.cardHolder}"`); // what was typed is kept
    const [q] = await t.sql(`select o.type, o.quote_answer, o.completed, o.payment_status, s.name as state from orders o join flow_states s on s.id = o.state_id where o.number = $1`, [number]);
    expect(q).toEqual({ type: 'quote', quote_answer: null, completed: false, payment_status: 'declined', state: 'Offered' });
    expect(await t.sql(`select 1 from orders where quote_number = $1`, [number])).toEqual([]);
    expect(await stockOf('P-1010')).toBe(stockBefore);
    expect(await payments(number)).toEqual({ attempts: ['released'], heldAtGateway: 0 });
    expect((await customer.get(`/customer-center/quotes/${number}`)).text).toContain('Accept and order');

    // Another card: accepted and placed at once.
    const res = await accept(customer, number);
    expect(res.status).toBe(303);
    const [order] = await t.sql(`select completed, quote_answer from orders where quote_number = $1`, [number]);
    expect(order).toEqual({ completed: true, quote_answer: 'accepted' });
    expect(await stockOf('P-1010')).toBe(stockBefore - 10);
    expect(await payments(number)).toEqual({ attempts: ['released', 'completed'], heldAtGateway: 1 });
  });

  it('refuses an expired offer, and lets the customer reject with a reason', async () => {
    const { customer, number } = await requestQuote();
    await staffEdit(number, { expiresOn: inFuture() });
    await postForm(staff, `/admin/quotes/${number}/offer`, {}, `/admin/quotes/${number}`);
    await t.sql(`update orders set quote_expires_on = current_date - 1 where number = $1`, [number]);
    const expired = await accept(customer, number);
    expect(expired.status).toBe(409);
    expect(expired.text).toContain('expired');
    expect(await t.sql(`select 1 from orders where quote_number = $1`, [number])).toEqual([]);
    // Offering it again is refused on the quote page, by the offer button.
    const reoffer = await postForm(staff, `/admin/quotes/${number}/offer`, {}, `/admin/quotes/${number}`);
    expect(reoffer.status).toBe(422);
    expect(reoffer.text).toMatch(/data-testid="refused-offer">The expiry date has passed/);

    const rejected = await postForm(customer, `/customer-center/quotes/${number}/reject`, { reason: 'Too expensive' }, `/customer-center/quotes/${number}`);
    expect(rejected.status).toBe(303);
    const [q] = await t.sql(`select o.quote_answer, o.quote_reject_reason, s.name as state from orders o join flow_states s on s.id = o.state_id where o.number = $1`, [number]);
    expect(q).toEqual({ quote_answer: 'rejected', quote_reject_reason: 'Too expensive', state: 'Rejected' });
    // Staff read why on the quote.
    expect((await staff.get(`/admin/quotes/${number}`).expect(200)).text).toMatch(/Rejected by the customer<\/h2><p data-testid="reject-reason">Too expensive</);
  });

  it('reaches "Offered" only by sending the offer and "Accepted" only by the customer: the state control offers neither', async () => {
    const { number } = await requestQuote();
    const page = await staff.get(`/admin/quotes/${number}`).expect(200);
    const [offered, accepted] = await Promise.all(['offered', 'accepted'].map(async (role) => (await t.sql(
      `select s.id from flow_states s join orders o on o.id = (select id from orders where number = $1) where s.flow_id = (select flow_id from flow_states where id = o.state_id) and s.role = $2`, [number, role]))[0].id));
    expect(page.text).not.toContain(`<option value="${offered}"`);
    expect(page.text).not.toContain(`<option value="${accepted}"`);
    const version = /name="version" value="(\d+)"/.exec(page.text)![1];
    for (const [stateId, why] of [[offered, 'only by “Send offer to the customer”'], [accepted, 'only by the customer accepting the offer']] as const) {
      const forged = await postForm(staff, `/admin/quotes/${number}/state`, { stateId, version }, `/admin/quotes/${number}`);
      expect(forged.status).toBe(409);
      expect(forged.text).toContain(why);
    }
    const [q] = await t.sql(`select s.role from orders o join flow_states s on s.id = o.state_id where o.number = $1`, [number]);
    expect(q.role).toBe('requested');
    await staffEdit(number, { expiresOn: inFuture() });
    expect((await postForm(staff, `/admin/quotes/${number}/offer`, {}, `/admin/quotes/${number}`)).status).toBe(303);
  });

  it('refuses edits that would make the total negative or happen while the state does not allow editing', async () => {
    const { number } = await requestQuote();
    const negative = await staffEdit(number, { orderDiscount: '99999', message: 'Typed message' });
    expect(negative.status).toBe(422);
    // Refused on the quote page, by the Save button, with what was typed kept — not on the storefront's error page.
    expect(negative.text).toMatch(/data-testid="refused-save">[^<]*less than 0/);
    expect(negative.text).toMatch(/name="orderDiscount" value="99999" inputmode="decimal" aria-invalid="true"/);
    expect(negative.text).toContain('>Typed message</textarea>');
    expect(negative.text).not.toContain('Continue shopping');
    // Every bad value at once, each input marked and tied to the message, which names no internal path.
    const page = await staff.get(`/admin/quotes/${number}`);
    const lineId = /name="line_(\d+)_unitPrice"/.exec(page.text)![1];
    const badMoney = await staffEdit(number, { orderDiscount: 'ten', [`line_${lineId}_unitPrice`]: '-10' });
    expect(badMoney.status).toBe(422);
    expect(badMoney.text).toContain('value="ten"');
    expect(badMoney.text).toMatch(/data-testid="refused-save">Please check the marked fields: [^<]*Unit price must be an amount like 125.50[^<]*Order discount must be an amount like 125.50/);
    expect(badMoney.text).not.toContain('lines.0');
    expect(badMoney.text).toMatch(new RegExp(`name="line_${lineId}_unitPrice" value="-10" inputmode="decimal" size="9" aria-invalid="true" aria-describedby="refused-save"`));
    expect(badMoney.text).toMatch(/name="orderDiscount" value="ten" inputmode="decimal" aria-invalid="true" aria-describedby="refused-save"/);
    expect((await postForm(staff, `/admin/quotes/${number}/offer`, {}, `/admin/quotes/${number}`)).status).toBe(303);
    const locked = await staffEdit(number, { message: 'late change' });
    expect(locked.status).toBe(409);
    expect(locked.text).toMatch(/data-testid="refused-save">[^<]*cannot be edited while it is “Offered”/);
  });

  it("shows a quote only to its customer (and their company): others get 404", async () => {
    const { number } = await requestQuote();
    const other = newAgent(t);
    await login(other, 'buyer1@acme.test', 'buyer-pass-1');
    expect((await other.get(`/customer-center/quotes/${number}`)).status).toBe(404);
    expect((await postForm(other, `/customer-center/quotes/${number}/reject`, { reason: 'x' })).status).toBe(404);
    const guest = await newAgent(t).get(`/customer-center/quotes/${number}`);
    expect(guest.status).toBe(302);
  });
});
