import { setTimeout as sleep } from 'node:timers/promises';
import { relationTo } from '../accounts/access-policy';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { User } from '../accounts/account.entities';
import type { CartService } from '../cart/cart.service';
import type { Shopper } from '../shared/shopper';
import type { OutboxService } from '../mail/outbox.service';
import { FlowState } from '../flows/flow.entities';
import { orderingStateName } from '../flows/flow.service';
import { spendLimitOf } from '../accounts/spend-limit';
import { ADDRESS_FIELDS, Address, type CheckoutStep, Order } from '../orders/order.entities';
import { convertToOrder, convertToOrderSql, reprice, totalsColumns, type Actor } from '../orders/order-lifecycle';
import { basketEditability, changeBasket } from '../cart/basket-mutation';
import { priceOrder } from '../pricing/pricing';
import { pricingInputOf, type PricingRow } from '../pricing/pricing-sql';
import { PaymentMethod, type PaymentProviderCode } from '../payments/payment.entities';
import { withinMs } from '../shared/deadline';
import { PROVIDER_TIMED_OUT, type HostedPaymentOutcome, type PaymentProvider, type ProviderResult } from '../payments/payment-provider';
import type { PaymentProviders } from '../payments/payment-providers';
import { DomainError, notFound } from '../shared/errors';
import { formatMoney } from '../shared/money';
import type { DrainJob } from '../jobs/job-queue';
import { ShippingMethod } from '../shipping/shipping-method.entity';
import { lockStepBasket, readCheckoutPage, readReceipt, type CheckoutPage, type ReceiptPage, type StepBasket, type StepEdit, type StepLookups } from './checkout-page';
import { emSql, sqlReader, sqlTransaction, type SqlTransaction } from '../db/sql';
import { cardRequired, mayOrderCart, paymentDeclined, type PlaceInput, type PlaceResult } from './placement';
import {
  attemptByKey, attemptByReference, attemptKey, attemptStatus, attemptsToVoid, type Authorization, confirmAttempt, confirmReserved, expiredAttempts, markVoided, orderChanged,
  type QuoteAcceptance, recordProviderReference, type Release, releaseAttempt, reserveOrder, type ReservedAttempt,
} from './place-order';


export interface AddressInput { billing: Address; deliverySameAsBilling: boolean; delivery: Address }

/** How long a reservation holds stock while the shopper pays, and how long the provider may take to answer. */
export interface PlacementSettings { reservationSeconds: number; gatewayTimeoutMs: number }

/** How a hosted payment ended, for the return page and the webhook. */
export type HostedCompletion =
  | { kind: 'placed'; orderId: number; number: string; alreadyPlaced: boolean }
  | { kind: 'failed'; orderId: number; message: string }
  | { kind: 'pending'; orderId: number }
  | { kind: 'unknown' };

/** The shopping cart app: addresses → shipping and payment → review → place → receipt. */
export class CheckoutService {
  constructor(
    private readonly orm: MikroORM,
    private readonly carts: CartService,
    private readonly payments: PaymentProviders,
    private readonly outbox: OutboxService,
    private readonly placement: PlacementSettings = { reservationSeconds: 900, gatewayTimeoutMs: 20_000 },
  ) {}

  private get em() {
    return this.orm.em;
  }

  /**
   * Checkout starts (the basket's "Go to checkout", a POST): the cart becomes an order and takes the next order
   * number, under the basket's row lock. An order that was changed meanwhile (and so went back to being a cart) gets a
   * new number. Every checkout POST does the same for a cart (change()), so the pages themselves never write.
   */
  async begin(shopper: Shopper): Promise<void> {
    await this.change(shopper, {}, null);
  }

