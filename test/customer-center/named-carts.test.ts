import type TestAgent from 'supertest/lib/agent';
import { addToBasket } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const CC = '/customer-center?CC=Carts';
const cartsOf = (email: string) => t.sql(
  `select o.number, o.name, o.basket_status from orders o join users u on u.id = o.user_id where u.email = $1 and o.type = 'cart' and not o.deleted order by o.id`, [email]);
async function createCart(agent: TestAgent, name: string): Promise<string> {
  const res = await postForm(agent, '/customer-center/carts', { name }, CC);
  expect(res.status).toBe(303);
  const [row] = await t.sql(`select number from orders where name = $1 order by id desc limit 1`, [name]);
  return row.number;
}
async function freshBuyer(email: string, password: string) {
  const agent = newAgent(t);
  await login(agent, email, password);
  await t.sql(`update orders set deleted = true, basket_status = null where user_id = (select id from users where email = $1)`, [email]);
  return agent;
}

describe('named carts in the customer center', () => {
  it('creates, renames, copies and deletes named carts', async () => {
    const sam = await freshBuyer('shopper@orderflow.test', 'shopper-pass-1');
    await addToBasket(t, sam, 'P-1045', 2);
    const spring = await createCart(sam, 'Spring collection');
    expect(await cartsOf('shopper@orderflow.test')).toEqual([
      expect.objectContaining({ basket_status: 'basket' }), { number: spring, name: 'Spring collection', basket_status: 'saved' },
    ]);
    await postForm(sam, `/customer-center/carts/${spring}/rename`, { name: 'Spring 2027' }, CC);
    const [basket] = await cartsOf('shopper@orderflow.test');
    await postForm(sam, `/customer-center/carts/${basket.number}/copy`, {}, CC);
    const carts = await cartsOf('shopper@orderflow.test');
    expect(carts.map((c) => [c.name, c.basket_status])).toEqual([['', 'basket'], ['Spring 2027', 'saved'], [`Copy of ${basket.number}`, 'saved']]);
    const [copied] = await t.sql(`select l.quantity, p.number from order_lines l join orders o on o.id = l.order_id join products p on p.id = l.product_id where o.number = $1`, [carts[2].number]);
    expect(copied).toEqual({ quantity: 2, number: 'P-1045' });

    await postForm(sam, `/customer-center/carts/${spring}/delete`, {}, CC);
    expect((await cartsOf('shopper@orderflow.test')).map((c) => c.number)).not.toContain(spring);
    const page = await sam.get(CC);
    expect(page.text).not.toContain(`data-testid="cart-${spring}"`);

    const blank = await postForm(sam, '/customer-center/carts', { name: '   ' }, CC);
    expect(blank.status).toBe(422);
    expect(blank.text).toContain('is required');
  });

  it('shows a refused cart name by the form it was typed in, on the carts tab, as typed', async () => {
    const bea = await freshBuyer('buyer1@acme.test', 'buyer-pass-1');
    const blank = await postForm(bea, '/customer-center/carts', { name: '   ' }, CC);
    expect(blank.status).toBe(422);
    expect(blank.text).toContain('data-testid="refused-create-cart">Please check name: is required');
    expect(blank.text).toContain('Create cart');
    const number = await createCart(bea, 'Autumn range');
    const longName = 'x'.repeat(81);
    const rename = await postForm(bea, `/customer-center/carts/${number}/rename`, { name: longName }, CC);
    expect(rename.status).toBe(422);
    expect(rename.text).toContain(`data-testid="refused-rename-${number}">Please check name: must be at most 80 characters`);
    expect(rename.text).toContain(`id="rename-${number}" name="name" value="${longName}"`);
    expect((await cartsOf('buyer1@acme.test')).map((c) => c.name)).toEqual(['Autumn range']);
  });

  it("lets only a cart's owner or a company admin delete a company cart; a colleague is told why by the button", async () => {
    const bea = await freshBuyer('buyer1@acme.test', 'buyer-pass-1'); // a buyer
    const bo = await freshBuyer('buyer2@acme.test', 'buyer-pass-2'); // a buyer and the company's admin
    const bos = await createCart(bo, 'Bo keeps this');
    const refused = await postForm(bea, `/customer-center/carts/${bos}/delete`, {}, CC);
    expect(refused.status).toBe(403);
    expect(refused.text).toContain(`data-testid="refused-delete-${bos}">Bo keeps this is a colleague&#39;s cart: only they or your company&#39;s administrators can delete it.`);
    expect((await t.sql('select deleted from orders where number = $1', [bos]))[0].deleted).toBe(false);
    const beas = await createCart(bea, 'Bea tidies up');
    expect((await postForm(bo, `/customer-center/carts/${beas}/delete`, {}, CC)).status).toBe(303);
    expect((await postForm(bo, `/customer-center/carts/${bos}/delete`, {}, CC)).status).toBe(303);
    expect((await t.sql('select count(*)::int as n from orders where number = any($1) and deleted', [[bos, beas]]))[0].n).toBe(2);
  });

  it('keeps a cart whose checkout was started among the carts when another cart is made active: it is a cart again', async () => {
    const bo = await freshBuyer('buyer2@acme.test', 'buyer-pass-2');
    const first = await createCart(bo, 'Office supplies');
    await postForm(bo, `/customer-center/carts/${first}/activate`, {}, CC);
    await addToBasket(t, bo, 'P-1009');
    expect((await postForm(bo, '/checkout', {}, '/cart')).status).toBe(303); // the cart became an order in checkout
    const [inCheckout] = await t.sql(`select o.id, o.number, o.type from orders o join order_lines l on l.order_id = o.id where o.name = 'Office supplies' and not o.deleted`);
    expect(inCheckout.type).toBe('order');
    // While its checkout runs it is listed among the carts, with the way back into checkout.
    const listed = (await bo.get(CC)).text;
    expect(listed).toContain(`data-testid="in-checkout-${inCheckout.number}"`);
    expect(listed).toMatch(/<span class="basket-label">Your active basket, in checkout<\/span>[\s\S]*?<a class="button" href="\/checkout\/addresses">Continue checkout<\/a>/);
    const second = await createCart(bo, 'Kitchen');
    expect((await postForm(bo, `/customer-center/carts/${second}/activate`, {}, CC)).status).toBe(303);

    const [back] = await t.sql('select number, type, basket_status, completed from orders where id = $1', [inCheckout.id]);
    expect(back).toMatchObject({ type: 'cart', basket_status: 'saved', completed: false });
    expect(back.number).toMatch(/^CART\d+$/);
    const [entry] = await t.sql(`select message from order_state_history where order_id = $1 and event = 'downgraded'`, [inCheckout.id]);
    expect(entry.message).toBe(`Order ${inCheckout.number} went back to cart ${back.number}: another cart (${second}) was made the active basket.`);
    expect((await bo.get(CC)).text).toContain(`<h2>Office supplies <span class="muted">${back.number}</span>`);
  });

  it('switches the active basket in one step: the old one is saved, new products go into the new one', async () => {
    const sam = await freshBuyer('shopper@orderflow.test', 'shopper-pass-1');
    await addToBasket(t, sam, 'P-1046');
    const [first] = await cartsOf('shopper@orderflow.test');
    const second = await createCart(sam, 'Office supplies');
    expect((await postForm(sam, `/customer-center/carts/${second}/activate`, {}, CC)).status).toBe(303);
    expect((await cartsOf('shopper@orderflow.test')).map((c) => [c.number, c.basket_status])).toEqual([[first.number, 'saved'], [second, 'basket']]);
    await addToBasket(t, sam, 'P-1047');
    const [line] = await t.sql(`select o.number from order_lines l join orders o on o.id = l.order_id join products p on p.id = l.product_id where p.number = 'P-1047' order by l.id desc limit 1`);
    expect(line.number).toBe(second);
  });

  it('leaves exactly one basket when two carts are made active at the same time', async () => {
    const sam = await freshBuyer('shopper@orderflow.test', 'shopper-pass-1');
    const a = await createCart(sam, 'Race A');
    const b = await createCart(sam, 'Race B');
    const c = await createCart(sam, 'Race C');
    const token = await csrfToken(sam, CC);
    const results = await Promise.all([a, b, c, a, b].map((n) => sam.post(`/customer-center/carts/${n}/activate`).type('form').send({ _csrf: token })));
    expect(results.map((r) => r.status)).toEqual([303, 303, 303, 303, 303]);
    const baskets = (await cartsOf('shopper@orderflow.test')).filter((x) => x.basket_status === 'basket');
    expect(baskets).toHaveLength(1);
  });

  it("shares a company's carts between its buyers; each line shows who added it", async () => {
    const bea = await freshBuyer('buyer1@acme.test', 'buyer-pass-1');
    const bo = await freshBuyer('buyer2@acme.test', 'buyer-pass-2');
    const shared = await createCart(bea, 'Shared order');
    await postForm(bea, `/customer-center/carts/${shared}/activate`, {}, CC);
    await addToBasket(t, bea, 'P-1048');

    const boPage = await bo.get(CC);
    expect(boPage.text).toContain('Shared order');
    expect(boPage.text).toContain('added by Bea Buyer');
    await postForm(bo, `/customer-center/carts/${shared}/activate`, {}, CC);
    await addToBasket(t, bo, 'P-1049');
    const lines = await t.sql(`select p.number, u.name from order_lines l join orders o on o.id = l.order_id join products p on p.id = l.product_id join users u on u.id = l.added_by_user_id where o.number = $1 order by l.id`, [shared]);
    expect(lines).toEqual([{ number: 'P-1048', name: 'Bea Buyer' }, { number: 'P-1049', name: 'Bo Buyer' }]);
    expect((await bea.get(CC)).text).toContain('Held by Bo Buyer');
  });

  it("answers 404 for someone else's cart on every cart action and changes nothing", async () => {
    const bea = await freshBuyer('buyer1@acme.test', 'buyer-pass-1');
    const mine = await createCart(bea, 'Acme private');
    const sam = newAgent(t);
    await login(sam, 'shopper@orderflow.test', 'shopper-pass-1');
    for (const action of ['rename', 'copy', 'delete', 'activate']) {
      const res = await postForm(sam, `/customer-center/carts/${mine}/${action}`, { name: 'hijacked' }, CC);
      expect(res.status).toBe(404);
    }
    const [row] = await t.sql('select name, deleted, basket_status, user_id from orders where number = $1', [mine]);
    expect(row).toMatchObject({ name: 'Acme private', deleted: false, basket_status: 'saved' });
    expect((await sam.get(CC)).text).not.toContain(mine);
  });
});

