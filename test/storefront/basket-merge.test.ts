import { addToBasket, startCheckout } from '../helpers/shopping';
import { login, newAgent, postForm, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

async function userBasketLines(email: string) {
  return t.sql(
    `select p.number, l.quantity from orders o join users u on u.id = o.user_id join order_lines l on l.order_id = o.id join products p on p.id = l.product_id
     where u.email = $1 and o.basket_status = 'basket' order by p.number`, [email]);
}

describe('basket merge at login', () => {
  it('merges the anonymous basket into the user basket (same product → quantities add) and deletes it', async () => {
    const earlier = newAgent(t);
    await login(earlier, 'shopper@orderflow.test', 'shopper-pass-1');
    await addToBasket(t, earlier, 'P-1031', 1);
    await addToBasket(t, earlier, 'P-1032', 1);

    const anon = newAgent(t);
    await addToBasket(t, anon, 'P-1031', 2);
    await addToBasket(t, anon, 'P-1033', 1);
    const [anonBasket] = await t.sql(`select id from orders where user_id is null and anonymous_token is not null order by id desc limit 1`);

    const res = await login(anon, 'shopper@orderflow.test', 'shopper-pass-1');
    expect(String(res.headers['set-cookie'])).toMatch(/basket=;/); // the anonymous cookie is cleared
    expect(await userBasketLines('shopper@orderflow.test')).toEqual([
      { number: 'P-1031', quantity: 3 }, { number: 'P-1032', quantity: 1 }, { number: 'P-1033', quantity: 1 },
    ]);
    expect(await t.sql('select id from orders where id = $1', [anonBasket.id])).toEqual([]);
    const [{ n }] = await t.sql(`select count(*)::int as n from orders o join users u on u.id = o.user_id where u.email = 'shopper@orderflow.test' and o.basket_status = 'basket'`);
    expect(n).toBe(1);
    expect((await anon.get('/')).text).toMatch(/data-testid="mini-cart-count">5</);
  });

  it('lets a user with no basket adopt the anonymous one', async () => {
    const anon = newAgent(t);
    await addToBasket(t, anon, 'P-1034', 2);
    const [basket] = await t.sql(`select id, number from orders where user_id is null and anonymous_token is not null order by id desc limit 1`);
    await login(anon, 'buyer1@acme.test', 'buyer-pass-1');
    const [adopted] = await t.sql('select o.number, u.email, o.anonymous_token, o.company_id from orders o join users u on u.id = o.user_id where o.id = $1', [basket.id]);
    expect(adopted).toMatchObject({ number: basket.number, email: 'buyer1@acme.test', anonymous_token: null });
    expect(adopted.company_id).not.toBeNull(); // a B2B buyer's basket belongs to the company
    // ...and enters the company's cart flow through the gate, with its history entry.
    const [moved] = await t.sql(`select h.event, f.name as flow from order_state_history h join flow_states s on s.id = h.to_state_id join flows f on f.id = s.flow_id
      where h.order_id = $1 order by h.id desc limit 1`, [basket.id]);
    expect(moved).toEqual({ event: 'adopted', flow: 'B2B cart approval' });
    expect(await userBasketLines('buyer1@acme.test')).toEqual([{ number: 'P-1034', quantity: 2 }]);
  });

  it('brings a guest who logs in during checkout back to the checkout, with the basket merged', async () => {
    const email = `midcheckout-${Date.now()}@example.test`;
    const account = newAgent(t);
    expect((await postForm(account, '/register', { name: 'Mid Checkout', email, password: 'mid-checkout-pass-1' }, '/register')).status).toBe(303);
    await addToBasket(t, account, 'P-1036', 1);

    const guest = newAgent(t);
    await addToBasket(t, guest, 'P-1035', 2);
    // Every page's "Log in" comes back to that page.
    expect((await guest.get('/products/P-1035')).text).toContain('href="/login?next=%2Fproducts%2FP-1035"');
    await startCheckout(guest);
    const addresses = await guest.get('/checkout/addresses');
    expect(addresses.text).toContain('Have an account? <a href="/login?next=%2Fcheckout%2Faddresses">Log in</a>');

    const loginPage = await guest.get('/login?next=%2Fcheckout%2Faddresses');
    expect(loginPage.text).toContain('name="next" value="/checkout/addresses"');
    const loggedIn = await postForm(guest, '/login', { email, password: 'mid-checkout-pass-1', next: '/checkout/addresses' }, '/login');
    expect(loggedIn.headers.location).toBe('/checkout/addresses');
    const back = await guest.get('/checkout/addresses');
    expect(back.status).toBe(200);
    expect(back.text).not.toContain('Have an account?');
    expect(await userBasketLines(email)).toEqual([{ number: 'P-1035', quantity: 2 }, { number: 'P-1036', quantity: 1 }]);
  });
});
