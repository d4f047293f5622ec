import type TestAgent from 'supertest/lib/agent';
import { addToBasket, upcomingOrderNumber } from '../helpers/shopping';
import { csrfToken, login, newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
let productPrice: number;
beforeAll(async () => {
  t = await startTestApp();
  await t.sql(`update stock_levels set quantity = greatest(quantity, 1000) where product_id = (select id from products where number = 'P-1015')`);
  const [p] = await t.sql(`select id, price_minor from products where number = 'P-1015'`);
  productPrice = Number(p.price_minor);
  // Periods in the past and the future: today the product's own price applies.
  await t.sql(`insert into product_prices (product_id, valid_from, valid_to, price_minor)
    values ($1, '2020-01-01', '2020-12-31', 11111), ($1, '2031-12-01', '2032-05-31', 12345), ($1, '2032-06-01', null, 99999)`, [p.id]);
});
afterAll(async () => { await t.close(); });

async function setAllowContextDates(allow: boolean) {
  const staff = await staffAgent(t);
  const [shop] = await t.sql(`select name, order_prefix, order_number_padding, cart_prefix from shops`);
  const form: Record<string, string | number> = {
    name: shop.name, orderPrefix: shop.order_prefix, orderNextNumber: await upcomingOrderNumber(t), orderNumberPadding: shop.order_number_padding, cartPrefix: shop.cart_prefix,
    ...(allow ? { allowContextDates: 'on' } : {}),
  };
  expect((await postForm(staff, '/admin/shop-settings', form, '/admin/shop-settings')).status).toBe(303);
  const page = await staff.get('/admin/shop-settings');
  expect(page.text).toContain('Allow different context dates');
  expect(page.text).toMatch(allow ? /name="allowContextDates" checked/ : /name="allowContextDates" aria-describedby/);
}

/** The basket line of P-1015 for a user, after the agent added one more. */
async function basketLine(email: string) {
  const [row] = await t.sql(
    `select l.unit_price_minor, o.price_calculation_date from order_lines l join orders o on o.id = l.order_id join users u on u.id = o.user_id
     where u.email = $1 and o.basket_status = 'basket' and not o.deleted and l.product_number = 'P-1015'`, [email]);
  return { unitPriceMinor: Number(row.unit_price_minor), priceCalculationDate: row.price_calculation_date as Date };
}

describe('context date (OrderTime)', () => {
  it('ignores OrderTime while the shop setting is off', async () => {
    await setAllowContextDates(false);
    const staff = await staffAgent(t);
    const page = await staff.get('/?OrderTime=12/24/2031');
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('Prices as of');
    await addToBasket(t, staff, 'P-1015');
    expect((await basketLine('admin@orderflow.test')).unitPriceMinor).toBe(productPrice);
  });

  it('prices a staff user\'s cart at the dated price valid on the context date, in every date spelling', async () => {
    await setAllowContextDates(true);
    const staff = await staffAgent(t);
    const page = await staff.get('/?OrderTime=12/24/2031');
    expect(page.text).toContain('Prices as of 2031-12-24');
    await addToBasket(t, staff, 'P-1015');
    let line = await basketLine('admin@orderflow.test');
    expect(line.unitPriceMinor).toBe(12345);
    expect(new Date(line.priceCalculationDate).toISOString().slice(0, 10)).toBe('2031-12-24');
    const cart = await staff.get('/cart');
    expect(cart.text).toContain('Prices as of 2031-12-24');

    expect((await staff.get('/products/P-1015?OrderTime=06.02.2032')).text).toContain('Prices as of 2032-06-02');
    await addToBasket(t, staff, 'P-1015');
    expect((await basketLine('admin@orderflow.test')).unitPriceMinor).toBe(99999);

    // Before the first dated price: the product's own price.
    expect((await staff.get('/?OrderTime=01-15-2019')).text).toContain('Prices as of 2019-01-15');
    await addToBasket(t, staff, 'P-1015');
    expect((await basketLine('admin@orderflow.test')).unitPriceMinor).toBe(productPrice);

    // Clearing the context date goes back to today's price.
    // Setting a context date reprices the open basket at once.
    await staff.get('/?OrderTime=12-24-2031');
    expect((await basketLine('admin@orderflow.test')).unitPriceMinor).toBe(12345);
    const token = await csrfToken(staff, '/');
    const cleared = await staff.post('/context-date/clear').type('form').send({ _csrf: token, next: '/cart' });
    expect(cleared.status).toBe(303);
    expect(cleared.headers.location).toBe('/cart');
    expect((await staff.get('/cart')).text).not.toContain('Prices as of');
    await addToBasket(t, staff, 'P-1015');
    line = await basketLine('admin@orderflow.test');
    expect(line.unitPriceMinor).toBe(productPrice);
    expect(Date.now() - new Date(line.priceCalculationDate).getTime()).toBeLessThan(60_000);
  });

  it('ignores a shopper\'s OrderTime', async () => {
    await setAllowContextDates(true);
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    const page = await shopper.get('/?OrderTime=12/24/2031');
    expect(page.status).toBe(200);
    expect(page.text).not.toContain('Prices as of');
    await addToBasket(t, shopper, 'P-1015');
    expect((await basketLine('shopper@orderflow.test')).unitPriceMinor).toBe(productPrice);
    const guest = newAgent(t);
    expect((await guest.get('/?OrderTime=12/24/2031')).text).not.toContain('Prices as of');
  });

  it('refuses bad dates with a message and keeps the previous context date', async () => {
    await setAllowContextDates(true);
    const staff = await staffAgent(t);
    for (const bad of ['13/45/2026', '02/30/2026', '2031-12-24', '12/24-2026', 'tomorrow', '']) {
      const page = await staff.get(`/?OrderTime=${encodeURIComponent(bad)}`);
      expect(page.status).toBe(200);
      expect(page.text).toContain('OrderTime must be a date written as MM/dd/yyyy');
      expect(page.text).not.toContain('Prices as of');
    }
    await staff.get('/?OrderTime=12/24/2031');
    const page = await staff.get('/?OrderTime=99/99/9999');
    expect(page.text).toContain('OrderTime must be a date');
    expect(page.text).toContain('Prices as of 2031-12-24');
  });
});
