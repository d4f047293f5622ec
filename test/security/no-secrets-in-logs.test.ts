import { APPROVED_CARD, addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { login, newAgent, postForm, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

describe('logs and storage keep secrets out', () => {
  it('never writes a password, a session id or a full card number to the logs or the database', async () => {
    const written: string[] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => jest.spyOn(console, m).mockImplementation((...args) => { written.push(args.map(String).join(' ')); }));
    const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => { written.push(String(chunk)); return true; });
    try {
      const agent = newAgent(t);
      await postForm(agent, '/login', { email: 'shopper@orderflow.test', password: 'wrong-password-123' }, '/login');
      const res = await login(agent, 'shopper@orderflow.test', 'shopper-pass-1');
      const sid = /orderflow\.sid=([^;]+)/.exec(String(res.headers['set-cookie']))![1];
      await t.sql(`update stock_levels set quantity = 100 where product_id = (select id from products where number = 'P-1018')`);
      await addToBasket(t, agent, 'P-1018');
      const number = await checkoutToReview(t, agent);
      expect((await place(agent, number, APPROVED_CARD)).status).toBe(303);
      // A request that fails inside the app is logged with an id, not with the request's secrets.
      await agent.get('/checkout/receipt/NOT-MINE');

      const all = written.join('\n');
      for (const secret of ['shopper-pass-1', 'wrong-password-123', decodeURIComponent(sid), '4242424242424242', '4242 4242 4242 4242']) {
        expect(all).not.toContain(secret);
      }
      const [order] = await t.sql('select card_last4, transaction_number from orders where number = $1', [number]);
      expect(order.card_last4).toBe('4242');
      const dump = JSON.stringify(await t.sql(`select * from orders o join payment_transactions p on p.order_id = o.id where o.number = $1`, [number]));
      expect(dump).not.toContain('4242424242424242');
      expect(JSON.stringify(await t.sql('select password_hash from users'))).not.toContain('shopper-pass-1');
    } finally {
      spies.forEach((s) => s.mockRestore());
      stdout.mockRestore();
    }
  });
});
