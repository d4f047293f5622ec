import type { FlowState } from '../flows/flow.entities';
import type { Address } from '../orders/order.entities';
import type { CardInput } from '../payments/payment-provider';
import { DomainError } from '../shared/errors';

/** What placing an order (checkout's orders and accepted quotes, both through place-order.ts) shares: input, result, rules, messages. */
export interface PlaceInput {
  orderNumber: string; customerComment: string; card?: CardInput; ip: string; placedInSession: number[];
  /** The total the shopper was shown (the review page's button): placing at any other total is refused, nothing charged. */
  shownTotalMinor?: number;
  /** Where a hosted payment page sends the shopper back (absolute URL of /checkout/payment-return) and its webhook goes. */
  urls?: { returnUrl: string; webhookUrl: string };
}
/** Placed (or placed before), or — for a hosted payment page — where the shopper pays first. */
export type PlaceResult = { orderId: number; number: string; alreadyPlaced: boolean; redirectUrl?: undefined } | { redirectUrl: string };

export function assertReadyToPlace(order: { lineCount: number; billing: Pick<Address, 'name' | 'address' | 'zip' | 'city' | 'country' | 'email'>; hasShipping: boolean; hasPayment: boolean }): void {
  if (order.lineCount === 0) throw new DomainError('CART_EMPTY', 'Your basket is empty.');
  const b = order.billing;
  if (!b.name || !b.address || !b.zip || !b.city || !b.country || !b.email) throw new DomainError('CHECKOUT_INCOMPLETE', 'Please fill in your billing address first.');
  if (!order.hasShipping || !order.hasPayment) throw new DomainError('CHECKOUT_INCOMPLETE', 'Please choose shipping and payment first.');
}

export function paymentDeclined(reason: string): DomainError {
  return new DomainError('PAYMENT_DECLINED', `Your payment was not accepted: ${reason} Nothing was charged; please check the details or choose another payment method.`);
}

export function cardRequired(): DomainError {
  return new DomainError('VALIDATION', 'Please enter your card details.', { cardNumber: 'is required' });
}

export function outOfStockMessage(line: { quantity: number; productName: string }): string {
  return `Sorry, we do not have ${line.quantity} × ${line.productName} in stock any more. Please lower the quantity.`;
}

/** The history entry of a placed order. */
export function placedMessage(paymentMethodName: string, authorizationMessage: string): string {
  return `Order placed; ${paymentMethodName}: ${authorizationMessage}`;
}

/**
 * Whether a cart in `state` may be checked out: its state allows ordering, or it is still in its flow's starting state
 * and its total is within the buyer's spend limit (so it needs no approval).
 */
export function mayOrderCart(state: Pick<FlowState, 'allowOrder' | 'isDefault'> | null, totalMinor: number, spendLimitMinor: number | null): boolean {
  return !state || state.allowOrder || (state.isDefault && spendLimitMinor != null && totalMinor <= spendLimitMinor);
}
