import { newAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

describe('catalog', () => {
  it('lists products by group and finds them by name or number, page by page', async () => {
    const agent = newAgent(t);
    const all = await agent.get('/').expect(200);
    expect(all.text).toContain('50 products');
    expect(all.text).toContain('Page 1 of 5');

    const office = await agent.get('/?group=office').expect(200);
    expect(office.text).toContain('Fountain pen');
    expect(office.text).not.toContain('Espresso beans');

    const byName = await agent.get('/?q=fountain').expect(200);
    expect(byName.text).toContain('1 product matching');
    const [pen] = await t.sql('select number from products where name = $1', ['Fountain pen']);
    const byNumber = await agent.get(`/?q=${pen.number}`).expect(200);
    expect(byNumber.text).toContain('Fountain pen');
  });

  it('shows a product with its price incl. and excl. VAT and its stock', async () => {
    await t.sql(`update products set price_minor = 10000, vat_rate_bp = 2500 where number = 'P-1013'`);
    const res = await newAgent(t).get('/products/P-1013').expect(200);
    expect(res.text).toMatch(/data-testid="price-incl">125.00 DKK/);
    expect(res.text).toMatch(/data-testid="price-excl">100.00 DKK/);
    expect(res.text).toMatch(/in stock/);
  });

  it('answers 404 with a clear page for an unknown product and treats search metacharacters as text', async () => {
    const res = await newAgent(t).get('/products/NOPE-1').expect(404);
    expect(res.text).toContain('The product was not found.');
    const weird = await newAgent(t).get("/?q=%25'%3B--").expect(200);
    expect(weird.text).toContain('0 products');
    // Addresses no product can have (a trailing space, a NUL) are products not found, not a form to check.
    for (const path of ['/products/P-1013%20', '/products/%00']) {
      const odd = await newAgent(t).get(path);
      expect({ path, status: odd.status }).toEqual({ path, status: 404 });
      expect(odd.text).toContain('The product was not found.');
    }
    // A search longer than the box allows searches what fits in it.
    const long = await newAgent(t).get(`/?q=fountain${'x'.repeat(200)}`).expect(200);
    expect(long.text).toContain(`value="fountain${'x'.repeat(92)}"`);
  });
});
