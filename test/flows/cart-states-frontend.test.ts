import type TestAgent from 'supertest/lib/agent';
import { addToBasket } from '../helpers/shopping';
import { csrfToken, login, newAgent, startTestApp, waitFor, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const stateId = async (flow: string, name: string) =>
  (await t.sql('select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = $1 and s.name = $2', [flow, name]))[0].id as number;
const cartState = async (number: string) =>
  (await t.sql('select s.name from orders o join flow_states s on s.id = o.state_id where o.number = $1', [number]))[0]?.name;

/** Posts the seeds' form exactly: id ChangeDraftStatusForm, fields CartID and StateId, to /customer-center?CC=Carts. */
async function changeDraftStatus(agent: TestAgent, cartId: string, stateIdValue: number | string) {
  const token = await csrfToken(agent, '/customer-center?CC=Carts');
  return agent.post('/customer-center?CC=Carts').type('form').send({ _csrf: token, CartID: cartId, StateId: stateIdValue });
}

async function buyerBasket(agent: TestAgent, email: string): Promise<string> {
  await addToBasket(t, agent, 'P-1043');
  const [row] = await t.sql(`select o.number from orders o join users u on u.id = o.user_id where u.email = $1 and o.basket_status = 'basket'`, [email]);
  return row.number;
}

describe('cart states from the customer center (ChangeDraftStatusForm)', () => {
  it('a company cart starts in the company flow, cannot be checked out until approved, and the approvers are mailed', async () => {
    const bea = newAgent(t);
    await login(bea, 'buyer1@acme.test', 'buyer-pass-1');
    const cart = await buyerBasket(bea, 'buyer1@acme.test');
    expect(await cartState(cart)).toBe('New');

    const page = await bea.get('/customer-center?CC=Carts').expect(200);
    expect(page.text).toContain('id="ChangeDraftStatusForm"');
    expect(page.text).toContain(`name="CartID" value="${cart}"`);
    expect(page.text).toContain('cannot be checked out while it is “New”');
    const blocked = await bea.get('/checkout/addresses');
    expect(blocked.status).toBe(409);
    expect(blocked.text).toContain('cannot be ordered yet');

    const res = await changeDraftStatus(bea, cart, await stateId('B2B cart approval', 'Submitted for approval'));
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/customer-center?CC=Carts');
    expect(await cartState(cart)).toBe('Submitted for approval');
    const [h] = await t.sql(`select h.actor_kind, h.source from order_state_history h join orders o on o.id = h.order_id where o.number = $1 and h.event = 'state_changed'`, [cart]);
    expect(h).toEqual({ actor_kind: 'buyer', source: 'frontend' });
    await t.worker.sendDue();
    const mail = await waitFor(() => t.mails.find((m) => m.subject === `Cart ${cart} is waiting for your approval`));
    expect(mail.to).toBe('approver@acme.test');

    // A colleague of the same company may act on the shared cart; approval opens checkout.
    const bo = newAgent(t);
    await login(bo, 'buyer2@acme.test', 'buyer-pass-2');
    expect((await bo.get('/customer-center?CC=Carts')).text).toContain(cart);
    expect((await changeDraftStatus(bo, cart, await stateId('B2B cart approval', 'Approved'))).status).toBe(303);
    expect(await cartState(cart)).toBe('Approved');
    expect((await bea.get('/checkout/addresses')).status).toBe(200);
  });

  it('refuses a foreign cart id (404), a state of another flow, and a transition the rules forbid — changing nothing', async () => {
    const sam = newAgent(t);
    await login(sam, 'shopper@orderflow.test', 'shopper-pass-1');
    await addToBasket(t, sam, 'P-1044');
    const [samCart] = await t.sql(`select o.number from orders o join users u on u.id = o.user_id where u.email = 'shopper@orderflow.test' and o.basket_status = 'basket'`);

    const bea = newAgent(t);
    await login(bea, 'buyer1@acme.test', 'buyer-pass-1');
    await t.sql(`delete from orders where user_id = (select id from users where email = 'buyer1@acme.test')`);
    const cart = await buyerBasket(bea, 'buyer1@acme.test');

    const foreign = await changeDraftStatus(bea, samCart.number, await stateId('Standard cart', 'Open'));
    expect(foreign.status).toBe(404);
    expect(foreign.text).toContain('The cart was not found.');

    const orderState = await changeDraftStatus(bea, cart, await stateId('Standard order flow', 'Shipped'));
    expect(orderState.status).toBe(409);
    expect(orderState.text).toContain('belongs to an order flow; ' + cart + ' is a cart.');

    const otherCartFlow = await changeDraftStatus(bea, cart, await stateId('Standard cart', 'Open'));
    expect(otherCartFlow.status).toBe(409);

    const skip = await changeDraftStatus(bea, cart, await stateId('B2B cart approval', 'Approved'));
    expect(skip.status).toBe(409);
    expect(skip.text).toContain('cannot move from “New” to “Approved”: that transition is not allowed.');

    const junk = await changeDraftStatus(bea, "CART1' or '1'='1", 'x');
    expect(junk.status).toBe(422);
    expect(await cartState(cart)).toBe('New');
    expect(await cartState(samCart.number)).toBe('Open');
  });

  it('sends guests to log in', async () => {
    const res = await newAgent(t).get('/customer-center?CC=Carts');
    expect(res.status).toBe(302);
    expect(res.headers.location).toContain('/login');
  });
});
