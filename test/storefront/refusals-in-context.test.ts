import type TestAgent from 'supertest/lib/agent';
import { addToBasket, checkoutToReview } from '../helpers/shopping';
import { login, newAgent, postForm, startTestApp, stockAndPrice, type TestApp } from '../helpers/test-app';

/** A shopper's refused basket or checkout action is answered on the page it was tried on, never on an error page. */
let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

async function firstLineId(agent: TestAgent): Promise<number> {
  return Number(/action="\/cart\/lines\/(\d+)"/.exec((await agent.get('/cart')).text)![1]);
}

describe('refusals in the basket and at checkout', () => {
  it('shows a refused quantity by its basket line, with the number as typed, and leaves the basket as it was', async () => {
    await stockAndPrice(t, ['P-1031'], 10_000, 2500, 5); // 5 at each stock location
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1031', 2);
    const lineId = await firstLineId(agent);

    const overStock = await postForm(agent, `/cart/lines/${lineId}`, { quantity: 70 }, '/cart');
    expect(overStock.status).toBe(409);
    expect(overStock.text).toMatch(new RegExp(`data-testid="refused-line-${lineId}">Only \\d+ × [^<]* in stock`));
    // The input is tied to its message, for a screen reader as for the eye.
    expect(overStock.text).toContain(`id="qty-${lineId}" name="quantity" type="number" min="1" max="9999" value="70" inputmode="numeric" required aria-invalid="true" aria-describedby="refused-line-${lineId}"`);
    expect(overStock.text).toContain(`id="refused-line-${lineId}"`);
    expect(overStock.text).toContain('Go to checkout'); // the basket is there, with its way on
    expect(overStock.text).not.toContain('That did not work');

    const notANumber = await postForm(agent, `/cart/lines/${lineId}`, { quantity: 'abc' }, '/cart');
    expect(notANumber.status).toBe(422);
    expect(notANumber.text).toContain(`data-testid="refused-line-${lineId}">Please check quantity`);
    expect(notANumber.text).toContain('value="abc"');
    const [line] = await t.sql('select quantity from order_lines where id = $1', [lineId]);
    expect(line.quantity).toBe(2);
  });

  it('sends a shopper who opens checkout without a basket to the basket page, saying why', async () => {
    const agent = newAgent(t);
    for (const open of [() => agent.get('/checkout/addresses'), () => agent.get('/checkout/review'), () => postForm(agent, '/checkout', {}, '/')]) {
      const res = await open();
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe('/cart');
      expect((await agent.get('/cart')).text).toContain('Your basket is empty. Add a product before checking out.');
    }
    // The same for a signed-in shopper's quote request from an empty basket (one mapping, in the error handler).
    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    await t.sql(`update orders set deleted = true, basket_status = null where user_id = (select id from users where email = 'shopper@orderflow.test') and not completed`);
    const quote = await postForm(shopper, '/checkout/quote', { customerComment: 'A better price?' }, '/');
    expect(quote.status).toBe(303);
    expect(quote.headers.location).toBe('/cart');
    expect((await shopper.get('/cart')).text).toContain('Your basket is empty.');
  });

  it('names every address field that needs attention, and an empty e-mail as required', async () => {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1035');
    const res = await postForm(agent, '/checkout/addresses', {
      billing_name: 'Kim Customer', billing_address: '', billing_zip: '', billing_city: 'Copenhagen', billing_country: 'DK', billing_email: '', deliverySameAsBilling: 'on',
    }, '/checkout/addresses');
    expect(res.status).toBe(422);
    expect(res.text).toContain('Please check the billing address: Street address is required; Postal code is required; E-mail is required.');
    expect(res.text).toContain('value="Kim Customer"');
  });

  it('shows the country of an address by its name on the review step and the receipt', async () => {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1036');
    await checkoutToReview(t, agent, { payment: 'INVOICE' });
    expect((await agent.get('/checkout/review')).text).toMatch(/2100 Copenhagen<br>Denmark<br>kim@example.test<\/address>/);
  });

  it('shows a voucher code that is not valid by the voucher field on the review step, as typed', async () => {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1033');
    await checkoutToReview(t, agent, { payment: 'INVOICE' });
    const refused = await postForm(agent, '/checkout/voucher', { voucherCode: 'NOPE123' }, '/checkout/review');
    expect(refused.status).toBe(422);
    expect(refused.text).toContain('data-testid="refused-voucher">The voucher code &quot;NOPE123&quot; is not valid.');
    expect(refused.text).toContain('name="voucherCode" value="NOPE123" maxlength="36" autocomplete="off" aria-invalid="true" aria-describedby="refused-voucher"');
    expect(refused.text).toContain('Place order');
    expect(refused.text).not.toContain('data-testid="refused-place"');
    expect((await postForm(agent, '/checkout/voucher', { voucherCode: 'WELCOME10' }, '/checkout/review')).status).toBe(303);
    const [order] = await t.sql(`select o.voucher_code from orders o join order_lines l on l.order_id = o.id where l.product_number = 'P-1033'`);
    expect(order.voucher_code).toBe('WELCOME10');
  });

  it("keeps no copy of a basket, checkout or signed-in page in the browser's cache, so Back after logging out shows nothing", async () => {
    const guest = newAgent(t);
    await addToBasket(t, guest, 'P-1034');
    for (const path of ['/cart', '/checkout/addresses']) expect((await guest.get(path).expect(200)).headers['cache-control']).toBe('no-store');
    // A product page is the same for every guest: the browser may keep it.
    expect((await guest.get('/products/P-1034').expect(200)).headers['cache-control']).not.toBe('no-store');

    const shopper = newAgent(t);
    await login(shopper, 'shopper@orderflow.test', 'shopper-pass-1');
    for (const path of ['/products/P-1034', '/customer-center', '/customer-center?CC=Orders']) {
      expect((await shopper.get(path).expect(200)).headers['cache-control']).toBe('no-store');
    }
  });
});
