import type { MailRequest } from '../mail/outbox.service';
import type { Totals } from '../pricing/pricing';

interface ReceiptOrder { number: string; billing: { name: string; email: string }; currencyCode: string; cardType: string; cardLast4: string; customerComment: string }
interface ReceiptLine { productName: string; productNumber: string; quantity: number }

/** The order confirmation mail (views/mail/receipt.njk); queued once per order. */
export function receiptMail(orderId: number, order: ReceiptOrder, lines: ReceiptLine[], totals: Totals | null | undefined, shipping: { name: string } | null | undefined, payment: { name: string }, vatOnOneLine = false): MailRequest {
  return {
    to: order.billing.email, subject: `Order confirmation ${order.number}`, template: 'mail/receipt.njk',
    context: { order, lines, totals, shipping, payment, vatOnOneLine }, orderId, dedupeKey: `receipt:${orderId}`,
  };
}
