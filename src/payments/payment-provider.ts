import type { CaptureState } from '../orders/order.entities';

/** Card data as typed at checkout; it never leaves the provider call except as type + last 4 digits. */
export interface CardInput { number: string; expiry: string; cvc: string; holder: string }

export interface ProviderResult { success: boolean; message: string; reference: string; cardType?: string; cardLast4?: string }

/** What every payment provider offers; an operation it does not support answers with success false. */
export interface PaymentProvider {
  readonly code: string;
  readonly supportsCapture: boolean;
  /** Capture state a freshly authorized order starts in. */
  readonly initialCaptureState: CaptureState;
  readonly needsCard: boolean;
  authorize(req: { orderNumber: string; amountMinor: number; currencyCode: string; card?: CardInput }): Promise<ProviderResult>;
  capture(req: { reference: string; amountMinor: number; final: boolean }): Promise<ProviderResult>;
  cancel(req: { reference: string }): Promise<ProviderResult>;
  refund(req: { reference: string; amountMinor: number }): Promise<ProviderResult>;
}
