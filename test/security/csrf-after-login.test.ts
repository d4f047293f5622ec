import { login, newAgent, startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const tokenOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];

it('two pages opened at the same moment right after login carry the same form token, and both forms are accepted', async () => {
  const agent = newAgent(t);
  await login(agent, 'shopper@orderflow.test', 'shopper-pass-1');
  const pages = await Promise.all([agent.get('/customer-center/carts'), agent.get('/customer-center/carts')]);
  const tokens = pages.map((p) => tokenOf(p.text));
  expect(tokens[0]).toBeTruthy();
  expect(tokens[1]).toBe(tokens[0]);
  const saved = await Promise.all(tokens.map((token, i) => agent.post('/customer-center/carts').type('form').send({ _csrf: token!, name: `Tab ${i + 1}` })));
  expect(saved.map((r) => r.status)).toEqual([303, 303]);
});
