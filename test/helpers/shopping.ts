import { createHmac, randomUUID } from 'node:crypto';
import type TestAgent from 'supertest/lib/agent';
import { loadConfig } from '../../src/config';
import { csrfToken, newAgent, postForm, productId, type TestApp } from './test-app';

export const ADDRESS = {
  billing_name: 'Kim Customer', billing_company: '', billing_address: 'Main Street 1', billing_address2: '',
  billing_zip: '2100', billing_city: 'Copenhagen', billing_country: 'DK', billing_region: '', billing_phone: '', billing_email: 'kim@example.test',
  deliverySameAsBilling: 'on',
};

export const APPROVED_CARD = { cardHolder: 'Kim Customer', cardNumber: '4242 4242 4242 4242', cardExpiry: '12/39', cardCvc: '123' };
export const DECLINED_CARD = { ...APPROVED_CARD, cardNumber: '4000 0000 0000 0002' };

export async function addToBasket(t: TestApp, agent: TestAgent, productNumber: string, quantity = 1) {
  const res = await postForm(agent, '/cart/add', { productId: await productId(t, productNumber), quantity });
  if (res.status !== 303) throw new Error(`add to basket failed: ${res.status} ${res.text.slice(0, 300)}`);
  return res;
}

export async function methodIds(t: TestApp, shipping = 'STANDARD', payment = 'CARD') {
  const [s] = await t.sql('select id from shipping_methods where code = $1', [shipping]);
  const [p] = await t.sql('select id from payment_methods where code = $1', [payment]);
  return { shippingMethodId: s.id, paymentMethodId: p.id };
}

/** The number the shop's next order gets (from the shop's sequence, without taking it). */
export async function upcomingOrderNumber(t: TestApp, shopId = 'SHOP1'): Promise<number> {
  const [{ next }] = await t.sql(`select order_numbers_next(order_numbers)::int as next from shops where id = $1`, [shopId]);
  return next;
}

/** "Go to checkout" on the basket page (a POST): the cart becomes an order and takes its number. */
export async function startCheckout(agent: TestAgent) {
  const res = await postForm(agent, '/checkout', {}, '/cart');
  if (res.status !== 303) throw new Error(`starting checkout failed: ${res.status} ${res.text.slice(0, 300)}`);
  return res;
}

/** Walks addresses and methods; returns the order number shown on the review page. */
export async function checkoutToReview(t: TestApp, agent: TestAgent, opts: { payment?: string; shipping?: string; address?: Record<string, string> } = {}) {
  const addr = await postForm(agent, '/checkout/addresses', { ...ADDRESS, ...opts.address }, '/checkout/addresses');
  if (addr.status !== 303) throw new Error(`addresses failed: ${addr.status} ${addr.text.slice(0, 500)}`);
  const methods = await postForm(agent, '/checkout/methods', await methodIds(t, opts.shipping, opts.payment), '/checkout/methods');
  if (methods.status !== 303) throw new Error(`methods failed: ${methods.status}`);
  return reviewNumber(agent);
}

export async function reviewNumber(agent: TestAgent): Promise<string> {
  const review = await agent.get('/checkout/review');
  const m = /name="orderNumber" value="([^"]+)"/.exec(review.text);
  if (!m) throw new Error(`no order number on review page (${review.status})`);
  return m[1];
}

export async function place(agent: TestAgent, orderNumber: string, extra: Record<string, string> = APPROVED_CARD) {
  const token = await csrfToken(agent, '/');
  return agent.post('/checkout/place').type('form').send({ _csrf: token, orderNumber, customerComment: '', ...extra });
}

/** A guest buys one item with the approved card (or by invoice); returns the order number. Stock is topped up first. */
export async function placeGuestOrder(t: TestApp, productNumber: string, payment: 'CARD' | 'INVOICE' = 'CARD'): Promise<string> {
  return (await placeAsGuest(t, productNumber, newAgent(t), payment)).number;
}

/**
 * The session cookie value (`s:<id>.<signature>`, as sent) of a guest's session from before a login, which this
 * browser now sends. A guest's pages, messages and placed orders store no session any more (signed cookies), but a
 * guest session kept from before — one that holds the receipt of the order this guest placed, as sessions did — is
 * still honoured; it is stored here as the app stored it.
 */
export async function guestSessionCookie(t: TestApp, agent: TestAgent): Promise<string> {
  const { number } = await placeAsGuest(t, 'P-1013', agent);
  const [{ id }] = await t.sql('select id from orders where number = $1', [number]);
  const sid = randomUUID();
  const maxAge = 14 * 24 * 3600 * 1000;
  const expires = new Date(Date.now() + maxAge);
  await t.sql('insert into session (sid, sess, expire) values ($1, $2, $3)',
    [sid, { cookie: { originalMaxAge: maxAge, expires: expires.toISOString(), httpOnly: true, path: '/', sameSite: 'lax', secure: false }, placedOrders: [id] }, expires]);
  const value = encodeURIComponent(`s:${sid}.${createHmac('sha256', loadConfig({}).sessionSecret).update(sid).digest('base64').replace(/=+$/, '')}`);
  agent.jar.setCookie(`orderflow.sid=${value}; Path=/`, '127.0.0.1');
  return value;
}

async function placeAsGuest(t: TestApp, productNumber: string, agent: TestAgent, payment: 'CARD' | 'INVOICE' = 'CARD') {
  await t.sql('update stock_levels set quantity = greatest(quantity, 1000) where product_id = (select id from products where number = $1)', [productNumber]);
  await addToBasket(t, agent, productNumber);
  const number = await checkoutToReview(t, agent, { payment });
  const res = await place(agent, number, payment === 'CARD' ? undefined : {});
  if (res.status !== 303) throw new Error(`placing ${number} failed: ${res.status}`);
  return { number, res };
}

/**
 * Runs `act` while the sandbox card gateway carries out every `operation` and then loses its answer (the connection
 * breaks after the provider did it), as a crashed network would.
 */
export async function withLostProviderAnswers<T>(t: TestApp, operation: 'capture' | 'refund', act: () => Promise<T>): Promise<T> {
  const gateway = t.services.payments.get('sandbox_card');
  const methods = gateway as unknown as Record<typeof operation, (req: unknown) => Promise<unknown>>;
  const original = methods[operation];
  methods[operation] = async (req) => {
    await original.call(gateway, req);
    throw new Error('socket hang up');
  };
  try {
    return await act();
  } finally {
    methods[operation] = original;
  }
}
