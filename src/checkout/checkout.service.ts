import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { User } from '../accounts/account.entities';
import { Shop } from '../catalog/catalog.entities';
import { takeStock } from '../catalog/stock';
import type { CartService, Shopper } from '../cart/cart.service';
import type { OutboxService } from '../mail/outbox.service';
import { enqueueOrderExport } from '../exports/auto-export.service';
import { FlowState } from '../flows/flow.entities';
import { Order, type Address, ADDRESS_FIELDS } from '../orders/order.entities';
import { convertToOrder, downgradeToCart, recordHistory, reprice, type Actor } from '../orders/order-lifecycle';
import { PaymentMethod, PaymentTransaction } from '../payments/payment.entities';
import type { CardInput } from '../payments/payment-provider';
import type { PaymentProviders } from '../payments/payment-providers';
import { DomainError, notFound } from '../shared/errors';
import { ShippingMethod } from '../shipping/shipping-method.entity';
import { Voucher } from './voucher.entity';
import { assertReadyToPlace, cardRequired, outOfStockMessage, PaymentDeclined, placedMessage, receiptMail, type PlaceInput, type PlaceResult } from './placement';
import { quickPlace } from './quick-place';

export interface AddressInput { billing: Address; deliverySameAsBilling: boolean; delivery: Address }

/** The shopping cart app: addresses → shipping and payment → review → place → receipt. */
export class CheckoutService {
  constructor(
    private readonly orm: MikroORM,
    private readonly carts: CartService,
    private readonly payments: PaymentProviders,
    private readonly outbox: OutboxService,
  ) {}

  private get em() {
    return this.orm.em;
  }

  /**
   * Every checkout page starts here: a cart becomes an order and takes the next order number. An order
   * that was changed meanwhile (and so went back to being a cart) gets a new number.
   */
  async begin(shopper: Shopper): Promise<Order> {
    return this.em.transactional(async (em) => {
      const order = await this.lockedBasket(em, shopper);
      if (order.lines.length === 0) throw new DomainError('CART_EMPTY', 'Your basket is empty. Add a product before checking out.');
      await reprice(em, order, shopper.priceDate);
      await em.populate(order, ['lines.product', 'shippingMethod', 'paymentMethod']);
      if (order.type === 'cart') {
        await assertCartOrderable(em, order);
        if (!order.billingEmail && shopper.userId != null) {
          const user = await em.findOneOrFail(User, shopper.userId);
          order.billingEmail = user.email;
          order.billingName ||= user.name;
        }
        // Last, so the shop's numbering row stays locked only until the commit that follows.
        await convertToOrder(em, order, actorOf(shopper));
      }
      if (order.checkoutStep === 'cart') order.checkoutStep = 'addresses';
      return order;
    });
  }

  async saveAddresses(shopper: Shopper, input: AddressInput): Promise<void> {
    await this.change(shopper, async (em, order, actor) => {
      const changed = ['country', 'region'].some((f) =>
        changedFrom(order.billing()[f as 'country'], input.billing[f as 'country']) ||
        changedFrom(order.delivery()[f as 'country'], (input.deliverySameAsBilling ? input.billing : input.delivery)[f as 'country']));
      for (const f of ADDRESS_FIELDS) {
        const key = f[0].toUpperCase() + f.slice(1);
        (order as any)['billing' + key] = input.billing[f];
        (order as any)['delivery' + key] = input.deliverySameAsBilling ? '' : input.delivery[f];
      }
      order.deliverySameAsBilling = input.deliverySameAsBilling;
      if (changed) await downgradeToCart(em, order, actor, 'country or region changed');
      advance(order, 'methods');
    });
  }

  async saveMethods(shopper: Shopper, input: { shippingMethodId: number; paymentMethodId: number }): Promise<void> {
    await this.change(shopper, async (em, order, actor) => {
      const shipping = await em.findOne(ShippingMethod, { id: input.shippingMethodId, active: true });
      const payment = await em.findOne(PaymentMethod, { id: input.paymentMethodId, active: true });
      if (!shipping) throw new DomainError('VALIDATION', 'Please choose one of the shipping methods.', { shippingMethodId: 'choose a shipping method' });
      if (!payment) throw new DomainError('VALIDATION', 'Please choose one of the payment methods.', { paymentMethodId: 'choose a payment method' });
      const reasons: string[] = [];
      if (order.shippingMethod && order.shippingMethod.id !== shipping.id) reasons.push('shipping changed');
      if (order.paymentMethod && order.paymentMethod.id !== payment.id) reasons.push('payment changed');
      order.shippingMethod = shipping;
      order.paymentMethod = payment;
      if (reasons.length) await downgradeToCart(em, order, actor, reasons.join(', '));
      advance(order, 'review');
    });
  }

