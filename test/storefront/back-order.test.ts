import { newAgent, postForm, productId, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const allow = (on: boolean) => t.sql('update shops set allow_out_of_stock_orders = $1', [on]);
const setStock = (number: string, units: number) => t.sql('update stock_levels set quantity = case when location_id = (select min(location_id) from stock_levels where product_id = (select id from products where number = $1)) then $2 else 0 end where product_id = (select id from products where number = $1)', [number, units]);
const cardOf = (html: string, number: string) => html.split('<li class="card product-card">').find((c) => c.includes(`/products/${number}"`)) ?? '';

describe('ordering out-of-stock products', () => {
  it('when the shop does not allow it, an out-of-stock product is "Out of stock" with no add-to-basket', async () => {
    await allow(false);
    await setStock('P-1001', 0);
    const visitor = newAgent(t);
    const product = await visitor.get('/products/P-1001').expect(200);
    expect(product.text).toContain('Out of stock');
    expect(product.text).not.toContain('action="/cart/add"');
    const card = cardOf((await visitor.get('/?q=P-1001').expect(200)).text, 'P-1001');
    expect(card).toContain('Out of stock');
    expect(card).not.toContain('Add to basket');
  });

  it('when the shop allows it, product page, list and basket offer it "on back order"', async () => {
    await allow(true);
    await setStock('P-1001', 0);
    await setStock('P-1002', 2);
    const visitor = newAgent(t);
    const product = await visitor.get('/products/P-1001').expect(200);
    expect(product.text).toContain('On back order');
    expect(product.text).toContain('action="/cart/add"');
    const card = cardOf((await visitor.get('/?q=P-1001').expect(200)).text, 'P-1001');
    expect(card).toContain('On back order');
    expect(card).toContain('Add to basket');

    expect((await postForm(visitor, '/cart/add', { productId: await productId(t, 'P-1001'), quantity: 3 }, '/products/P-1001')).status).toBe(303);
    expect((await postForm(visitor, '/cart/add', { productId: await productId(t, 'P-1002'), quantity: 5 }, '/products/P-1002')).status).toBe(303);
    const basket = (await visitor.get('/cart').expect(200)).text;
    const row = (n: string) => basket.split('<tr>').find((r) => r.includes(`/products/${n}"`)) ?? '';
    expect(row('P-1001')).toContain('<span class="stock-back-order">On back order</span>');
    expect(row('P-1002')).toContain('<span class="stock-back-order">3 of 5 on back order</span>');
  });
});