  /**
   * A checkout page's basket: read in one statement and priced with today's catalog prices, never written
   * (checkout-page.ts). A cart that may not be ordered yet is refused as starting checkout would refuse it.
   */
  async page(shopper: Shopper, withMethods = false): Promise<CheckoutPage> {
    const page = await readCheckoutPage(sqlReader(this.orm), shopper, withMethods);
    if (!page || page.order.lines.length === 0) throw new DomainError('CART_EMPTY', 'Your basket is empty. Add a product before checking out.');
    if (page.order.type === 'cart') {
      await assertCartOrderable(this.em, { stateId: page.order.stateId, companyId: page.order.companyId, totalMinor: page.totals.totalMinor, currencyCode: page.order.currencyCode }, shopper.userId);
    }
    return page;
  }

  async saveAddresses(shopper: Shopper, input: AddressInput): Promise<void> {
    const shipTo = input.deliverySameAsBilling ? input.billing : input.delivery;
    await this.change(shopper, {}, (basket) => {
      const changed = changedFrom(basket.billing.country, input.billing.country) || changedFrom(basket.billing.region, input.billing.region)
        || changedFrom(basket.shipTo.country, shipTo.country) || changedFrom(basket.shipTo.region, shipTo.region);
      return { set: { billing: input.billing, delivery: input.deliverySameAsBilling ? null : input.delivery }, step: 'methods', downgrade: changed ? 'country or region changed' : null };
    });
  }

  async saveMethods(shopper: Shopper, input: { shippingMethodId: number; paymentMethodId: number }): Promise<void> {
    await this.change(shopper, input, (basket) => {
      if (!basket.chosenShipping) throw new DomainError('VALIDATION', 'Please choose one of the shipping methods.', { shippingMethodId: 'choose a shipping method' });
      if (!basket.chosenPayment) throw new DomainError('VALIDATION', 'Please choose one of the payment methods.', { paymentMethodId: 'choose a payment method' });
      const reasons: string[] = [];
      if (basket.shippingMethodId != null && basket.shippingMethodId !== input.shippingMethodId) reasons.push('shipping changed');
      if (basket.paymentMethodId != null && basket.paymentMethodId !== input.paymentMethodId) reasons.push('payment changed');
      return { set: input, step: 'review', downgrade: reasons.join(', ') || null };
    });
  }

  async applyVoucher(shopper: Shopper, code: string): Promise<void> {
    const normalized = code.trim().toUpperCase();
    await this.change(shopper, { voucherCode: normalized }, (basket) => {
      if (normalized && !basket.voucherValid) throw new DomainError('VOUCHER_INVALID', `The voucher code "${code.trim()}" is not valid.`, { voucherCode: 'is not a valid code' });
      if (normalized === basket.voucherCode) return {};
      return { set: { voucherCode: normalized }, downgrade: normalized ? 'voucher added' : 'voucher removed' };
    });
  }

  /**
   * Places the order exactly once, holding no lock while the payment provider answers (README, "Placing an
   * order"): reserve the stock (short transaction) → authorize (no transaction) → confirm (short transaction), and
   * on any failure release the reservation and void what may have been authorized. A double click finds the first
   * click's attempt under way, waits for it and shows its outcome. With a hosted payment page the answer is where
   * the shopper pays; the webhook or the shopper's return then confirms (completeHostedPayment).
   */
  async place(shopper: Shopper, input: PlaceInput): Promise<PlaceResult> {
    if (shopper.priceDate) await this.repriceForPlacement(shopper, input);
    return this.placeThrough(shopper, input);
  }

  /**
   * Places an offered quote the customer accepts (QuoteService.accept), the way place() places an order: the quote's
   * stock is reserved while it is still a quote, its payment authorized outside any transaction, and `accepting`
   * turns it into the order in the confirming transaction — so a declined card leaves the quote offered, and a
   * second accept waits for the first and shows its order. Direct payment providers only (checked by the caller).
   */
  async placeQuote(shopper: Shopper, input: PlaceInput, accepting: QuoteAcceptance): Promise<PlaceResult> {
    return this.placeThrough(shopper, input, accepting);
  }

