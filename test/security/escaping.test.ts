import type TestAgent from 'supertest/lib/agent';
import { addToBasket, methodIds } from '../helpers/shopping';
import { csrfToken, newAgent, postForm, staffAgent, startTestApp, type TestApp, waitFor } from '../helpers/test-app';
import { type Customer, esc, fileReturn, offerQuote, registerCustomer, requestQuote, shipOrder, topUp } from './security-helpers';

/**
 * `<script>` and quotes in every text field a customer controls come back escaped wherever they are shown: the
 * storefront, the customer center, the staff pages and the e-mails. Each field gets its own tag, so a missing
 * escaped copy shows which field a page lost, and any raw copy fails the test.
 */
jest.setTimeout(120_000);

/** Two attacks in one value: a script element, and breaking out of a quoted attribute into an img with onerror. */
const attack = (tag: string) => `<script>${tag}</script>"'><img src=x onerror=alert(1)>`;
/** Short fields: phone (40 characters) and postal code (20). */
const shortAttack = (tag: string) => `"'><img src=x onerror=${tag}>`;
const zipAttack = (tag: string) => `<script>${tag}</script>`;

const V = {
  regName: attack('rname'),
  billing: {
    billing_name: attack('bname'), billing_company: attack('bcomp'), billing_address: attack('baddr'), billing_address2: attack('badd2'),
    billing_zip: zipAttack('bz'), billing_city: attack('bcity'), billing_country: 'DK', billing_region: attack('breg'), billing_phone: shortAttack('bphone'),
    billing_email: 'billing@example.test',
  },
  delivery: {
    delivery_name: attack('dname'), delivery_company: attack('dcomp'), delivery_address: attack('daddr'), delivery_address2: attack('dadd2'),
    delivery_zip: zipAttack('dz'), delivery_city: attack('dcity'), delivery_country: 'SE', delivery_region: attack('dreg'), delivery_phone: shortAttack('dphone'),
    delivery_email: "d'elivery@example.test",
  },
  comment: attack('comment'),
  cardHolder: attack('holder'),
  cartName: attack('cart'),
  quoteComment: attack('quote'),
  rejectReason: attack('reject'),
  returnComment: attack('retcom'),
};

/** Nothing an attacker typed may come back as markup: no script element, no img, no attribute broken out of. */
function expectNoRawMarkup(html: string, where: string): void {
  const raw = ['<script>', '<img src=x', `"'>`].filter((s) => html.includes(s));
  expect({ where, raw }).toEqual({ where, raw: [] });
  expect({ where, rawImg: /<img[^>]*onerror/i.test(html) }).toEqual({ where, rawImg: false });
}

/** The values shown on a page are there, escaped exactly as the template engine escapes them. */
function expectEscaped(html: string, where: string, values: string[]): void {
  expectNoRawMarkup(html, where);
  const missing = values.filter((v) => !html.includes(esc(v)));
  expect({ where, missing }).toEqual({ where, missing: [] });
}

let t: TestApp;
let staff: TestAgent;
let c: Customer;
const rec = { order: '', cart: '', quote: '', rma: '' };
/** The staff edit form, read while the order could still be edited (before it shipped). */
let editPage = { status: 0, text: '' };
const addressValues = [...Object.values(V.billing), ...Object.values(V.delivery)].filter((v) => v.includes('<') || v.includes("'"));

beforeAll(async () => {
  t = await startTestApp();
  staff = await staffAgent(t);
  // Entering "Received" mails the customer a subject with their name in it (a staff-configured placeholder).
  await t.sql(`update flow_states set send_to_billing_email = true, mail_subject = 'Hello {CustomerName}, {OrderID} is {StateName}' where name = 'Received' and flow_id = (select id from flows where name = 'Standard order flow')`);
  c = await registerCustomer(t, V.regName);

  // A named cart with a line (added by staff), so it shows in the staff cart list too.
  expect((await postForm(c.agent, '/customer-center/carts', { name: V.cartName }, '/customer-center?CC=Carts')).status).toBe(303);
  [{ number: rec.cart }] = await t.sql(`select number from orders where user_id = $1 and type = 'cart' and name = $2`, [c.userId, V.cartName]);
  expect((await postForm(staff, `/admin/carts/${rec.cart}/lines`, { addProductNumber: 'P-1011', addQuantity: 1 }, `/admin/carts/${rec.cart}`)).status).toBe(303);

  // An order with every address field, the comment and the card holder attacked.
  await topUp(t, 'P-1012');
  await addToBasket(t, c.agent, 'P-1012', 2);
  const addr = await postForm(c.agent, '/checkout/addresses', { ...V.billing, ...V.delivery }, '/checkout/addresses');
  expect({ status: addr.status, error: /flash-error" role="alert">([^<]*)/.exec(addr.text)?.[1] }).toEqual({ status: 303, error: undefined });
  expect((await postForm(c.agent, '/checkout/methods', await methodIds(t), '/checkout/methods')).status).toBe(303);
  const review = await c.agent.get('/checkout/review');
  expectEscaped(review.text, 'checkout review', addressValues);
  rec.order = /name="orderNumber" value="([^"]+)"/.exec(review.text)![1];
  const placed = await postForm(c.agent, '/checkout/place',
    { orderNumber: rec.order, customerComment: V.comment, cardHolder: V.cardHolder, cardNumber: '4242 4242 4242 4242', cardExpiry: '12/39', cardCvc: '123' });
  expect(placed.status).toBe(303);
  editPage = await staff.get(`/admin/orders/${rec.order}/edit`);
  await shipOrder(t, staff, rec.order);
  rec.rma = await fileReturn(t, c.agent, rec.order, V.returnComment);

  rec.quote = await requestQuote(t, c, 'P-1013', V.quoteComment);
  await offerQuote(staff, rec.quote);
  expect((await postForm(c.agent, `/customer-center/quotes/${rec.quote}/reject`, { reason: V.rejectReason }, `/customer-center/quotes/${rec.quote}`)).status).toBe(303);
  for (let i = 0; i < 5 && (await t.worker.sendDue(100)) > 0; i++);
});
afterAll(async () => { await t.close(); });

