import type { DirectPaymentProvider, ProviderResult } from './payment-provider';

const unsupported = async (): Promise<ProviderResult> => ({ success: false, message: 'Invoice payments are settled outside the shop.', reference: '' });
const cancelled = async (): Promise<ProviderResult> => ({ success: true, message: 'Invoice cancelled.', reference: '' });

/** Pay by invoice: always accepted at checkout; capture happens in the accounting system, not here. */
export class InvoiceProvider implements DirectPaymentProvider {
  readonly code = 'invoice';
  readonly flow = 'direct';
  readonly supportsCapture = false;
  readonly initialCaptureState = 'not_supported' as const;
  readonly needsCard = false;
  /** Nothing outside the shop is asked: placing authorizes and completes the order in one transaction. */
  readonly inProcess = true;

  async authorize(req: { orderNumber: string }): Promise<ProviderResult> {
    return { success: true, message: 'Invoice will be sent.', reference: `INV-${req.orderNumber}` };
  }
  voidAttempt = cancelled;
  capture = unsupported;
  cancel = cancelled;
  refund = unsupported;
  /** Capture and refund never reach an invoice, and its cancel needs no answer: there is nothing to look up. */
  findOperation = async (): Promise<ProviderResult | null> => null;
}