  private async placeThrough(shopper: Shopper, input: PlaceInput, accepting?: QuoteAcceptance): Promise<PlaceResult> {
    for (let round = 0; round < 5; round++) {
      const reservation = await reserveOrder(this.orm, shopper, input, {
        reservationSeconds: this.placement.reservationSeconds, acceptStoredPrices: !!shopper.priceDate || !!accepting, quote: !!accepting,
        settle: accepting ? undefined : { outbox: this.outbox, authorize: (attempt) => this.authorizeInProcess(attempt) },
      });
      if (reservation.kind === 'placed') return { orderId: reservation.orderId, number: reservation.number, alreadyPlaced: true };
      if (reservation.kind === 'completed') return { orderId: reservation.orderId, number: reservation.number, alreadyPlaced: false };
      if (reservation.kind === 'stale') {
        await this.repriceForPlacement(shopper, input);
      } else if (reservation.kind === 'busy') {
        // A hosted payment the shopper left (or one that ran out of time) gives way to this new attempt.
        if (reservation.expired || this.payments.get(reservation.provider).flow === 'hosted') {
          await this.release(reservation.attemptId, { mayBeAuthorized: true, message: 'Replaced by a new payment attempt.' });
        } else {
          await this.waitForAttempt(reservation.attemptId);
        }
      } else {
        return this.pay(reservation.attempt, input, accepting);
      }
    }
    throw orderChanged();
  }

  /**
   * A provider that authorizes in process (an invoice), asked inside the reserving transaction: its authorization,
   * or null — another provider, a refusal or a failure leave the attempt to be reserved, committed and paid (pay()).
   */
  private async authorizeInProcess(attempt: ReservedAttempt): Promise<Authorization | null> {
    const provider = this.payments.get(attempt.provider);
    if (provider.flow !== 'direct' || !provider.inProcess || provider.needsCard) return null;
    const auth = await provider.authorize(authorizeRequest(attempt)).catch(() => null);
    return auth?.success ? authorizationOf(auth, provider) : null;
  }

  /** Asks the provider for a reserved attempt, then confirms or releases it. */
  private async pay(attempt: ReservedAttempt, input: PlaceInput, accepting?: QuoteAcceptance): Promise<PlaceResult> {
    const provider = this.payments.get(attempt.provider);
    const request = authorizeRequest(attempt);
    if (provider.flow === 'hosted') {
      if (!input.urls) throw new Error('A hosted payment needs the return and webhook URLs.');
      const started = await this.askProvider(attempt.id, () => provider.startPayment({ ...request, ...input.urls! }));
      await recordProviderReference(this.orm, attempt.id, started.reference);
      return { redirectUrl: started.redirectUrl };
    }
    if (provider.needsCard && !input.card) {
      await this.release(attempt.id, { mayBeAuthorized: false, message: 'No card details.' });
      throw cardRequired();
    }
    const auth = await this.askProvider(attempt.id, () => provider.authorize({ ...request, card: input.card }));
    if (!auth.success) {
      await this.release(attempt.id, { mayBeAuthorized: false, declined: true, message: auth.message });
      throw paymentDeclined(auth.message);
    }
    return this.confirm(attempt, authorizationOf(auth, provider), provider, accepting);
  }

