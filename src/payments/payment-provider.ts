import type { CaptureState } from '../orders/order.entities';

/** Card data as typed at checkout; it never leaves the provider call except as type + last 4 digits. */
export interface CardInput { number: string; expiry: string; cvc: string; holder: string }

/** Why a provider call was given up on: no answer within PAYMENT_GATEWAY_TIMEOUT_MS. */
export const PROVIDER_TIMED_OUT = 'the payment provider did not answer in time';

export interface ProviderResult { success: boolean; message: string; reference: string; cardType?: string; cardLast4?: string }

/**
 * One payment attempt as the provider sees it. `attemptKey` is the shop's idempotency key for it: asking twice with
 * the same key never authorizes twice, and `voidAttempt(key)` cancels whatever was authorized under it — also when
 * the shop never heard the answer (it crashed, or the answer came too late).
 */
export interface AuthorizeRequest { attemptKey: string; orderNumber: string; amountMinor: number; currencyCode: string; card?: CardInput }

/**
 * What every payment provider offers; an operation it does not support answers with success false.
 *
 * To plug in a real provider (Stripe, Adyen, Nets Easy) implement this interface — `DirectPaymentProvider` when the
 * card is typed into the shop's own review page, `HostedPaymentProvider` when the shopper pays on the provider's
 * page — add its code to PaymentProviderCode and the registry (payment-providers.ts), and add a payment method row
 * with that provider code. Nothing else in the shop knows which provider it talks to.
 */
interface PaymentProviderBase {
  readonly code: string;
  readonly supportsCapture: boolean;
  /** Capture state a freshly authorized order starts in. */
  readonly initialCaptureState: CaptureState;
  /** Cancels what was authorized under this attempt key, if anything; idempotent. */
  voidAttempt(attemptKey: string): Promise<ProviderResult>;
  /**
   * Capture, cancel (void) and refund of a payment. `operationKey` is the shop's idempotency key for the call (one per
   * payment operation): sent twice, the provider does it once and answers the first answer again.
   */
  capture(req: { reference: string; amountMinor: number; final: boolean; operationKey: string }): Promise<ProviderResult>;
  cancel(req: { reference: string; operationKey: string }): Promise<ProviderResult>;
  refund(req: { reference: string; amountMinor: number; operationKey: string }): Promise<ProviderResult>;
  /**
   * What the provider did with the call sent under `operationKey`: its answer, or null when it never received it.
   * The shop asks when it lost the answer (its process died between the call and recording it).
   */
  findOperation(operationKey: string): Promise<ProviderResult | null>;
}

/** Authorizes while the shop waits (a card gateway's API, or an invoice). */
export interface DirectPaymentProvider extends PaymentProviderBase {
  readonly flow: 'direct';
  /** True when the shopper types card details into the shop's review page. */
  readonly needsCard: boolean;
  /**
   * True when authorize asks no one outside this process (an invoice): placing then asks it inside the reserving
   * transaction, which completes the order in its last round trip — no lock is held across a network call.
   */
  readonly inProcess?: boolean;
  authorize(req: AuthorizeRequest): Promise<ProviderResult>;
}

/** Where a hosted payment stands, as the provider answers it (never as the shopper's redirect claims it). */
export type HostedPaymentOutcome = { reference: string; attemptKey: string; message: string } & (
  | { status: 'authorized'; cardType: string; cardLast4: string }
  | { status: 'declined' | 'cancelled' | 'pending' });

/**
 * The shopper pays on the provider's page (Stripe Checkout, Adyen Hosted Payment Pages, Nets Easy): the shop starts
 * a payment session, redirects the shopper there, and learns the outcome from a signed webhook or — whichever comes
 * first — from asking the provider when the shopper is redirected back.
 */
export interface HostedPaymentProvider extends PaymentProviderBase {
  readonly flow: 'hosted';
  readonly needsCard: false;
  startPayment(req: Omit<AuthorizeRequest, 'card'> & { returnUrl: string; webhookUrl: string }): Promise<{ reference: string; redirectUrl: string }>;
  outcome(reference: string): Promise<HostedPaymentOutcome>;
  /** The outcome a webhook reports, or null when its signature does not verify (forged or garbled). */
  verifyWebhook(rawBody: Buffer, headers: Record<string, string | string[] | undefined>): HostedPaymentOutcome | null;
}

export type PaymentProvider = DirectPaymentProvider | HostedPaymentProvider;
