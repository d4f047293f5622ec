import { randomUUID } from 'node:crypto';
import type { CardInput, PaymentProvider, ProviderResult } from './payment-provider';

/**
 * A built-in card gateway for the demo and the tests. It behaves like a real two-phase gateway:
 * authorize now, capture later (in parts), cancel an authorization, refund captured money.
 *
 * Test cards: 4242 4242 4242 4242 is approved; 4000 0000 0000 0002 is declined; any other number
 * that passes the Luhn check is approved. Expiry must be MM/YY in the future.
 */
export const SANDBOX_APPROVED_CARD = '4242424242424242';
export const SANDBOX_DECLINED_CARD = '4000000000000002';

export class SandboxCardGateway implements PaymentProvider {
  readonly code = 'sandbox_card';
  readonly supportsCapture = true;
  readonly initialCaptureState = 'not_captured' as const;
  readonly needsCard = true;
  async authorize(req: { orderNumber: string; amountMinor: number; card?: CardInput }): Promise<ProviderResult> {
    const digits = (req.card?.number ?? '').replace(/[\s-]/g, '');
    if (!/^\d{12,19}$/.test(digits) || !luhn(digits)) return { success: false, message: 'The card number is not valid.', reference: '' };
    if (!validExpiry(req.card?.expiry ?? '')) return { success: false, message: 'The card has expired or the expiry date is not valid.', reference: '' };
    if (!/^\d{3,4}$/.test(req.card?.cvc ?? '')) return { success: false, message: 'The security code is not valid.', reference: '' };
    const last4 = digits.slice(-4);
    const cardType = digits.startsWith('4') ? 'Visa' : digits.startsWith('5') ? 'Mastercard' : 'Card';
    if (digits === SANDBOX_DECLINED_CARD) return { success: false, message: 'The card was declined by the bank.', reference: '', cardType, cardLast4: last4 };
    const reference = `SBX-${randomUUID()}`;
    return { success: true, message: 'Approved.', reference, cardType, cardLast4: last4 };
  }

  // Capture, cancel and refund limits are enforced by PaymentService against the database; the gateway
  // only refuses references it never issued, like a real gateway would.
  async capture(req: { reference: string }): Promise<ProviderResult> {
    return known(req.reference) ? { success: true, message: 'Captured.', reference: req.reference } : unknownRef(req.reference);
  }

  async cancel(req: { reference: string }): Promise<ProviderResult> {
    return known(req.reference) ? { success: true, message: 'Authorization cancelled.', reference: req.reference } : unknownRef(req.reference);
  }

  async refund(req: { reference: string }): Promise<ProviderResult> {
    return known(req.reference) ? { success: true, message: 'Refunded.', reference: req.reference } : unknownRef(req.reference);
  }
}

const known = (reference: string) => reference.startsWith('SBX-');
const unknownRef = (reference: string): ProviderResult => ({ success: false, message: 'Unknown transaction.', reference });

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