  /**
   * The outcome of a hosted payment, from its webhook or from the provider when the shopper comes back — whichever
   * comes first completes the order; the other (and every duplicate) finds it done. A late authorization for an
   * attempt that was released meanwhile is voided.
   */
  async completeHostedPayment(outcome: HostedPaymentOutcome): Promise<HostedCompletion> {
    const attempt = await attemptByKey(this.orm, outcome.attemptKey);
    if (!attempt) return { kind: 'unknown' };
    const provider = this.payments.get(attempt.provider);
    // Placed before (the webhook sent again, the shopper's return after the webhook): nothing to do, no lock to take.
    if (attempt.status === 'completed' && outcome.status === 'authorized') return { kind: 'placed', orderId: attempt.orderId, number: attempt.number, alreadyPlaced: true };
    if (outcome.status === 'pending') return { kind: 'pending', orderId: attempt.orderId };
    if (outcome.status !== 'authorized') {
      await this.release(attempt.id, { mayBeAuthorized: false, declined: outcome.status === 'declined', message: outcome.message });
      // A cancelled payment (the shopper's "cancel" on the provider's page, or the shop's void of an attempt it gave up)
      // is not a refusal of the card: said as such.
      const message = outcome.status === 'cancelled'
        ? 'The payment was cancelled, so the order has not been placed and nothing was charged. You can pay again below, or choose another payment method.'
        : paymentDeclined(outcome.message).message;
      return { kind: 'failed', orderId: attempt.orderId, message };
    }
    try {
      const placed = await this.confirm(attempt.id, {
        reference: outcome.reference, message: outcome.message, cardType: outcome.cardType, cardLast4: outcome.cardLast4, initialCaptureState: provider.initialCaptureState,
      }, provider);
      return { kind: 'placed', ...placed };
    } catch (e) {
      if (e instanceof DomainError) return { kind: 'failed', orderId: attempt.orderId, message: e.message };
      throw e;
    }
  }

  /** The shopper is back from the hosted payment page: asks the provider (never the redirect) how the payment went. */
  async returnFromPaymentPage(shopper: Shopper, reference: string, placedInSession: number[]): Promise<HostedCompletion> {
    const attempt = await attemptByReference(this.orm, reference);
    if (!attempt || !ownsAttempt(shopper, attempt, placedInSession)) throw notFound('The payment');
    const provider = this.payments.get(attempt.provider);
    if (provider.flow !== 'hosted') throw notFound('The payment');
    // The webhook placed it already: the receipt, without asking the provider again.
    if (attempt.status === 'completed') return { kind: 'placed', orderId: attempt.orderId, number: attempt.number, alreadyPlaced: true };
    return this.completeHostedPayment(await provider.outcome(reference));
  }

  /** Hosted webhooks: the provider whose signature verifies the body, or null (forged or garbled). */
  verifyWebhook(providerCode: PaymentProviderCode, rawBody: Buffer, headers: Record<string, string | string[] | undefined>): HostedPaymentOutcome | null {
    const provider = this.payments.get(providerCode);
    return provider?.flow === 'hosted' ? provider.verifyWebhook(rawBody, headers) : null;
  }

  /** Completes the order (an attempt this request reserved: in one statement), or releases and voids when it cannot be. */
  private async confirm(reserved: number | ReservedAttempt, auth: Authorization, provider: PaymentProvider, accepting?: QuoteAcceptance): Promise<{ orderId: number; number: string; alreadyPlaced: boolean }> {
    const attemptId = typeof reserved === 'number' ? reserved : reserved.id;
    const confirming = typeof reserved === 'number' || accepting ? confirmAttempt(this.orm, this.outbox, attemptId, auth, accepting) : confirmReserved(this.orm, this.outbox, reserved, auth);
    const confirmed = await confirming.catch(async (e) => {
      // A refused acceptance (the quote's flow does not allow the move) places nothing: give back and void now.
      if (e instanceof DomainError) await this.releaseAndVoid(attemptId, provider, 'The order could not be placed after the payment was authorized.');
      throw e;
    });
    if (confirmed.kind !== 'gone') return { orderId: confirmed.orderId, number: confirmed.number, alreadyPlaced: confirmed.kind === 'already' };
    // Nothing may stay charged without an order: release (when the order changed) and void now.
    await this.releaseAndVoid(attemptId, provider, 'The order changed while the payment was authorized.');
    throw new DomainError('CONFLICT', confirmed.reason === 'changed'
      ? 'Your order changed while your payment was being authorized, so it was not placed and nothing was charged. Please review it again.'
      : 'This payment was no longer open (it ran out of time, or your order changed meanwhile), so nothing was charged and the reserved items were released. Please review your order and pay again.');
  }

