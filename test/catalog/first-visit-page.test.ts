import request from 'supertest';
import { newAgent, productId, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp({ catalogCacheMs: 400 }); });
afterAll(async () => { await t.close(); });

const tokenOn = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
const cookieNames = (res: request.Response) => ((res.headers['set-cookie'] as unknown as string[] | undefined) ?? []).map((c) => c.split('=')[0]);
const sessionRows = async () => Number((await t.sql<{ n: string }>('select count(*) as n from session'))[0].n);
const stockShown = (html: string) => Number(/(\d+) in stock/.exec(html)?.[1]);

describe('the product page on a first visit (no session, no basket yet)', () => {
  it('is served without storing a session, and its add-to-basket form works', async () => {
    const before = await sessionRows();
    const agent = newAgent(t);
    const page = await agent.get('/products/P-1013').expect(200);
    expect(cookieNames(page)).toEqual(['orderflow.csrf']);
    expect(page.headers['cache-control']).toBe('private, no-cache');
    expect(await sessionRows()).toBe(before);

    const token = tokenOn(page.text)!;
    const add = await agent.post('/cart/add').type('form').send({ _csrf: token, productId: await productId(t, 'P-1013'), quantity: 2 });
    expect(add.status).toBe(303);
    expect(cookieNames(add).sort()).toEqual(['basket', 'orderflow.flash']); // the message in its cookie, still no session
    const basket = await agent.get('/cart').expect(200);
    expect(basket.text).toContain('P-1013');
    expect(basket.text).toContain('Added to your basket.');
    // From now on the visitor has a basket: the page is rendered for them (their count), with the same visitor's token.
    const again = await agent.get('/products/P-1013').expect(200);
    expect(tokenOn(again.text)).toBe(token);
    expect(again.text).toMatch(/data-testid="mini-cart-count">2</);
    expect(await sessionRows()).toBe(before);
  });

  it('serves returning guests their own basket count and their message, still without a session', async () => {
    const before = await sessionRows();
    const count = (html: string) => Number(/data-testid="mini-cart-count">(\d+)</.exec(html)?.[1]);
    const addFromPage = async (agent: ReturnType<typeof newAgent>, quantity: number) => {
      const token = tokenOn((await agent.get('/products/P-1014').expect(200)).text)!;
      const add = await agent.post('/cart/add').type('form')
        .send({ _csrf: token, productId: await productId(t, 'P-1014'), quantity, returnTo: 'product', productNumber: 'P-1014' });
      expect(add.headers.location).toBe('/products/P-1014');
      return agent.get('/products/P-1014').expect(200);
    };
    const kim = newAgent(t);
    const sam = newAgent(t);
    const kimsPage = await addFromPage(kim, 2);
    expect(kimsPage.text).toContain('Added to your basket.');
    expect(count(kimsPage.text)).toBe(2);
    const samsPage = await addFromPage(sam, 3);
    expect(count(samsPage.text)).toBe(3);
    // The same product, within the cache time: each guest sees their own count, the message only once.
    const kimAgain = await kim.get('/products/P-1014').expect(200);
    expect(count(kimAgain.text)).toBe(2);
    expect(kimAgain.text).not.toContain('Added to your basket.');
    expect(tokenOn(kimAgain.text)).toBe(tokenOn(kimsPage.text));
    expect(count((await sam.get('/products/P-1014').expect(200)).text)).toBe(3);
    expect(count((await addFromPage(kim, 1)).text)).toBe(3);
    expect(await sessionRows()).toBe(before);
  });

  it('still accepts the first-visit token after the visitor looked at other pages (back button)', async () => {
    const agent = newAgent(t);
    const token = tokenOn((await agent.get('/products/P-1020').expect(200)).text)!;
    await agent.get('/login').expect(200); // a page with a form: still no session, the same visitor's token
    await agent.post('/cart/add').type('form').send({ _csrf: token, productId: await productId(t, 'P-1020'), quantity: 1 }).expect(303);
  });

  it('refuses a first-visit token without its cookie, from another visitor, or once the visitor has a session (403)', async () => {
    const id = await productId(t, 'P-1013');
    const visitorA = newAgent(t);
    const tokenA = tokenOn((await visitorA.get('/products/P-1013')).text)!;
    const visitorB = newAgent(t);
    await visitorB.get('/products/P-1013').expect(200);

    await request(t.app).post('/cart/add').type('form').send({ _csrf: tokenA, productId: id, quantity: 1 }).expect(403);
    await visitorB.post('/cart/add').type('form').send({ _csrf: tokenA, productId: id, quantity: 1 }).expect(403);
    await visitorA.post('/cart/add').type('form').send({ _csrf: tokenA + 'x', productId: id, quantity: 1 }).expect(403);
    await visitorB.post('/login').type('form').send({ _csrf: tokenA, email: 'shopper@orderflow.test', password: 'shopper-pass-1' }).expect(403);
    await visitorA.post('/login').type('form').send({ _csrf: tokenA, email: 'shopper@orderflow.test', password: 'shopper-pass-1' }).expect(303);
    await visitorA.post('/cart/empty').type('form').send({ _csrf: tokenA }).expect(403); // signed in now: the session's token only
    expect(Number((await t.sql<{ n: string }>("select count(*) as n from orders where anonymous_token is not null and created_at > now() - interval '1 minute' and id not in (select order_id from order_lines)"))[0].n)).toBe(0);
  });

  it('shows a stock change at most catalogCacheMs later, and unknown products as 404', async () => {
    const id = await productId(t, 'P-1021');
    await t.sql('update stock_levels set quantity = 7 where product_id = $1', [id]);
    await new Promise((r) => setTimeout(r, 450));
    const first = stockShown((await request(t.app).get('/products/P-1021').expect(200)).text);
    await t.sql('update stock_levels set quantity = 3 where product_id = $1', [id]);
    await new Promise((r) => setTimeout(r, 450));
    const later = stockShown((await request(t.app).get('/products/P-1021').expect(200)).text);
    expect([first, later]).toEqual([7 * (await locations(id)), 3 * (await locations(id))]);

    const missing = await request(t.app).get('/products/NO-SUCH-1').expect(404);
    expect(missing.text).toContain('The product was not found');
  });
});

async function locations(productIdValue: number): Promise<number> {
  return Number((await t.sql<{ n: string }>('select count(*) as n from stock_levels where product_id = $1', [productIdValue]))[0].n);
}
