import type TestAgent from 'supertest/lib/agent';
import { signedWebhook } from '../../src/payments/sandbox-hosted-provider';
import type { SandboxPayment } from '../../src/payments/sandbox-ledger';
import { APPROVED_CARD, addToBasket, checkoutToReview, place } from '../helpers/shopping';
import { newAgent, startTestApp, type TestApp } from '../helpers/test-app';

/**
 * Placing an order with no lock held while the payment provider answers (reserve → authorize → confirm), with the
 * direct card gateway and with the hosted payment page (redirect + signed webhook). The sandbox ledger is the
 * provider's own memory: it proves that nothing stays charged without an order.
 */
let t: TestApp;
/** Webhooks the sandbox would have sent, kept so each test delivers them itself (late, twice, in any order). */
let webhooks: { url: string; body: string; headers: Record<string, string> }[] = [];

beforeAll(async () => {
  t = await startTestApp();
  t.services.payments.sandbox.sendWebhook = (url, webhook) => { webhooks.push({ url, ...webhook }); };
});
afterAll(async () => { await t.close(); });
beforeEach(() => { webhooks = []; });

/** The order's payment attempt, once the placing request has made one. */
async function attemptOf(number: string): Promise<{ status: string }> {
  for (let i = 0; i < 200; i++) {
    const [attempt] = await t.sql(`select status from payment_attempts where order_id = (select id from orders where number = $1)`, [number]);
    if (attempt) return attempt as { status: string };
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no payment attempt for ${number}`);
}

async function stockOf(productNumber: string): Promise<number> {
  const [{ quantity }] = await t.sql(`select sum(quantity)::int as quantity from stock_levels where product_id = (select id from products where number = $1)`, [productNumber]);
  return quantity;
}

async function setStock(productNumber: string, quantity: number) {
  await t.sql(`update stock_levels set quantity = case when location_id = (select min(id) from stock_locations) then $2 else 0 end
               where product_id = (select id from products where number = $1)`, [productNumber, quantity]);
}

/** What the order and the provider hold afterwards: the facts "exactly once" and "nothing charged" are about. */
async function facts(number: string) {
  const [order] = await t.sql(`select id, completed, type, payment_status from orders where number = $1`, [number]);
  const count = async (text: string) => (await t.sql(text, [order.id]))[0].n;
  return {
    completed: order.completed,
    authorizations: await count(`select count(*)::int as n from payment_transactions where order_id = $1 and operation = 'authorize' and success`),
    placedHistory: await count(`select count(*)::int as n from order_state_history where order_id = $1 and event = 'placed'`),
    receipts: await count(`select count(*)::int as n from outbox_messages where order_id = $1`),
    exportJobs: await count(`select count(*)::int as n from order_export_jobs where order_id = $1`),
    /** Authorizations the provider still holds (not voided) for this order. */
    heldAtProvider: (await t.sql(`select count(*)::int as n from sandbox_payments where order_number = $1 and status = 'authorized'`, [number]))[0].n,
  };
}

async function hostedCheckout(productNumber: string, quantity = 1, form: Record<string, string> = {}): Promise<{ agent: TestAgent; number: string; payPage: string }> {
  const agent = newAgent(t);
  await addToBasket(t, agent, productNumber, quantity);
  const number = await checkoutToReview(t, agent, { payment: 'PAYPAGE' });
  const res = await place(agent, number, form);
  expect(res.status).toBe(303);
  const payPage = new URL(res.headers.location).pathname;
  expect(payPage).toMatch(/^\/sandbox-pay\/SBH-/);
  return { agent, number, payPage };
}

/** The shopper on the sandbox payment page: answers where the page sends them back to (the shop's return URL). */
async function payOnPage(agent: TestAgent, payPage: string, cardNumber: string): Promise<string> {
  const page = await agent.get(payPage).expect(200);
  expect(page.text).toContain('Sandbox Pay');
  const res = await agent.post(payPage).type('form').send({ cardNumber, cardExpiry: APPROVED_CARD.cardExpiry, cardCvc: '123', action: 'pay' });
  expect(res.status).toBe(303);
  return new URL(res.headers.location).pathname + new URL(res.headers.location).search;
}

function deliver(webhook: { url: string; body: string; headers: Record<string, string> }) {
  return newAgent(t).post(new URL(webhook.url).pathname).set(webhook.headers).send(webhook.body);
}

async function sandboxPayment(number: string): Promise<SandboxPayment> {
  const [payment] = await t.sql<SandboxPayment>(`select * from sandbox_payments where order_number = $1 order by created_at desc limit 1`, [number]);
  return payment;
}

describe('placing with the card gateway', () => {
  it('holds the stock only as a reservation while the gateway answers, then completes the order once', async () => {
    await setStock('P-1020', 5);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1020', 2);
    const number = await checkoutToReview(t, agent);
    const ledger = t.services.payments.sandbox;
    ledger.options.latencyMs = 300;
    try {
      const placing = place(agent, number);
      // While the gateway answers, the stock is reserved in a committed row, and no transaction holds the stock row.
      const attempt = await attemptOf(number);
      expect(attempt.status).toBe('reserved');
      expect(await stockOf('P-1020')).toBe(3);
      // NOWAIT fails at once if any transaction holds a stock row of the product.
      await t.sql(`begin; select 1 from stock_levels where product_id = (select id from products where number = 'P-1020') for update nowait; rollback`);
      expect((await attemptOf(number)).status).toBe('reserved'); // still waiting for the gateway
      expect((await placing).status).toBe(303);
    } finally {
      ledger.options.latencyMs = 0;
    }
    expect(await facts(number)).toEqual({ completed: true, authorizations: 1, placedHistory: 1, receipts: 1, exportJobs: 1, heldAtProvider: 1 });
    const lines = await t.sql(`select stock_location_id from order_lines where order_id = (select id from orders where number = $1)`, [number]);
    expect(lines.every((l) => l.stock_location_id != null)).toBe(true);
    expect(await stockOf('P-1020')).toBe(3);
  });

  it('says so on the review step when the gateway fails or does not answer in time, charges nothing and gives the stock back', async () => {
    await setStock('P-1021', 5);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1021', 2);
    const number = await checkoutToReview(t, agent);
    const card = t.services.payments.get('sandbox_card');
    if (card.flow !== 'direct') throw new Error('the card gateway authorizes directly');

    const failing = jest.spyOn(card, 'authorize').mockRejectedValueOnce(new Error('connect ECONNREFUSED'));
    const failed = await place(agent, number);
    failing.mockRestore();
    expect(failed.status).toBe(502);
    expect(failed.text).toContain('We could not reach the payment service just now, so your order was not placed and nothing was charged.');
    expect(await stockOf('P-1021')).toBe(5);

    // Too slow: the gateway authorizes, but its answer comes after the timeout. The authorization is voided.
    const settings = (t.services.checkout as unknown as { placement: { gatewayTimeoutMs: number } }).placement;
    const timeoutBefore = settings.gatewayTimeoutMs;
    settings.gatewayTimeoutMs = 100;
    t.services.payments.sandbox.options.latencyMs = 400;
    try {
      const late = await place(agent, number);
      expect(late.status).toBe(502);
      expect(late.text).toContain('nothing was charged');
    } finally {
      settings.gatewayTimeoutMs = timeoutBefore;
      t.services.payments.sandbox.options.latencyMs = 0;
    }
    expect(await stockOf('P-1021')).toBe(5);
    await t.services.checkout.releaseExpired();
    expect(await facts(number)).toMatchObject({ completed: false, authorizations: 0, receipts: 0, heldAtProvider: 0 });
    expect((await sandboxPayment(number)).status).toBe('voided');

    // The shopper tries again from the review step and it works.
    expect((await place(agent, number)).status).toBe(303);
    expect(await facts(number)).toMatchObject({ completed: true, authorizations: 1, heldAtProvider: 1 });
  });

  it('voids the authorization and places nothing when the order changed while the gateway answered', async () => {
    await setStock('P-1022', 5);
    const agent = newAgent(t);
    await addToBasket(t, agent, 'P-1022', 1);
    const number = await checkoutToReview(t, agent);
    t.services.payments.sandbox.options.latencyMs = 300;
    try {
      const placing = place(agent, number);
      await attemptOf(number);
      await t.sql(`update orders set version = version + 1 where number = $1`, [number]); // e.g. another tab changed it
      const res = await placing;
      expect(res.status).toBe(409);
      expect(res.text).toContain('Your order changed while your payment was being authorized');
    } finally {
      t.services.payments.sandbox.options.latencyMs = 0;
    }
    expect(await facts(number)).toMatchObject({ completed: false, authorizations: 0, heldAtProvider: 0 });
    expect(await stockOf('P-1022')).toBe(5);
  });
});

describe('paying on the hosted payment page', () => {
  it('completes the order exactly once whichever comes first: the return, the webhook, or a duplicate of either', async () => {
    await setStock('P-1023', 10);
    const { agent, number, payPage } = await hostedCheckout('P-1023', 2);
    expect(await stockOf('P-1023')).toBe(8); // reserved while the shopper pays
    const back = await payOnPage(agent, payPage, '4242 4242 4242 4242');
    expect(webhooks).toHaveLength(1);
    // Another browser following the return URL finds no such payment, and completes nothing.
    expect((await newAgent(t).get(back)).status).toBe(404);
    expect(await facts(number)).toMatchObject({ completed: false, authorizations: 0 });
    // The webhook (three times) and the shopper's return, all at once.
    const [ret, ...hooks] = await Promise.all([agent.get(back), deliver(webhooks[0]), deliver(webhooks[0]), deliver(webhooks[0])]);
    expect(hooks.map((h) => h.status)).toEqual([200, 200, 200]);
    expect(ret.status).toBe(303);
    expect(ret.headers.location).toBe(`/checkout/receipt/${number}`);
    expect((await agent.get(ret.headers.location)).status).toBe(200);
    expect(await facts(number)).toEqual({ completed: true, authorizations: 1, placedHistory: 1, receipts: 1, exportJobs: 1, heldAtProvider: 1 });
    // A late duplicate and a second return change nothing.
    expect((await deliver(webhooks[0])).status).toBe(200);
    expect((await agent.get(back)).headers.location).toBe(`/checkout/receipt/${number}`);
    expect((await newAgent(t).get(back)).status).toBe(404); // nor a placed one's receipt
    expect(await facts(number)).toMatchObject({ authorizations: 1, receipts: 1 });
    expect(await stockOf('P-1023')).toBe(8);
  });

  it('completes by the webhook alone when the shopper never comes back', async () => {
    await setStock('P-1024', 10);
    const { agent, number, payPage } = await hostedCheckout('P-1024');
    await payOnPage(agent, payPage, '4242 4242 4242 4242');
    expect((await deliver(webhooks[0])).body).toEqual({ received: true, result: 'placed' });
    expect(await facts(number)).toMatchObject({ completed: true, authorizations: 1, receipts: 1 });
  });

  it('refuses a forged webhook with 401 and logs it', async () => {
    await setStock('P-1025', 10);
    const { agent, number, payPage } = await hostedCheckout('P-1025');
    await payOnPage(agent, payPage, '4242 4242 4242 4242');
    const real = webhooks[0];
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const forgedBody = await newAgent(t).post('/payments/webhooks/sandbox_hosted').set(real.headers).send(real.body.replace('"authorized"', '"declined"'));
      expect(forgedBody.status).toBe(401);
      const wrongSecret = signedWebhook('not-the-secret', await sandboxPayment(number));
      expect((await newAgent(t).post('/payments/webhooks/sandbox_hosted').set(wrongSecret.headers).send(wrongSecret.body)).status).toBe(401);
      expect((await newAgent(t).post('/payments/webhooks/sandbox_hosted').set('content-type', 'application/json').send(real.body)).status).toBe(401);
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('refused a webhook with an invalid signature'));
    } finally {
      warn.mockRestore();
    }
    expect(await facts(number)).toMatchObject({ completed: false, authorizations: 0 });
  });

  it('asks for 3-D Secure with the challenge card and places the order once the code is right', async () => {
    await setStock('P-1026', 10);
    const { agent, number, payPage } = await hostedCheckout('P-1026');
    const challenge = await agent.post(payPage).type('form').send({ cardNumber: '4000 0000 0000 3220', cardExpiry: '12/39', cardCvc: '123', action: 'pay' });
    expect(challenge.status).toBe(200);
    expect(challenge.text).toContain('3-D Secure');
    const confirmed = await agent.post(`${payPage}/challenge`).type('form').send({ code: '1234' });
    const receipt = await agent.get(new URL(confirmed.headers.location).pathname + new URL(confirmed.headers.location).search);
    expect(receipt.headers.location).toBe(`/checkout/receipt/${number}`);
    expect(await facts(number)).toMatchObject({ completed: true, authorizations: 1 });
  });

  it('sends a declined shopper back to the review step with the message and their comment, and gives the stock back', async () => {
    await setStock('P-1027', 10);
    const { agent, number, payPage } = await hostedCheckout('P-1027', 3, { customerComment: 'Leave it with the neighbour' });
    expect(await stockOf('P-1027')).toBe(7);
    const back = await payOnPage(agent, payPage, '4000 0000 0000 0002');
    const ret = await agent.get(back);
    expect(ret.headers.location).toBe('/checkout/review');
    const review = await agent.get('/checkout/review');
    expect(review.text).toContain('Your payment was not accepted: The card was declined by the bank.');
    // The comment typed before the provider's page is there to place the order again with.
    expect(review.text).toMatch(/<textarea id="customerComment" name="customerComment" maxlength="2000" rows="3">Leave it with the neighbour<\/textarea>/);
    expect((await deliver(webhooks[0])).status).toBe(200); // the webhook after the return: nothing more happens
    expect(await stockOf('P-1027')).toBe(10);
    expect(await facts(number)).toMatchObject({ completed: false, authorizations: 0 });
    const [{ payment_status }] = await t.sql(`select payment_status from orders where number = $1`, [number]);
    expect(payment_status).toBe('declined');
  });

  it('says the payment was cancelled (not that it was refused) when the shopper cancels on the payment page, and gives the stock back', async () => {
    await setStock('P-1030', 10);
    const { agent, number, payPage } = await hostedCheckout('P-1030', 2, { customerComment: 'Gift wrap, please' });
    const cancel = await agent.post(`${payPage}/cancel`).type('form').send({});
    expect(cancel.status).toBe(303);
    const back = new URL(cancel.headers.location);
    expect((await agent.get(back.pathname + back.search)).headers.location).toBe('/checkout/review');
    const review = await agent.get('/checkout/review');
    expect(review.text).toContain('The payment was cancelled, so the order has not been placed and nothing was charged. You can pay again below, or choose another payment method.');
    expect(review.text).not.toContain('not accepted');
    expect(review.text).toContain('>Gift wrap, please</textarea>');
    expect(await stockOf('P-1030')).toBe(10);
    expect(await facts(number)).toMatchObject({ completed: false, authorizations: 0, heldAtProvider: 0 });
  });

  it('leaves an abandoned payment at the review step and gives its stock back when the reservation expires; a late approval is voided', async () => {
    await setStock('P-1028', 10);
    const { agent, number, payPage } = await hostedCheckout('P-1028', 4);
    expect(await stockOf('P-1028')).toBe(6);
    // The shopper leaves the payment page. Not yet expired: nothing is released.
    await t.services.checkout.releaseExpired();
    expect(await stockOf('P-1028')).toBe(6);
    await t.sql(`update payment_attempts set expires_at = now() - interval '1 second' where order_id = (select id from orders where number = $1)`, [number]);
    await t.services.checkout.releaseExpired();
    expect(await stockOf('P-1028')).toBe(10);
    const [order] = await t.sql(`select completed, type, checkout_step from orders where number = $1`, [number]);
    expect(order).toEqual({ completed: false, type: 'order', checkout_step: 'review' });
    expect((await sandboxPayment(number)).status).toBe('cancelled');
    // The payment page is finished; the shopper goes back and pays again (a new attempt, a new payment page).
    expect((await agent.get(payPage)).text).toContain('This payment is finished.');
    const again = await place(agent, number, {});
    expect(again.headers.location).not.toContain(payPage);
    expect(await stockOf('P-1028')).toBe(6);
  });

  it('voids a late authorization of an attempt that was already given up', async () => {
    await setStock('P-1029', 10);
    const { agent, number, payPage } = await hostedCheckout('P-1029');
    await t.sql(`update payment_attempts set expires_at = now() - interval '1 second' where order_id = (select id from orders where number = $1)`, [number]);
    await t.services.checkout.releaseExpired();
    // The sandbox page was still open in the shopper's browser; they pay after the expiry. The sandbox ledger said
    // "cancelled", so it refuses to authorize it; a real provider might still authorize: play that.
    await t.sql(`update sandbox_payments set status = 'open' where order_number = $1`, [number]);
    const back = await payOnPage(agent, payPage, '4242 4242 4242 4242');
    expect((await deliver(webhooks[0])).status).toBe(200);
    const ret = await agent.get(back);
    expect(ret.headers.location).toBe('/checkout/review');
    // The webhook found the attempt given up and voided it: the shopper is told the payment was cancelled, nothing charged.
    expect((await agent.get('/checkout/review')).text).toContain('The payment was cancelled, so the order has not been placed and nothing was charged.');
    expect(await facts(number)).toMatchObject({ completed: false, authorizations: 0, heldAtProvider: 0 });
    expect(await stockOf('P-1029')).toBe(10);
  });
});
