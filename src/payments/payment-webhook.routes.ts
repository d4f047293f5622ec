import express, { Router } from 'express';
import { z } from 'zod';
import type { Services } from '../services';

const providerCode = z.enum(['sandbox_hosted']);

/**
 * Webhooks of hosted payment providers: no session, no CSRF — the provider's signature over the raw body is the
 * authentication. A forged or garbled one is refused with 401 and logged; every verified one answers 200 once it is
 * handled (also a duplicate, a late one or one about an unknown payment), so the provider stops retrying.
 */
export function paymentWebhookRoutes(s: Services): Router {
  const r = Router();
  r.post('/:provider', express.raw({ type: '*/*', limit: '64kb' }), async (req, res) => {
    const provider = providerCode.safeParse(req.params.provider);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const outcome = provider.success ? s.checkout.verifyWebhook(provider.data, body, req.headers) : null;
    if (!outcome) {
      console.warn(`[payments] refused a webhook with an invalid signature for "${String(req.params.provider).slice(0, 40)}" from ${req.ip}`);
      return res.status(401).json({ error: { code: 'UNAUTHENTICATED', message: 'Invalid signature.' } });
    }
    const completion = await s.checkout.completeHostedPayment(outcome);
    res.status(200).json({ received: true, result: completion.kind });
  });
  return r;
}
