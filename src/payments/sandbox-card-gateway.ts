import { randomUUID } from 'node:crypto';
import type { AuthorizeRequest, CardInput, DirectPaymentProvider, ProviderResult } from './payment-provider';
import { SandboxProviderBase } from './sandbox-ledger';

/**
 * A built-in card gateway for the demo and the tests. It behaves like a real two-phase gateway:
 * authorize now, capture later (in parts), cancel an authorization, refund captured money; an authorization is
 * idempotent per attempt key and remembered on the gateway's side (the sandbox ledger).
 *
 * Test cards: 4242 4242 4242 4242 is approved; 4000 0000 0000 0002 is declined; any other number
 * that passes the Luhn check is approved. Expiry must be MM/YY in the future.
 */
export const SANDBOX_APPROVED_CARD = '4242424242424242';
export const SANDBOX_DECLINED_CARD = '4000000000000002';

export class SandboxCardGateway extends SandboxProviderBase implements DirectPaymentProvider {
  readonly code = 'sandbox_card';
  readonly flow = 'direct';
  readonly supportsCapture = true;
  readonly initialCaptureState = 'not_captured' as const;
  readonly needsCard = true;

  async authorize(req: AuthorizeRequest): Promise<ProviderResult> {
    const checked = checkCard(req.card);
    if ('refusal' in checked) return { success: false, message: checked.refusal, reference: '' };
    const approved = checked.digits !== SANDBOX_DECLINED_CARD;
    const payment = await this.ledger.answer(this.ledger.record({
      reference: `SBX-${randomUUID()}`, provider: this.code, attempt_key: req.attemptKey, amount_minor: req.amountMinor, currency_code: req.currencyCode,
      order_number: req.orderNumber, status: approved ? 'authorized' : 'declined', card_type: checked.cardType, card_last4: checked.last4, return_url: '', webhook_url: '',
    }));
    return payment.status === 'declined'
      ? { success: false, message: 'The card was declined by the bank.', reference: '', cardType: payment.card_type, cardLast4: payment.card_last4 }
      : { success: true, message: 'Approved.', reference: payment.reference, cardType: payment.card_type, cardLast4: payment.card_last4 };
  }
}

/** The card checks both sandbox providers make: a refusal message, or the card's digits, type and last four. */
export function checkCard(card: CardInput | undefined): { refusal: string } | { digits: string; cardType: string; last4: string } {
  const digits = (card?.number ?? '').replace(/[\s-]/g, '');
  if (!/^\d{12,19}$/.test(digits) || !luhn(digits)) return { refusal: 'The card number is not valid.' };
  if (!validExpiry(card?.expiry ?? '')) return { refusal: 'The card has expired or the expiry date is not valid.' };
  if (!/^\d{3,4}$/.test(card?.cvc ?? '')) return { refusal: 'The security code is not valid.' };
  return { digits, cardType: digits.startsWith('4') ? 'Visa' : digits.startsWith('5') ? 'Mastercard' : 'Card', last4: digits.slice(-4) };
}

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

function validExpiry(expiry: string, now = new Date()): boolean {
  const m = /^(\d{2})\s*\/\s*(\d{2})$/.exec(expiry.trim());
  if (!m) return false;
  const month = Number(m[1]);
  const year = 2000 + Number(m[2]);
  if (month < 1 || month > 12) return false;
  return year > now.getUTCFullYear() || (year === now.getUTCFullYear() && month >= now.getUTCMonth() + 1);
}