  /** A provider call that fails or does not answer in time releases the attempt: nothing charged, a clear message. */
  private async askProvider<T>(attemptId: number, call: () => Promise<T>): Promise<T> {
    try {
      return await withinMs(call(), this.placement.gatewayTimeoutMs, PROVIDER_TIMED_OUT);
    } catch (e) {
      console.error(`[checkout] payment provider failed for attempt ${attemptId}:`, e instanceof Error ? e.message : e);
      await this.release(attemptId, { mayBeAuthorized: true, message: 'The payment provider failed or did not answer in time.' });
      throw new DomainError('PAYMENT_UNAVAILABLE', 'We could not reach the payment service just now, so your order was not placed and nothing was charged. Please try again in a moment.');
    }
  }

  private async release(attemptId: number, release: Release): Promise<void> {
    await releaseAttempt(this.orm, attemptId, release);
  }

  private async releaseAndVoid(attemptId: number, provider: PaymentProvider, message: string): Promise<void> {
    await this.release(attemptId, { mayBeAuthorized: true, message });
    await this.voidAttempt(attemptId, provider);
  }

  private async voidAttempt(attemptId: number, provider: PaymentProvider): Promise<void> {
    const result = await provider.voidAttempt(attemptKey(attemptId)).catch((e: Error) => ({ success: false, message: e.message }));
    if (result.success) await markVoided(this.orm, attemptId);
  }

  /** A second click waits (no lock held) until the first click's attempt is completed or released. */
  private async waitForAttempt(attemptId: number): Promise<void> {
    const until = Date.now() + this.placement.gatewayTimeoutMs + 5000;
    while (Date.now() < until) {
      const attempt = await attemptStatus(this.orm, attemptId);
      if (!attempt || attempt.status !== 'reserved') return;
      await sleep(25);
    }
    throw new DomainError('CONFLICT', 'Your payment is still being processed. Please reload this page in a moment.');
  }

  /** Catalog prices changed since the review (or a staff context date applies): the order is priced again first. */
  private async repriceForPlacement(shopper: Shopper, input: PlaceInput): Promise<void> {
    await this.em.transactional(async (em) => {
      // A resubmit after the basket cookie was cleared still finds the order this browser placed.
      const where = { number: input.orderNumber, deleted: false, $or: [ownedBy(shopper), { id: { $in: input.placedInSession } }] };
      const order = await em.findOne(Order, where, { populate: ['lines'], lockMode: LockMode.PESSIMISTIC_WRITE });
      if (order && !order.completed && order.type === 'order') await reprice(em, order, shopper.priceDate);
    });
  }


  /**
   * Reserved attempts that ran out of time give their stock back, and authorizations of released attempts are
   * voided at the provider (retried until the provider confirms). Runs as a background job; safe in several
   * processes (each release happens once, a void is idempotent).
   */
  async releaseExpired(limit = 50): Promise<number> {
    const expired = await expiredAttempts(this.orm, limit);
    for (const id of expired) await this.release(id, { mayBeAuthorized: true, message: 'The payment was not finished in time.', byJob: true });
    const toVoid = await attemptsToVoid(this.orm, limit);
    for (const a of toVoid) await this.voidAttempt(a.id, this.payments.get(a.provider));
    return Math.max(expired.length, toVoid.length);
  }

  /** releaseExpired as a job (src/jobs/job-queue.ts). */
  reservationExpiryJob(everyMs: number): DrainJob {
    return { name: 'reservations', everyMs, batchSize: 50, drain: (limit) => this.releaseExpired(limit) };
  }

  /** The methods an offered quote can be paid with: those paid on the quote's own page (no provider's payment page). */
  async quotePaymentMethods() {
    return (await this.paymentMethods()).filter((m) => this.payments.direct(m.provider));
  }

