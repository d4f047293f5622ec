import { DECLINED_CARD, addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { login, newAgent, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await t.sql(`update stock_levels set quantity = 100 where product_id in (select id from products where number in ('P-1003', 'P-1004'))`);
});
afterAll(async () => { await t.close(); });

const numberOf = async (token: string) => (await t.sql<{ number: string }>(`select number from orders where anonymous_token = $1::uuid`, [token]))[0]?.number;
const guestToken = (agent: ReturnType<typeof newAgent>) => {
  const cookie = agent.jar.getCookie('basket', { domain: '127.0.0.1', path: '/', secure: false, script: false });
  if (!cookie) throw new Error('no basket cookie');
  return cookie.value;
};
const untouchedFor = (days: number, numbers: string[]) =>
  t.sql(`update orders set updated_at = now() - make_interval(days => $1) where number = any($2::text[])`, [days, numbers]);

describe('guest baskets no cookie can reach', () => {
  it('are deleted once unchanged for longer than the basket cookie lives; recent, placed, signed-in and paying ones stay', async () => {
    // A guest's cart, a guest at the review step whose card was declined, one whose declined authorization still waits to be voided,
    // a guest's placed order, a guest who was here yesterday, and a signed-in shopper's basket.
    const cartOnly = newAgent(t);
    await addToBasket(t, cartOnly, 'P-1003');
    const declined = newAgent(t);
    await addToBasket(t, declined, 'P-1004');
    const declinedNumber = await checkoutToReview(t, declined);
    expect((await place(declined, declinedNumber, DECLINED_CARD)).status).toBe(402);
    const voiding = newAgent(t);
    await addToBasket(t, voiding, 'P-1004');
    const voidingNumber = await checkoutToReview(t, voiding);
    expect((await place(voiding, voidingNumber, DECLINED_CARD)).status).toBe(402);
    await t.sql(`update payment_attempts set needs_void = true where order_id = (select id from orders where number = $1)`, [voidingNumber]);
    const placed = newAgent(t);
    await addToBasket(t, placed, 'P-1003');
    const placedNumber = await checkoutToReview(t, placed, { payment: 'INVOICE' });
    expect((await place(placed, placedNumber, {})).status).toBe(303);
    const recent = newAgent(t);
    await addToBasket(t, recent, 'P-1003');
    const member = newAgent(t);
    await login(member, 'shopper@orderflow.test', 'shopper-pass-1');
    await addToBasket(t, member, 'P-1003');
    const [{ number: memberNumber }] = await t.sql<{ number: string }>(`select number from orders where user_id = (select id from users where email = 'shopper@orderflow.test') and basket_status = 'basket'`);

    const cartNumber = (await numberOf(guestToken(cartOnly)))!;
    const recentNumber = (await numberOf(guestToken(recent)))!;
    await untouchedFor(31, [cartNumber, declinedNumber, voidingNumber, placedNumber, memberNumber]);
    await untouchedFor(29, [recentNumber]);

    expect(await t.services.carts.pruneUnreachableBaskets(1)).toBe(2);
    const left = (await t.sql<{ number: string }>(`select number from orders where number = any($1::text[])`, [[cartNumber, declinedNumber, voidingNumber, placedNumber, recentNumber, memberNumber]])).map((r) => r.number);
    expect(left.sort()).toEqual([voidingNumber, placedNumber, recentNumber, memberNumber].sort());
    // The declined basket went with its lines, its released payment attempt and the decline on record.
    const [gone] = await t.sql(`select
      (select count(*)::int from payment_attempts a where not exists (select 1 from orders o where o.id = a.order_id)) as attempts,
      (select count(*)::int from order_lines l where not exists (select 1 from orders o where o.id = l.order_id)) as lines`);
    expect(gone).toEqual({ attempts: 0, lines: 0 });
    // Its stock movements stay (the stock's history is append-only) and say what they were for.
    const product = (await (await staffAgent(t)).get('/admin/products/P-1004').expect(200)).text;
    const rows = product.split('data-testid="stock-movement"').slice(1).map((row) => row.slice(0, row.indexOf('</tr>')));
    expect(rows.filter((row) => row.includes("a guest's basket, deleted since")).map((row) => /Order placed|Reservation released/.exec(row)?.[0]).sort())
      .toEqual(['Order placed', 'Reservation released']);
    // The guest from yesterday still has a basket with the product.
    expect((await recent.get('/cart').expect(200)).text).toContain(`Basket ${recentNumber}`);
    expect(await t.services.carts.pruneUnreachableBaskets()).toBe(0);
  });
});