describe('staff working on carts', () => {
  it('lets staff change quantities, remove and add lines of a cart; the buyer sees it', async () => {
    const bea = await freshBuyer('buyer1@acme.test', 'buyer-pass-1');
    await addToBasket(t, bea, 'P-1045', 2);
    await addToBasket(t, bea, 'P-1046', 1);
    const [cart] = await cartsOf('buyer1@acme.test');
    const lines = await t.sql(`select l.id, p.number from order_lines l join orders o on o.id = l.order_id join products p on p.id = l.product_id where o.number = $1 order by l.id`, [cart.number]);
    const staff = await staffAgent(t);
    const page = await staff.get(`/admin/carts?company=${(await t.sql(`select id from companies where customer_number = 'C-10001'`))[0].id}`);
    expect(page.text).toContain(cart.number);
    const res = await postForm(staff, `/admin/carts/${cart.number}/lines`, { [`qty_${lines[0].id}`]: 5, [`qty_${lines[1].id}`]: 0, addProductNumber: 'P-1047', addQuantity: 2 }, `/admin/carts/${cart.number}`);
    expect(res.status).toBe(303);
    const after = await t.sql(`select p.number, l.quantity, u.name from order_lines l join orders o on o.id = l.order_id join products p on p.id = l.product_id left join users u on u.id = l.added_by_user_id where o.number = $1 order by l.id`, [cart.number]);
    expect(after).toEqual([{ number: 'P-1045', quantity: 5, name: 'Bea Buyer' }, { number: 'P-1047', quantity: 2, name: 'Ada Admin' }]);
    expect((await bea.get(CC)).text).toContain('added by Ada Admin');
    const bad = await postForm(staff, `/admin/carts/${cart.number}/lines`, { [`qty_${lines[0].id}`]: -1, addProductNumber: 'P-1046' }, `/admin/carts/${cart.number}`);
    expect(bad.status).toBe(422);
    // Refused on the cart's page by its Save button, the typed quantity kept and marked.
    expect(bad.text).toMatch(/data-testid="refused-lines">Nothing was saved: a quantity cannot be negative/);
    expect(bad.text).toContain(`name="qty_${lines[0].id}" type="number" min="0" max="9999" value="-1" aria-invalid="true"`);
    expect(bad.text).toContain('value="P-1046"');
    const buyerTry = await postForm(bea, `/admin/carts/${cart.number}/lines`, { [`qty_${lines[0].id}`]: 1 }, CC);
    expect(buyerTry.status).toBe(403);
  });
});
