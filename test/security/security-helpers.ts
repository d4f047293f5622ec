import { randomBytes } from 'node:crypto';
import nunjucks from 'nunjucks';
import type TestAgent from 'supertest/lib/agent';
import { addToBasket, checkoutToReview, methodIds, place } from '../helpers/shopping';
import { newAgent, postForm, type TestApp } from '../helpers/test-app';

/** A logged-in, freshly registered shopper (no company). */
export interface Customer { agent: TestAgent; email: string; userId: number; name: string }

export async function registerCustomer(t: TestApp, name = 'Sec Customer', password = 'security-pass-1'): Promise<Customer> {
  const agent = newAgent(t);
  const email = `sec-${randomBytes(5).toString('hex')}@example.test`;
  const res = await postForm(agent, '/register', { name, email, password }, '/register');
  if (res.status !== 303) throw new Error(`register failed: ${res.status} ${res.text.slice(0, 300)}`);
  const [u] = await t.sql<{ id: number }>('select id from users where email = $1', [email]);
  return { agent, email, userId: u.id, name };
}

/** Drops the user's open basket, so the next product added starts a fresh one. */
export async function dropBasket(t: TestApp, userId: number): Promise<void> {
  await t.sql(`update orders set deleted = true, basket_status = null where user_id = $1 and basket_status = 'basket'`, [userId]);
}

export async function topUp(t: TestApp, productNumber: string): Promise<void> {
  await t.sql('update stock_levels set quantity = greatest(quantity, 1000) where product_id = (select id from products where number = $1)', [productNumber]);
}

/** The customer buys one product by card; returns the order number. */
export async function placeOrder(t: TestApp, agent: TestAgent, productNumber: string, opts: { address?: Record<string, string>; comment?: string; payment?: string } = {}): Promise<string> {
  await topUp(t, productNumber);
  await addToBasket(t, agent, productNumber, 2);
  const number = await checkoutToReview(t, agent, { address: opts.address, payment: opts.payment });
  const card: Record<string, string> = opts.payment === 'INVOICE' ? {} : { cardHolder: 'Card Holder', cardNumber: '4242 4242 4242 4242', cardExpiry: '12/39', cardCvc: '123' };
  const res = await place(agent, number, { ...card, customerComment: opts.comment ?? '' });
  if (res.status !== 303) throw new Error(`placing ${number} failed: ${res.status} ${res.text.slice(0, 500)}`);
  return number;
}

/** Staff capture the order and move it to Shipped, so it can be returned. */
export async function shipOrder(t: TestApp, staff: TestAgent, number: string): Promise<void> {
  const cap = await postForm(staff, `/admin/orders/${number}/capture`, {}, `/admin/orders/${number}`);
  if (cap.status !== 303) throw new Error(`capture of ${number} failed: ${cap.status}`);
  const [order] = await t.sql('select id from orders where number = $1', [number]);
  for (const name of ['Received', 'Picked', 'Shipped']) {
    const [s] = await t.sql(`select s.id from flow_states s join flows f on f.id = s.flow_id where f.name = 'Standard order flow' and s.name = $1`, [name]);
    await t.services.flows.changeState({ orderId: order.id, toStateId: s.id, actor: { userId: null, kind: 'system', source: 'system' } });
  }
}

/** The customer asks for a quote on a fresh basket; returns the quote number. */
export async function requestQuote(t: TestApp, c: Customer, productNumber: string, comment = 'Please quote'): Promise<string> {
  await dropBasket(t, c.userId);
  await topUp(t, productNumber);
  await addToBasket(t, c.agent, productNumber, 5);
  await checkoutToReview(t, c.agent);
  const res = await postForm(c.agent, '/checkout/quote', { customerComment: comment }, '/checkout/review');
  if (res.status !== 303) throw new Error(`quote request failed: ${res.status} ${res.text.slice(0, 300)}`);
  return /\/customer-center\/quotes\/([A-Z0-9-]+)/.exec(res.headers.location)![1];
}

/** Staff offer the quote (so the customer could accept or reject it). */
export async function offerQuote(staff: TestAgent, number: string): Promise<void> {
  const res = await postForm(staff, `/admin/quotes/${number}/offer`, {}, `/admin/quotes/${number}`);
  if (res.status !== 303) throw new Error(`offer of ${number} failed: ${res.status} ${res.text.slice(0, 300)}`);
}

/** Files a return for one unit of the order's first line; returns the RMA number. */
export async function fileReturn(t: TestApp, agent: TestAgent, orderNumber: string, comment = ''): Promise<string> {
  const [line] = await t.sql('select l.id from order_lines l join orders o on o.id = l.order_id where o.number = $1 order by l.id limit 1', [orderNumber]);
  const res = await postForm(agent, '/customer-center/returns',
    { orderNumber, reason: 'Damaged on arrival', comment, resolution: 'refund', [`line_${line.id}`]: 1 }, `/customer-center/returns/new?order=${orderNumber}`);
  if (res.status !== 303) throw new Error(`return for ${orderNumber} failed: ${res.status} ${res.text.slice(0, 500)}`);
  return /(RMA\d+)/.exec(res.headers.location)![1];
}

export { methodIds };

/** Exactly how the templates escape a value (Nunjucks autoescape). */
export const esc = (s: string): string => (nunjucks.lib as unknown as { escape(v: string): string }).escape(s);
