import type { PaymentProvider, ProviderResult } from './payment-provider';

const unsupported = async (): Promise<ProviderResult> => ({ success: false, message: 'Invoice payments are settled outside the shop.', reference: '' });

/** Pay by invoice: always accepted at checkout; capture happens in the accounting system, not here. */
export class InvoiceProvider implements PaymentProvider {
  readonly code = 'invoice';
  readonly supportsCapture = false;
  readonly initialCaptureState = 'not_supported' as const;
  readonly needsCard = false;

  async authorize(req: { orderNumber: string }): Promise<ProviderResult> {
    return { success: true, message: 'Invoice will be sent.', reference: `INV-${req.orderNumber}` };
  }
  capture = unsupported;
  async cancel(): Promise<ProviderResult> {
    return { success: true, message: 'Invoice cancelled.', reference: '' };
  }
  refund = unsupported;
}
