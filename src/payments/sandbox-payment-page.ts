import { Router, type Response } from 'express';
import { z } from 'zod';
import { parse } from '../http/validate';
import { notFound } from '../shared/errors';
import type { Services } from '../services';
import { checkCard, SANDBOX_DECLINED_CARD } from './sandbox-card-gateway';
import { signedWebhook } from './sandbox-hosted-provider';
import type { SandboxLedger, SandboxPayment, SandboxStatus } from './sandbox-ledger';

/** The sandbox's 3-D Secure test card and the code that confirms it. */
export const SANDBOX_CHALLENGE_CARD = '4000000000003220';
export const SANDBOX_CHALLENGE_CODE = '1234';

const referenceParam = z.string().regex(/^SBH-[0-9a-f-]{36}$/, { error: 'is not a payment reference' });
const payForm = z.object({ cardNumber: z.string().trim().max(30).default(''), cardExpiry: z.string().trim().max(7).default(''), cardCvc: z.string().trim().max(4).default('') });

/**
 * The hosted sandbox provider's side: the payment page the shopper is sent to (approve, decline, 3-D Secure
 * challenge, cancel — or just leave it, which is abandoning), then the signed webhook to the shop and the redirect
 * back. A separate router with no session and no shop CSRF: it plays another company's website. Payments move
 * only forward (open → challenge → authorized/declined/cancelled), so a double submit changes nothing.
 */
export function sandboxPaymentPageRoutes(s: Services): Router {
  const r = Router();
  const ledger = s.payments.sandbox;

  r.get('/:reference', async (req, res) => {
    const payment = await found(ledger, req.params.reference);
    res.render('sandbox/payment-page.njk', { payment, typed: {}, returnUrl: returnUrlOf(payment) });
  });

  r.post('/:reference', async (req, res) => {
    const payment = await found(ledger, req.params.reference);
    const form = parse(payForm, req.body);
    const card = checkCard({ number: form.cardNumber, expiry: form.cardExpiry, cvc: form.cardCvc, holder: '' });
    if ('refusal' in card) {
      return res.status(422).render('sandbox/payment-page.njk', { payment, typed: form, error: card.refusal, returnUrl: returnUrlOf(payment) });
    }
    const details = { cardType: card.cardType, cardLast4: card.last4 };
    if (card.digits === SANDBOX_CHALLENGE_CARD) {
      const challenged = await ledger.move(payment.reference, ['open'], 'challenge', details);
      return res.render('sandbox/payment-page.njk', { payment: challenged ?? payment, typed: {}, returnUrl: returnUrlOf(payment) });
    }
    await finish(ledger, res, payment, card.digits === SANDBOX_DECLINED_CARD ? 'declined' : 'authorized', ['open'], details);
  });

  r.post('/:reference/challenge', async (req, res) => {
    const payment = await found(ledger, req.params.reference);
    const code = typeof req.body?.code === 'string' ? req.body.code.trim() : '';
    await finish(ledger, res, payment, code === SANDBOX_CHALLENGE_CODE ? 'authorized' : 'declined', ['challenge']);
  });

  r.post('/:reference/cancel', async (req, res) => {
    const payment = await found(ledger, req.params.reference);
    await finish(ledger, res, payment, 'cancelled', ['open', 'challenge']);
  });

  return r;
}

async function found(ledger: SandboxLedger, reference: unknown): Promise<SandboxPayment> {
  const payment = await ledger.find(parse(referenceParam, reference));
  if (!payment || payment.provider !== 'sandbox_hosted') throw notFound('The payment');
  return payment;
}

/** The payment's outcome is recorded, the shop's webhook goes out, and the shopper is sent back to the shop. */
async function finish(ledger: SandboxLedger, res: Response, payment: SandboxPayment, to: SandboxStatus, from: SandboxStatus[], card?: { cardType: string; cardLast4: string }): Promise<void> {
  await ledger.answer((async () => {
    const moved = await ledger.move(payment.reference, from, to, card);
    if (moved) ledger.sendWebhook(moved.webhook_url, signedWebhook(ledger.options.webhookSecret, moved));
  })());
  res.redirect(303, returnUrlOf(payment));
}

function returnUrlOf(payment: SandboxPayment): string {
  return `${payment.return_url}?reference=${encodeURIComponent(payment.reference)}`;
}