describe('what a customer typed is escaped', () => {
  it('in the storefront: header, basket and receipt', async () => {
    expectEscaped((await c.agent.get('/')).text, 'catalog header', [V.regName]);
    expectEscaped((await c.agent.get('/cart')).text, 'basket', [V.regName]);
    const receipt = await c.agent.get(`/checkout/receipt/${rec.order}`);
    expect(receipt.status).toBe(200);
    expectEscaped(receipt.text, 'receipt', [...addressValues, V.comment]);
  });

  it('in the customer center: carts, orders, order details and print, quotes, returns', async () => {
    const pages: [string, string[]][] = [
      ['/customer-center?CC=Carts', [V.cartName, V.regName]],
      ['/customer-center?CC=Orders', [V.regName]],
      [`/customer-center/orders/${rec.order}`, [...addressValues, V.comment]],
      [`/customer-center/orders/${rec.order}/print`, [...addressValues, V.comment]],
      ['/customer-center?CC=Quotes', [V.regName]],
      [`/customer-center/quotes/${rec.quote}`, [V.quoteComment, V.rejectReason]],
      ['/customer-center?CC=Returns', [V.regName]],
      [`/customer-center/returns/${rec.rma}`, [V.returnComment, V.regName]],
      ['/customer-center/recurring', [V.regName]],
    ];
    for (const [url, values] of pages) {
      const res = await c.agent.get(url);
      expect({ url, status: res.status }).toEqual({ url, status: 200 });
      expectEscaped(res.text, url, values);
    }
  });

  it('in the staff pages: order list, details, editing, versions, print, carts, quotes, returns, mail', async () => {
    // Show every column, so every customer value in the list is rendered.
    const all = ['created', 'completedAt', 'state', 'company', 'customer', 'email', 'customerNumber', 'total', 'payment', 'capture', 'shipping', 'country', 'channel', 'exported'];
    const token = await csrfToken(staff, '/admin/orders');
    await staff.post('/admin/orders/columns').type('form').send(new URLSearchParams([['_csrf', token], ...all.map((k): [string, string] => ['columns', k])]).toString());
    const pages: [string, string[]][] = [
      ['/admin/orders', [V.billing.billing_name, V.billing.billing_company]],
      [`/admin/orders?apply=1&searchIn=all&search=${encodeURIComponent('<script>bname')}`, [V.billing.billing_name, '<script>bname']],
      [`/admin/orders/${rec.order}`, [...addressValues, V.comment, V.regName]],
      [`/admin/orders/${rec.order}/versions`, []],
      ['/admin/carts', [V.cartName, V.regName]],
      [`/admin/carts/${rec.cart}`, [V.cartName, V.regName]],
      ['/admin/quotes', []],
      [`/admin/quotes/${rec.quote}`, [V.quoteComment, V.regName]],
      ['/admin/returns', [V.regName]],
      [`/admin/returns/${rec.rma}`, [V.returnComment]],
      ['/admin/mail', [V.billing.billing_name]],
      ['/admin/recurring', []],
      ['/admin', []],
    ];
    for (const [url, values] of pages) {
      const res = await staff.get(url);
      expect({ url, status: res.status }).toEqual({ url, status: 200 });
      expectEscaped(res.text, url, values);
    }
    expect(editPage.status).toBe(200);
    expectEscaped(editPage.text, 'staff edit form', addressValues);
    const print = await postForm(staff, '/admin/orders/print', { numbers: rec.order }, '/admin/orders');
    expect(print.status).toBe(200);
    expectEscaped(print.text, 'staff print', [...addressValues, V.comment]);
    // The mails as staff read them in the caught-mail viewer.
    const ids = [...(await staff.get('/admin/mail')).text.matchAll(/\/admin\/mail\/caught\/(\d+)/g)].map((m) => m[1]);
    for (const id of ids) expectNoRawMarkup((await staff.get(`/admin/mail/caught/${id}`)).text, `caught mail ${id}`);
  });

  it('in the e-mails: receipt, state change, shipped, return (customer and staff), quote', async () => {
    const mail = (pred: (s: string) => boolean) => waitFor(() => t.mails.find((m) => pred(m.subject)));
    const expectations: [string, (s: string) => boolean, string[]][] = [
      ['receipt', (s) => s === `Order confirmation ${rec.order}`, [V.billing.billing_name, V.comment]],
      ['received (subject with the customer name)', (s) => s.startsWith('Hello ') && s.includes(rec.order), [V.billing.billing_name, `Hello ${V.billing.billing_name}, ${rec.order} is Received`]],
      ['shipped', (s) => s === `Your order ${rec.order} has been shipped`, [V.billing.billing_name, V.delivery.delivery_name, V.delivery.delivery_address, V.delivery.delivery_zip, V.delivery.delivery_city]],
      ['return, customer', (s) => s === `We received your return request ${rec.rma}`, [V.billing.billing_name]],
      ['return, staff', (s) => s.startsWith(`New return ${rec.rma}`), [V.billing.billing_name, V.returnComment]],
      ['quote offered', (s) => s === `Your quote ${rec.quote} is ready`, []],
    ];
    for (const [what, pred, values] of expectations) {
      const m = await mail(pred);
      expectEscaped(m.html, `mail: ${what}`, values);
    }
    for (const m of t.mails) expectNoRawMarkup(m.html, `mail "${m.subject}"`);
  });

  it('where a form shows back what was typed: login, registration, checkout, return, recurring, filters, search, voucher', async () => {
    const evil = attack('echo');
    const guest = newAgent(t);
    const checks: [string, () => Promise<{ status: number; text: string }>, number][] = [
      ['failed login', () => postForm(guest, '/login', { email: evil, password: 'whatever-pass' }, '/login'), 401],
      ['registration refused', () => postForm(newAgent(t), '/register', { name: evil, email: 'x@example.test', password: 'short' }, '/register'), 422],
      ['catalog search', () => guest.get(`/?q=${encodeURIComponent(evil)}`), 200],
      ['customer center section', () => c.agent.get(`/customer-center?CC=${encodeURIComponent(evil)}`), 200],
      ['order history filter', () => c.agent.get(`/customer-center?CC=Orders&from=${encodeURIComponent(evil)}&to=${encodeURIComponent(evil)}`), 422],
      ['statistics dates', () => staff.get(`/admin/statistics?from=${encodeURIComponent(evil)}&shop=${encodeURIComponent(evil)}`), 422],
      ['staff list search', () => staff.get(`/admin/orders?apply=1&searchIn=customer&search=${encodeURIComponent(evil)}`), 200],
      ['recurring form', () => postForm(c.agent, '/customer-center/recurring', { orderNumber: rec.order, intervalCount: evil, intervalUnit: 'month', ends: 'never' }), 422],
      ['return form', async () => {
        const [line] = await t.sql('select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1 order by l.id limit 1', [rec.order]);
        return postForm(c.agent, '/customer-center/returns', { orderNumber: rec.order, reason: 'Other', comment: evil, resolution: 'refund', [`line_${line.id}`]: 999 }, `/customer-center/returns/new?order=${rec.order}`);
      }, 422],
      ['checkout addresses refused', async () => {
        await topUp(t, 'P-1014');
        await addToBasket(t, c.agent, 'P-1014');
        return postForm(c.agent, '/checkout/addresses', { ...V.billing, billing_name: evil, billing_country: 'x1', deliverySameAsBilling: 'on' }, '/checkout/addresses');
      }, 422],
    ];
    for (const [what, run, status] of checks) {
      const res = await run();
      expect({ what, status: res.status }).toEqual({ what, status });
      expectNoRawMarkup(res.text, what);
    }
    // The echoed values are there, escaped (so the check above is not passing on an empty page).
    const login = await postForm(newAgent(t), '/login', { email: evil, password: 'whatever-pass' }, '/login');
    expect(login.text).toContain(esc(evil));
    const search = await guest.get(`/?q=${encodeURIComponent(evil)}`);
    expect(search.text).toContain(esc(evil));
    const voucher = await postForm(c.agent, '/checkout/voucher', { voucherCode: '<script>v</script>' }, '/cart');
    expect(voucher.status).toBeLessThan(500);
    const after = voucher.status === 303 ? await c.agent.get(voucher.headers.location) : voucher;
    expectNoRawMarkup(after.text, 'voucher');
  });
});