  /** A quote is accepted with a direct payment method only (no hosted payment page): others are refused on the quote. */
  refuseHostedPayment(method: PaymentMethod): void {
    if (!this.payments.direct(method.provider)) {
      throw new DomainError('VALIDATION', `${method.name} cannot be used here. Please choose another payment method.`, { paymentMethodId: 'choose another payment method' });
    }
  }

  /** The receipt, for the customer who placed the order (a guest: in the same browser, src/http/placed-orders.ts); read in one statement. */
  async receipt(shopper: Shopper, number: string, placedInSession: number[]): Promise<ReceiptPage> {
    const receipt = await readReceipt(sqlReader(this.orm), number);
    // The receipt is its buyer's alone (not the company's): the access policy's owner, or the guest of this browser.
    const mine = receipt && ((shopper.userId != null && relationTo({ id: shopper.userId, companyId: null }, { userId: receipt.order.userId, companyId: null }) === 'owner')
      || placedInSession.includes(receipt.order.id));
    if (!receipt || !mine) throw notFound('The order');
    return receipt;
  }

  async paymentMethods() {
    return this.em.find(PaymentMethod, { active: true }, { orderBy: { sortOrder: 'asc' } });
  }

  /**
   * A checkout POST, through the one basket change (src/cart/basket-mutation.ts). `edit` holds the step's rules once:
   * from the basket as lockStepBasket reads it, what changes (a StepEdit) and why an order in checkout goes back to
   * being a cart. The common case — an order in checkout, current prices, no downgrade — is changeBasket's `quick`
   * step: two round trips (lock and read; UPDATE of the columns, totals, step and version with the COMMIT). Anything
   * else declines to the ORM path, which applies the same edit to the entity, downgrades, reprices, and turns a cart
   * (not in checkout yet, or changed by this step) into an order with the next number, as the last write.
   */
  private async change(shopper: Shopper, lookups: StepLookups, edit: ((basket: StepBasket) => StepEdit) | null): Promise<void> {
    await changeBasket(this.em, {
      actor: actorOf(shopper), priceDate: shopper.priceDate, lock: (em) => this.lockedBasket(em, shopper),
      quick: !shopper.priceDate ? () => sqlTransaction(this.orm, (sql) => this.quickStep(sql, shopper, lookups, edit)) : undefined,
      apply: async (em, order) => {
        if (!edit) return null;
        const basket = await lockStepBasket(emSql(em), shopper, lookups);
        if (!basket) throw new DomainError('CART_EMPTY', 'Your basket is empty. Add a product before checking out.');
        const change = edit(basket);
        applyToOrder(em, order, change);
        return change.downgrade ?? null;
      },
      afterPricing: async (em, order) => {
        advance(order, 'addresses');
        if (order.type !== 'cart') return;
        await assertCartOrderable(em, { stateId: order.state?.id ?? null, companyId: order.company?.id ?? null, totalMinor: order.totalMinor, currencyCode: order.currencyCode }, shopper.userId);
        if (!order.billing.email && shopper.userId != null) {
          const user = await em.findOneOrFail(User, shopper.userId);
          order.billing.email = user.email;
          order.billing.name ||= user.name;
        }
        await convertToOrder(em, order, actorOf(shopper));
      },
    });
  }