  async applyVoucher(shopper: Shopper, code: string): Promise<void> {
    await this.change(shopper, async (em, order, actor) => {
      const normalized = code.trim().toUpperCase();
      if (normalized) {
        const voucher = await em.findOne(Voucher, { code: normalized, active: true });
        if (!voucher) throw new DomainError('VOUCHER_INVALID', `The voucher code "${code.trim()}" is not valid.`, { voucherCode: 'is not a valid code' });
      }
      if (normalized === order.voucherCode) return;
      order.voucherCode = normalized;
      await downgradeToCart(em, order, actor, normalized ? 'voucher added' : 'voucher removed');
    });
  }

  /**
   * Places the order exactly once: the order row is locked, so a double click or a resubmit waits and then
   * finds the order already placed. Stock is taken with conditional updates (never below zero) and the
   * payment authorized in the same transaction; a decline rolls both back and is logged on its own.
   */
  async place(shopper: Shopper, input: PlaceInput): Promise<PlaceResult> {
    const quick = await this.declinesAsErrors(shopper, () => quickPlace(this.orm, { payments: this.payments, outbox: this.outbox }, shopper, input));
    if (quick) return quick;
    return this.declinesAsErrors(shopper, () => this.em.transactional(async (em) => {
      // A resubmit after the basket cookie was cleared still finds the order this browser placed.
      const where = { number: input.orderNumber, deleted: false, $or: [ownedBy(shopper), { id: { $in: input.placedInSession } }] };
      const order = await em.findOne(Order, where, { populate: ['lines'], lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!order) throw new DomainError('CONFLICT', 'Your order changed after you reviewed it. Please review it again.');
      if (order.completed) return { orderId: order.id, number: order.number, alreadyPlaced: true };
      if (order.type !== 'order' || order.basketStatus !== 'basket') throw new DomainError('CONFLICT', 'Your order changed after you reviewed it. Please review it again.');
      assertReadyToPlace({ lineCount: order.lines.length, billing: order.billing(), hasShipping: !!order.shippingMethod, hasPayment: !!order.paymentMethod });
      await reprice(em, order, shopper.priceDate);
      await this.finalizePlacement(em, order, { card: input.card, customerComment: input.customerComment, ip: input.ip, actor: actorOf(shopper, 'checkout') });
      return { orderId: order.id, number: order.number, alreadyPlaced: false };
    }));
  }

  /**
   * The part of placing an order shared by checkout and accepted quotes; the caller holds the order row lock.
   * Takes stock, authorizes the payment, marks the order completed and queues the receipt — or throws
   * PaymentDeclined / INSUFFICIENT_STOCK so the caller's transaction rolls everything back.
   */
  async finalizePlacement(em: EntityManager, order: Order, input: { card?: CardInput; customerComment: string; ip: string; actor: Actor }): Promise<void> {
    const shop = await em.findOneOrFail(Shop, order.shop.id);
    await this.reserveStock(em, order, shop.allowOutOfStockOrders);
    const method = await em.findOneOrFail(PaymentMethod, order.paymentMethod!.id);
    const provider = this.payments.get(method.provider);
    if (provider.needsCard && !input.card) throw cardRequired();
    const auth = await provider.authorize({ orderNumber: order.number, amountMinor: order.totalMinor, currencyCode: order.currencyCode, card: input.card });
    if (!auth.success) throw new PaymentDeclined(order.id, order.totalMinor, auth.message);

    em.create(PaymentTransaction, { orderId: order.id, operation: 'authorize', amountMinor: order.totalMinor, success: true, message: auth.message, providerReference: auth.reference, createdAt: new Date() });
    Object.assign(order, {
      completed: true, completedAt: new Date(), checkoutStep: 'confirmation', basketStatus: null,
      captureState: provider.initialCaptureState, paymentStatus: 'authorized', transactionNumber: auth.reference,
      cardType: auth.cardType ?? '', cardLast4: auth.cardLast4 ?? '', stockReserved: true,
      customerComment: input.customerComment || order.customerComment, ip: input.ip,
    });
    await recordHistory(em, order, input.actor, 'placed', placedMessage(method.name, auth.message));
    await em.populate(order, ['lines', 'shippingMethod', 'paymentMethod']);
    await this.outbox.enqueue(em, receiptMail(order.id, order, order.lines.getItems(), order.totals, order.shippingMethod, method));
    await enqueueOrderExport(em, order.id);
  }

  /** Runs a placement; a declined payment is logged in its own transaction and becomes a clear PAYMENT_DECLINED. */
  async declinesAsErrors<T>(shopper: Shopper, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof PaymentDeclined) {
        await this.recordDecline(e, shopper);
        throw new DomainError('PAYMENT_DECLINED', `Your payment was not accepted: ${e.reason} Nothing was charged; please check the details or choose another payment method.`);
      }
      throw e;
    }
  }

  /** The receipt, for the customer who placed the order (a guest: in the same browser session). */
  async receipt(shopper: Shopper, number: string, placedInSession: number[]): Promise<Order> {
    const order = await this.em.findOne(Order, { number, completed: true, deleted: false }, { populate: ['lines', 'shippingMethod', 'paymentMethod', 'state'] });
    const mine = order && ((shopper.userId != null && order.user?.id === shopper.userId) || placedInSession.includes(order.id));
    if (!order || !mine) throw notFound('The order');
    return order;
  }

  async shippingMethods() {
    return this.em.find(ShippingMethod, { active: true }, { orderBy: { sortOrder: 'asc' } });
  }

  async paymentMethods() {
    return this.em.find(PaymentMethod, { active: true }, { orderBy: { sortOrder: 'asc' } });
  }

  private async change(shopper: Shopper, fn: (em: EntityManager, order: Order, actor: Actor) => Promise<void>): Promise<void> {
    await this.em.transactional(async (em) => {
      const order = await this.lockedBasket(em, shopper);
      await fn(em, order, actorOf(shopper));
      await reprice(em, order, shopper.priceDate);
    });
  }

  private async lockedBasket(em: EntityManager, shopper: Shopper): Promise<Order> {
    const order = await this.carts.findBasket(shopper, em, true);
    if (!order || order.lines.length === 0) throw new DomainError('CART_EMPTY', 'Your basket is empty. Add a product before checking out.');
    return order;
  }

  private async reserveStock(em: EntityManager, order: Order, allowOutOfStock: boolean): Promise<void> {
    await takeStock(em, order.lines.getItems(), allowOutOfStock, outOfStockMessage);
  }


  private async recordDecline(e: PaymentDeclined, shopper: Shopper): Promise<void> {
    await this.orm.em.fork().transactional(async (em) => {
      const order = await em.findOne(Order, { id: e.orderId });
      if (!order || order.completed) return;
      order.paymentStatus = 'declined';
      em.create(PaymentTransaction, { orderId: order.id, operation: 'authorize', amountMinor: e.amountMinor, success: false, message: e.reason, providerReference: '', createdAt: new Date() });
      await recordHistory(em, order, actorOf(shopper, 'checkout'), 'payment_declined', e.reason);
    });
  }
}

