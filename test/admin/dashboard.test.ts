import { placeOrder, registerCustomer } from '../security/security-helpers';
import { postForm, staffAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

describe('staff dashboard', () => {
  it('counts the placed orders staff find on the order list: a deleted order leaves the count, a restored one comes back', async () => {
    const staff = await staffAgent(t);
    const placedCount = async () => Number(/<span class="stat">(\d+)<\/span> placed orders/.exec((await staff.get('/admin').expect(200)).text)?.[1]);
    const shopper = await registerCustomer(t, 'Dana Dashboard');
    const before = await placedCount();
    const number = await placeOrder(t, shopper.agent, 'P-1040');
    expect(await placedCount()).toBe(before + 1);

    const page = `/admin/orders/${number}`;
    expect((await postForm(staff, `${page}/cancel`, { confirmed: '1' }, page)).status).toBe(303);
    expect((await postForm(staff, `${page}/delete`, { confirmed: '1' }, page)).status).toBe(303);
    expect(await placedCount()).toBe(before);
    expect((await postForm(staff, `${page}/restore`, { confirmed: '1' }, '/admin/orders/deleted')).status).toBe(303);
    expect(await placedCount()).toBe(before + 1);
  });
});