  /**
   * changeBasket's quick step of a checkout POST: makes the change and answers true in the common case, else false
   * (nothing written). A cart that may be ordered as it is (its state allows ordering, current prices) becomes an
   * order in the same last statement (convertToOrderSql), sent with the COMMIT; an order already in checkout changes
   * only with a step's edit and no downgrade.
   */
  private async quickStep(sql: SqlTransaction, shopper: Shopper, lookups: StepLookups, edit: ((basket: StepBasket) => StepEdit) | null): Promise<boolean> {
    const basket = await lockStepBasket(sql, shopper, lookups);
    if (!basket || basket.row.lines.length === 0 || !basket.priced || basket.row.lines.some((l) => l.stale)) return false;
    const cart = basket.type === 'cart';
    if (cart ? basket.stateAllowsOrder === false || !basket.entering : !edit) return false;
    basketEditability(basket);
    const change = edit?.(basket) ?? {};
    // A cart has nothing to go back from (downgradeToCart leaves it as it is).
    if (change.downgrade && !cart) return false;
    const columns = Object.entries({ ...stepColumns(change.set ?? {}), checkout_step: later(basket.checkoutStep, change.step ?? 'addresses') });
    const totals = priceOrder(pricingInputOf({ ...basket.row, ...methodPricing(basket, lookups) }));
    const stored = totalsColumns(totals);
    const set = { assignments: [...columns.map(([c]) => `${c} = ?`), stored.assignments].join(', '), values: [...columns.map(([, v]) => v), ...stored.values] };
    if (!cart) {
      await sql.commitWith(`update orders set ${set.assignments}, version = version + 1, updated_at = now() where id = ?`, [...set.values, basket.id]);
      return true;
    }
    // As the ORM path: a logged-in shopper's order without a billing e-mail gets the account's e-mail (and name).
    if (shopper.userId != null && !change.set?.billing) {
      set.assignments += `, billing_email = case when o.billing_email = '' then u.email else o.billing_email end,
        billing_name = case when o.billing_email = '' and o.billing_name = '' then u.name else o.billing_name end`;
    }
    const converted = convertToOrderSql(basket, basket.entering!, actorOf(shopper), set, shopper.userId);
    if (!converted) return false;
    await sql.commitWith(converted.text, converted.values);
    return true;
  }

  private async lockedBasket(em: EntityManager, shopper: Shopper): Promise<Order> {
    const order = await this.carts.findBasket(shopper, em, true);
    if (!order || order.lines.length === 0) throw new DomainError('CART_EMPTY', 'Your basket is empty. Add a product before checking out.');
    return order;
  }
}

/** What a direct provider is asked for a reserved attempt. */
function authorizeRequest(attempt: ReservedAttempt) {
  return { attemptKey: attemptKey(attempt.id), orderNumber: attempt.number, amountMinor: attempt.amountMinor, currencyCode: attempt.currencyCode };
}

/** A direct provider's successful answer as the order records it. */
function authorizationOf(auth: ProviderResult, provider: PaymentProvider): Authorization {
  return { reference: auth.reference, message: auth.message, cardType: auth.cardType ?? '', cardLast4: auth.cardLast4 ?? '', initialCaptureState: provider.initialCaptureState };
}

function actorOf(shopper: Shopper, source: Actor['source'] = 'frontend'): Actor {
  return { userId: shopper.userId, kind: 'customer', source };
}

/** Whether the shopper's order is the attempt's: theirs (their user, else their basket token), or placed in this browser. */
function ownsAttempt(shopper: Shopper, attempt: { orderId: number; owner: { userId: number | null; anonymousToken: string | null } }, placedInSession: number[]): boolean {
  if (placedInSession.includes(attempt.orderId)) return true;
  const { owner } = attempt;
  if (shopper.userId != null) return owner.userId === shopper.userId;
  return owner.userId == null && owner.anonymousToken != null && owner.anonymousToken.toLowerCase() === (shopper.anonymousToken ?? '').toLowerCase();
}

function ownedBy(shopper: Shopper) {
  return shopper.userId != null ? { user: shopper.userId } : { user: null, anonymousToken: shopper.anonymousToken ?? '00000000-0000-0000-0000-000000000000' };
}

const STEP_ORDER = ['cart', 'addresses', 'methods', 'review', 'placing', 'confirmation'] as const;
/** A step forward; a cart moves too, as every checkout POST converts it before it commits. */
function advance(order: Order, step: Order['checkoutStep']): void {
  order.checkoutStep = later(order.checkoutStep, step);
}

