import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { HostedPaymentOutcome, HostedPaymentProvider, ProviderResult } from './payment-provider';
import { SandboxProviderBase, type SandboxPayment } from './sandbox-ledger';

/** The header the hosted sandbox signs its webhooks in, Stripe's way: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export const SANDBOX_SIGNATURE_HEADER = 'sandbox-signature';
/** A signature older than this is refused, so a captured webhook cannot be replayed later. */
const SIGNATURE_TOLERANCE_SECONDS = 300;

/** What the hosted sandbox's webhook says (its JSON body). */
export interface SandboxWebhookBody { reference: string; attemptKey: string; status: SandboxPayment['status']; cardType: string; cardLast4: string }

/**
 * A hosted payment page provider for the demo and the tests, the way Stripe Checkout, Adyen and Nets Easy work: the
 * shop starts a payment, the shopper pays on the provider's page (served by src/payments/sandbox-payment-page.ts),
 * the provider calls the shop's webhook (signed) and redirects the shopper back. Test cards on the page:
 * 4242 4242 4242 4242 approved, 4000 0000 0000 0002 declined, 4000 0000 0000 3220 asks for a 3-D Secure code (1234).
 */
export class SandboxHostedProvider extends SandboxProviderBase implements HostedPaymentProvider {
  readonly code = 'sandbox_hosted';
  readonly flow = 'hosted';
  readonly needsCard = false;
  readonly supportsCapture = true;
  readonly initialCaptureState = 'not_captured' as const;

  async startPayment(req: { attemptKey: string; orderNumber: string; amountMinor: number; currencyCode: string; returnUrl: string; webhookUrl: string }) {
    const payment = await this.ledger.answer(this.ledger.record({
      reference: `SBH-${randomUUID()}`, provider: this.code, attempt_key: req.attemptKey, amount_minor: req.amountMinor, currency_code: req.currencyCode,
      order_number: req.orderNumber, status: 'open', card_type: '', card_last4: '', return_url: req.returnUrl, webhook_url: req.webhookUrl,
    }));
    return { reference: payment.reference, redirectUrl: new URL(`/sandbox-pay/${payment.reference}`, req.returnUrl).href };
  }

  async outcome(reference: string): Promise<HostedPaymentOutcome> {
    const payment = await this.ledger.answer(this.ledger.find(reference));
    return outcomeOf(payment ? bodyOf(payment) : { reference, attemptKey: '', status: 'declined', cardType: '', cardLast4: '' });
  }

  verifyWebhook(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): HostedPaymentOutcome | null {
    const header = headers[SANDBOX_SIGNATURE_HEADER];
    const m = typeof header === 'string' ? /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header) : null;
    if (!m) return null;
    const age = Math.abs(Date.now() / 1000 - Number(m[1]));
    const expected = signature(this.ledger.options.webhookSecret, m[1], rawBody);
    if (age > SIGNATURE_TOLERANCE_SECONDS || !timingSafeEqual(Buffer.from(m[2], 'hex'), expected)) return null;
    try {
      return outcomeOf(JSON.parse(rawBody.toString('utf8')) as SandboxWebhookBody);
    } catch {
      return null;
    }
  }
}

function outcomeOf(p: SandboxWebhookBody): HostedPaymentOutcome {
  const ids = { reference: p.reference, attemptKey: p.attemptKey };
  switch (p.status) {
    case 'authorized':
    case 'captured':
      return { ...ids, status: 'authorized', message: 'Approved.', cardType: p.cardType, cardLast4: p.cardLast4 };
    case 'declined':
      return { ...ids, status: 'declined', message: 'The card was declined by the bank.' };
    case 'cancelled':
    case 'voided':
      return { ...ids, status: 'cancelled', message: 'The payment was cancelled on the payment page.' };
    default:
      return { ...ids, status: 'pending', message: 'The payment is not finished yet.' };
  }
}

function bodyOf(payment: SandboxPayment): SandboxWebhookBody {
  return { reference: payment.reference, attemptKey: payment.attempt_key, status: payment.status, cardType: payment.card_type, cardLast4: payment.card_last4 };
}

function signature(secret: string, timestamp: string, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The signed webhook the sandbox sends for a payment (body and headers), e.g. to replay it in a test. */
export function signedWebhook(secret: string, payment: SandboxPayment, now = Date.now()): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(bodyOf(payment));
  const t = String(Math.floor(now / 1000));
  return { body, headers: { 'content-type': 'application/json', [SANDBOX_SIGNATURE_HEADER]: `t=${t},v1=${signature(secret, t, Buffer.from(body)).toString('hex')}` } };
}
