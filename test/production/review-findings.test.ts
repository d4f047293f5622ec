/** Smaller findings of the production review (issue 13, item 8), each as the user meets it. */
import { addToBasket } from '../helpers/shopping';
import { newAgent, postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const lineOf = async (number: string) => (await t.sql<{ id: number; quantity: number }>(
  `select l.id, l.quantity from order_lines l join products p on p.id = l.product_id where p.number = $1 order by l.id desc limit 1`, [number]))[0];

describe('review findings', () => {
  it('a malformed page link in the staff order list answers 422 with a way back, not 500', async () => {
    const staff = await staffAgent(t);
    for (const link of ['not-a-cursor', Buffer.from('["x","1"]').toString('base64url'), Buffer.from('{}').toString('base64url')]) {
      const res = await staff.get(`/admin/orders?after=${link}`);
      expect(res.status).toBe(422);
      expect(res.text).toContain('This page link is not valid for the current sort order. Go back to the first page.');
    }
  });

  it('the basket refuses a quantity above stock on change as it does on add (409), and lowering still works', async () => {
    await t.sql(`update stock_levels set quantity = case when location_id = (select min(id) from stock_locations) then 5 else 0 end
                 where product_id = (select id from products where number = 'P-1030')`);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1030', 2);
    const line = await lineOf('P-1030');
    const tooMany = await postForm(agent, `/cart/lines/${line.id}`, { quantity: 6 }, '/cart');
    expect(tooMany.status).toBe(409);
    expect(tooMany.text).toContain('Only 5 ×');
    expect((await lineOf('P-1030')).quantity).toBe(2);
    expect((await postForm(agent, `/cart/lines/${line.id}`, { quantity: 5 }, '/cart')).status).toBe(303);
    expect((await postForm(agent, `/cart/lines/${line.id}`, { quantity: 1 }, '/cart')).status).toBe(303);
    expect((await lineOf('P-1030')).quantity).toBe(1);
  });

  it('accepts only decimal digits as a quantity: 0x10, 1e1 and an empty value are refused (422)', async () => {
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1031', 1);
    const line = await lineOf('P-1031');
    for (const quantity of ['0x10', '1e1', '', '0b11']) {
      const change = await postForm(agent, `/cart/lines/${line.id}`, { quantity }, '/cart');
      expect(change.status).toBe(422);
      const add = await postForm(agent, '/cart/add', { productId: (await t.sql('select id from products where number = $1', ['P-1031']))[0].id, quantity }, '/cart');
      expect(add.status).toBe(422);
    }
    expect((await lineOf('P-1031')).quantity).toBe(1);
  });
});