/** The later of two checkout steps: a step only moves forward. */
function later(a: CheckoutStep, b: CheckoutStep): CheckoutStep {
  return STEP_ORDER.indexOf(b) > STEP_ORDER.indexOf(a) ? b : a;
}

/** A StepEdit as the order's columns (the quick step's UPDATE). */
function stepColumns(set: NonNullable<StepEdit['set']>): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (set.billing) for (const f of ADDRESS_FIELDS) columns[`billing_${f}`] = set.billing[f];
  if (set.delivery !== undefined) {
    columns.delivery_same_as_billing = set.delivery === null;
    for (const f of ADDRESS_FIELDS) columns[`delivery_${f}`] = set.delivery?.[f] ?? '';
  }
  if (set.shippingMethodId !== undefined) columns.shipping_method_id = set.shippingMethodId;
  if (set.paymentMethodId !== undefined) columns.payment_method_id = set.paymentMethodId;
  if (set.voucherCode !== undefined) columns.voucher_code = set.voucherCode;
  return columns;
}

/** A StepEdit on the ORM entity (changeBasket's path). */
function applyToOrder(em: EntityManager, order: Order, change: StepEdit): void {
  const set = change.set ?? {};
  if (set.billing) order.billing = Address.of(set.billing);
  if (set.delivery !== undefined) {
    order.deliverySameAsBilling = set.delivery === null;
    order.delivery = set.delivery === null ? new Address() : Address.of(set.delivery);
  }
  if (set.shippingMethodId !== undefined) order.shippingMethod = em.getReference(ShippingMethod, set.shippingMethodId);
  if (set.paymentMethodId !== undefined) order.paymentMethod = em.getReference(PaymentMethod, set.paymentMethodId);
  if (set.voucherCode !== undefined) order.voucherCode = set.voucherCode;
  if (change.step) advance(order, change.step);
}

/** A chosen method replaces the order's own in the pricing of the step that chooses it. */
function methodPricing(basket: StepBasket, lookups: StepLookups): Partial<PricingRow> {
  return {
    ...(lookups.shippingMethodId != null && basket.chosenShipping ? { shipping_name: basket.chosenShipping.name, shipping_fee_minor: String(basket.chosenShipping.feeMinor), shipping_free_above_minor: basket.chosenShipping.freeAboveMinor == null ? null : String(basket.chosenShipping.freeAboveMinor) } : {}),
    ...(lookups.paymentMethodId != null && basket.chosenPayment ? { payment_fee_minor: String(basket.chosenPayment.feeMinor) } : {}),
  };
}

function changedFrom(before: string, after: string): boolean {
  return before !== '' && before !== after;
}

/**
 * A cart whose flow state does not "allow order" (e.g. still waiting for approval) cannot be checked out — unless it is
 * still in its flow's starting state and its total is within the buyer's spend limit (no approval needed for it).
 */
async function assertCartOrderable(em: EntityManager, order: { stateId: number | null; companyId: number | null; totalMinor: number; currencyCode: string }, userId: number | null): Promise<void> {
  const state = order.stateId != null ? await em.findOne(FlowState, order.stateId) : null;
  if (!state || state.allowOrder) return;
  const limit = userId != null && state.isDefault ? await spendLimitOf(em, userId, order.companyId) : null;
  if (mayOrderCart(state, order.totalMinor, limit)) return;
  const overLimit = limit != null ? ` Its total of ${formatMoney(order.totalMinor, order.currencyCode)} is above your spend limit of ${formatMoney(limit, order.currencyCode)}.` : '';
  const target = await orderingStateName(em, state);
  throw new DomainError('CART_NOT_ORDERABLE', `This cart is “${state.name}” and cannot be ordered yet.${overLimit} It must reach a state that allows ordering${target ? ` (“${target}”)` : ''} first.`);
}