function actorOf(shopper: Shopper, source: Actor['source'] = 'frontend'): Actor {
  return { userId: shopper.userId, kind: 'customer', source };
}

function ownedBy(shopper: Shopper) {
  return shopper.userId != null ? { user: shopper.userId } : { user: null, anonymousToken: shopper.anonymousToken ?? '00000000-0000-0000-0000-000000000000' };
}

const STEP_ORDER = ['cart', 'addresses', 'methods', 'review', 'placing', 'confirmation'] as const;
function advance(order: Order, step: Order['checkoutStep']): void {
  if (order.type === 'order' && STEP_ORDER.indexOf(step) > STEP_ORDER.indexOf(order.checkoutStep)) order.checkoutStep = step;
}

function changedFrom(before: string, after: string): boolean {
  return before !== '' && before !== after;
}

/** A cart whose flow state does not "allow order" (e.g. still waiting for approval) cannot be checked out. */
async function assertCartOrderable(em: EntityManager, order: Order): Promise<void> {
  const state = order.state ? await em.findOne(FlowState, order.state.id) : null;
  if (state && !state.allowOrder) {
    throw new DomainError('CART_NOT_ORDERABLE', `This cart is “${state.name}” and cannot be ordered yet. It must reach a state that allows ordering (for example “Approved”) first.`);
  }
}
