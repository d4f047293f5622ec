import { LockMode } from '@mikro-orm/core';
import { visibleFilter as visibleTo } from '../accounts/access-policy';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { SessionUser } from '../accounts/account.service';
import { User } from '../accounts/account.entities';
import { Product, Shop } from '../catalog/catalog.entities';
import type { CartService } from '../cart/cart.service';
import type { Shopper } from '../shared/shopper';
import type { CheckoutService } from '../checkout/checkout.service';
import type { StateRole } from '../flows/flow.entities';
import type { FlowService, StateChangeActor } from '../flows/flow.service';
import { Order, OrderLine, QuoteVersion } from '../orders/order.entities';
import { reprice } from '../orders/order-lifecycle';
import { nextOrderNumber } from '../orders/order-numbers';
import { PaymentMethod } from '../payments/payment.entities';
import type { CardInput } from '../payments/payment-provider';
import { DomainError, notFound } from '../shared/errors';
import { log } from '../shared/log';
import type { DrainJob } from '../jobs/job-queue';
import { emSql } from '../db/sql';
import { priceToday } from '../catalog/prices';

export interface QuoteLineEdit { lineId: number; quantity: number; unitPriceMinor: number; discountMinor: number; remove: boolean }
export interface QuoteEdit {
  expectedVersion: number;
  lines: QuoteLineEdit[];
  add?: { productNumber: string; quantity: number; unitPriceMinor: number | null; discountMinor: number } | null;
  orderDiscountMinor: number;
  expiresOn: string | null;
  message: string;
}
export interface AcceptInput { paymentMethodId: number; card?: CardInput; ip: string }

const today = () => new Date().toISOString().slice(0, 10);

/**
 * Quotes: a cart checked out "for a quote", priced by staff, offered to the customer, then accepted (it becomes
 * an order at exactly the offered prices) or rejected. Every staff edit is kept as a version.
 */
export class QuoteService {
  constructor(
    private readonly orm: MikroORM,
    private readonly carts: CartService,
    private readonly checkout: CheckoutService,
    private readonly flows: FlowService,
  ) {}

  private get em() {
    return this.orm.em;
  }

  /** From the checkout review: the basket leaves the shop's checkout and becomes a quote in the default quote flow. */
  async requestQuote(shopper: Shopper, customerComment: string): Promise<Order> {
    if (shopper.userId == null) throw new DomainError('UNAUTHENTICATED', 'Please log in to request a quote, so you can follow it in your account.');
    return this.em.transactional(async (em) => {
      const basket = await this.carts.findBasket(shopper, em, true);
      if (!basket || basket.lines.length === 0) throw new DomainError('CART_EMPTY', 'Your basket is empty.');
      const shop = await em.findOneOrFail(Shop, basket.shop.id);
      const state = await this.flows.defaultState(em, 'quote');
      const from = basket.number;
      const [{ n }] = await em.execute<{ n: string }[]>(`select nextval('quote_number_seq') as n`);
      Object.assign(basket, { number: `${shop.quotePrefix}${n}`, type: 'quote', basketStatus: null, customerComment, anonymousToken: null });
      if (!basket.billing.email) basket.billing.email = (await em.findOneOrFail(User, shopper.userId!)).email;
      await reprice(em, basket);
      await this.flows.move(em, basket, state, { actor: { userId: shopper.userId, kind: 'customer', source: 'frontend' }, check: 'enter', event: 'quote_requested', message: `Quote requested from ${from}.` });
      await this.snapshot(em, basket, shopper.userId, 'Requested by the customer');
      return basket;
    });
  }

  // ---- customer side ----

  async customerQuotes(user: SessionUser) {
    // Accepted quotes became orders; they stay listed under their quote id.
    return this.em.find(Order, { ...visibleTo(user), deleted: false, $and: [{ $or: [{ type: 'quote' }, { quoteNumber: { $ne: null } }] }] }, { populate: ['state'], orderBy: { updatedAt: 'desc' } });
  }

  async customerQuote(user: SessionUser, number: string) {
    const quote = await this.em.findOne(Order, { ...visibleTo(user), deleted: false, $and: [{ $or: [{ number, type: 'quote' }, { quoteNumber: number }] }] }, { populate: ['lines', 'state', 'paymentMethod', 'shippingMethod'] });
    if (!quote) throw notFound('The quote');
    return { quote, acceptable: acceptRefusal(quote) === null, refusal: acceptRefusal(quote) };
  }

  /**
   * Accepting turns the quote into an order at the offered prices, paid by the chosen method, placed the way checkout
   * places an order (CheckoutService.placeQuote, README "Placing an order and payments"): the chosen method is saved
   * under the quote's row lock, the quote's stock reserved, the payment authorized outside any transaction, and the
   * quote accepted — it becomes the order — in the transaction that completes it. A declined card leaves it offered;
   * a second accept (double click, two tabs, two colleagues) waits for the first and gets that order.
   */
  async accept(user: SessionUser, number: string, input: AcceptInput): Promise<{ order: Order; alreadyAccepted: boolean }> {
    const shopper: Shopper = { userId: user.id, companyId: user.companyId, anonymousToken: null };
    const answered = await this.em.transactional(async (em) => {
      const quote = await this.lockVisible(em, user, number);
      if (quote.type === 'order' && quote.quoteAnswer === 'accepted') return quote;
      const refusal = acceptRefusal(quote);
      if (refusal) throw new DomainError('CONFLICT', refusal);
      // A colleague's accept is being paid right now: leave the quote as it is; placing waits for it and shows its order.
      const [paying] = await em.execute(`select 1 from payment_attempts where order_id = ? and status = 'reserved'`, [quote.id]);
      if (paying) return null;
      const method = await em.findOne(PaymentMethod, { id: input.paymentMethodId, active: true });
      if (!method) throw new DomainError('VALIDATION', 'Please choose a payment method.', { paymentMethodId: 'choose a payment method' });
      this.checkout.refuseHostedPayment(method);
      quote.paymentMethod = method;
      // Priced while still a quote, so the offered line prices stay (only the payment fee follows the chosen method).
      await reprice(em, quote);
      return null;
    });
    if (answered) return { order: answered, alreadyAccepted: true };
    const actor: StateChangeActor = { userId: user.id, kind: user.role === 'buyer' ? 'buyer' : 'customer', source: 'frontend' };
    const placed = await this.checkout.placeQuote(shopper, { orderNumber: number, customerComment: '', card: input.card, ip: input.ip, placedInSession: [] },
      (em, orderId) => this.becomeOrder(em, orderId, actor));
    if (placed.redirectUrl !== undefined) throw new Error('A quote is paid by a direct payment method only.');
    return { order: await this.em.fork().findOneOrFail(Order, placed.orderId), alreadyAccepted: placed.alreadyPlaced };
  }

  /** The reserved, paid quote is accepted and becomes an order (new number, the order flow's first state); in the confirming transaction. */
  private async becomeOrder(em: EntityManager, orderId: number, actor: StateChangeActor): Promise<string> {
    const quote = await em.findOneOrFail(Order, orderId, { populate: ['lines', 'state'], refresh: true });
    await this.moveToRole(em, quote, 'accepted', actor);
    const orderState = await this.flows.defaultState(em, 'order');
    const quoteNumber = quote.number;
    Object.assign(quote, { quoteAnswer: 'accepted', quoteNumber, number: await nextOrderNumber(em, quote.shop.id), type: 'order' });
    await this.flows.move(em, quote, orderState, { actor, check: 'enter', event: 'quote_accepted', message: `Quote ${quoteNumber} accepted and became order ${quote.number}.` });
    await em.flush();
    return quote.number;
  }

  async reject(user: SessionUser, number: string, reason: string): Promise<Order> {
    return this.em.transactional(async (em) => {
      const quote = await this.lockVisible(em, user, number);
      if (quote.type !== 'quote' || quote.quoteAnswer) throw new DomainError('CONFLICT', 'This quote has already been answered.');
      if (!quote.quoteOfferedAt) throw new DomainError('CONFLICT', 'This quote has not been offered to you yet.');
      await this.moveToRole(em, quote, 'rejected', { userId: user.id, kind: user.role === 'buyer' ? 'buyer' : 'customer', source: 'frontend' }, reason);
      quote.quoteAnswer = 'rejected';
      quote.quoteRejectReason = reason;
      return quote;
    });
  }

  // ---- staff side ----

  /** Open quotes and those accepted (now orders, still listed by their quote number), newest change first. */
  adminQuotes() {
    return this.em.find(Order, { deleted: false, $or: [{ type: 'quote' }, { type: 'order', quoteNumber: { $ne: null } }] },
      { populate: ['state', 'user', 'company'], orderBy: { updatedAt: 'desc' }, limit: 200 });
  }

  /** The order an accepted quote became (its page is the order's), or null. */
  async acceptedAs(quoteNumber: string): Promise<string | null> {
    const order = await this.em.findOne(Order, { quoteNumber, type: 'order', deleted: false }, { fields: ['number'] });
    return order?.number ?? null;
  }

  async adminQuote(number: string) {
    const quote = await this.em.findOne(Order, { number, type: 'quote', deleted: false }, { populate: ['lines', 'state.flow', 'user', 'company', 'paymentMethod', 'shippingMethod'] });
    if (!quote) throw notFound('The quote');
    const versions = await this.em.find(QuoteVersion, { order: quote }, { populate: ['createdBy'], orderBy: { versionNo: 'desc' } });
    const editable = !!quote.state?.allowEdit && !quote.quoteAnswer;
    // Where staff move a quote to change it again: its flow's in-review-role state, as named there.
    const reviewState = !editable && quote.state ? await this.flows.stateWithRole(this.em, quote.state.flow.id, 'in_review') : null;
    return { quote, versions, editable, reviewStateName: reviewState?.allowEdit ? reviewState.name : null };
  }

  async version(number: string, versionNo: number) {
    const v = await this.em.findOne(QuoteVersion, { order: { number, type: 'quote' }, versionNo }, { populate: ['createdBy'] });
    if (!v) throw notFound('That version');
    return v;
  }

  /** One staff edit: quantities, prices, discounts, added or removed products, expiry and message — saved as a new version. */
  async edit(number: string, edit: QuoteEdit, staff: SessionUser): Promise<Order> {
    return this.em.transactional(async (em) => {
      const quote = await em.findOne(Order, { number, type: 'quote', deleted: false }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!quote) throw notFound('The quote');
      if (quote.version !== edit.expectedVersion) throw new DomainError('CONFLICT', `${number} was changed by someone else meanwhile. Reload it and make your changes again.`);
      await em.populate(quote, ['lines', 'state']);
      if (!quote.state?.allowEdit || quote.quoteAnswer) {
        throw new DomainError('CART_NOT_EDITABLE', `The quote cannot be edited while it is “${quote.state?.name}”. Move it back to a state that allows editing first.`);
      }
      if (edit.expiresOn && edit.expiresOn < today()) throw new DomainError('VALIDATION', 'The expiry date must not be in the past.', { expiresOn: 'must be today or later' });
      for (const change of edit.lines) {
        const line = quote.lines.getItems().find((l) => l.id === change.lineId);
        if (!line) throw notFound('That quote line');
        if (change.remove) {
          quote.lines.remove(line);
          em.remove(line);
          continue;
        }
        if (change.discountMinor > change.quantity * change.unitPriceMinor) throw new DomainError('VALIDATION', `The discount on ${line.productName} is larger than the line.`, { lines: 'discount too large' });
        Object.assign(line, { quantity: change.quantity, unitPriceMinor: change.unitPriceMinor, discountMinor: change.discountMinor });
      }
      if (edit.add) await this.addLine(em, quote, edit.add, staff.id);
      if (quote.lines.length === 0) throw new DomainError('VALIDATION', 'A quote needs at least one line.');
      Object.assign(quote, { orderDiscountMinor: edit.orderDiscountMinor, quoteExpiresOn: edit.expiresOn, quoteMessage: edit.message, quoteOfferedAt: null });
      const totals = await reprice(em, quote);
      if (edit.orderDiscountMinor > totals.subtotalExclVatMinor) throw new DomainError('VALIDATION', 'The order discount would make the total less than 0.', { orderDiscount: 'is larger than the goods' });
      await em.flush();
      await this.snapshot(em, quote, staff.id, 'Edited by staff');
      return quote;
    });
  }

  /** Sends the offer: the quote enters the flow's "Offered" state (which mails the customer) and may be accepted. */
  async offer(number: string, staff: SessionUser): Promise<Order> {
    return this.em.transactional(async (em) => {
      const quote = await em.findOne(Order, { number, type: 'quote', deleted: false }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!quote) throw notFound('The quote');
      if (quote.quoteAnswer) throw new DomainError('CONFLICT', 'This quote has already been answered.');
      if (quote.quoteExpiresOn && quote.quoteExpiresOn < today()) throw new DomainError('VALIDATION', 'The expiry date has passed; set a new one before offering.');
      await this.moveToRole(em, quote, 'offered', { userId: staff.id, kind: 'staff', source: 'backend' });
      quote.quoteOfferedAt = new Date();
      return quote;
    });
  }

  /**
   * Quotes offered but not answered whose validity date has passed move to their flow's expired-role state: through
   * the gate (rules, history, the state's mails), each in its own transaction under the quote's row lock, so two
   * schedulers expire a quote once (the second finds it locked or already expired). Returns the quote ids moved.
   */
  async expireDue(now: Date, limit = 20): Promise<string[]> {
    const day = now.toISOString().slice(0, 10);
    const due = await this.em.fork().execute<{ id: string }[]>(
      `select o.id from orders o join flow_states s on s.id = o.state_id
       where o.type = 'quote' and not o.deleted and o.quote_answer is null and o.quote_offered_at is not null
         and o.quote_expires_on < ?::date and not s.final and s.role is distinct from 'expired'
       order by o.quote_expires_on, o.id limit ?`,
      [day, limit],
    );
    const expired: string[] = [];
    for (const { id } of due) {
      const number = await this.orm.em.fork().transactional(async (em) => {
        const [locked] = await em.execute<{ id: string }[]>(
          `select o.id from orders o join flow_states s on s.id = o.state_id where o.id = ? and o.type = 'quote' and o.quote_answer is null
             and o.quote_expires_on < ?::date and not s.final and s.role is distinct from 'expired' for update of o skip locked`, [id, day]);
        if (!locked) return null;
        const quote = await em.findOneOrFail(Order, { id: Number(id) }, { populate: ['state.flow'], refresh: true });
        const target = await this.flows.stateWithRole(em, quote.state!.flow.id, 'expired');
        if (!target) return null;
        try {
          await this.flows.move(em, quote, target, { actor: { userId: null, kind: 'system', source: 'system' }, event: 'quote_expired', message: `The offer was valid until ${quote.quoteExpiresOn}.` });
        } catch (e) {
          if (e instanceof DomainError && e.code === 'TRANSITION_NOT_ALLOWED') return null; // the flow's rules keep it where it is
          throw e;
        }
        return quote.number;
      });
      if (number) expired.push(number);
    }
    return expired;
  }

  /** The quote-expiry job (src/jobs/job-queue.ts; the row lock makes each expiry once, whichever process runs it). */
  expiryJob(everyMs: number): DrainJob {
    return {
      name: 'quote-expiry', everyMs, batchSize: 20,
      drain: async (limit) => {
        const moved = await this.expireDue(new Date(), limit);
        if (moved.length) log.info(`[quote-expiry] expired ${moved.join(', ')}`);
        return moved.length;
      },
    };
  }

  private async addLine(em: EntityManager, quote: Order, add: NonNullable<QuoteEdit['add']>, staffId: number): Promise<void> {
    const product = await em.findOne(Product, { number: add.productNumber });
    if (!product) throw new DomainError('VALIDATION', `There is no product ${add.productNumber}.`, { addProduct: 'unknown product number' });
    if (quote.lines.getItems().some((l) => l.product?.id === product.id)) {
      throw new DomainError('VALIDATION', `${product.name} is already on the quote; change its line instead.`, { addProduct: 'already on the quote' });
    }
    const unitPriceMinor = add.unitPriceMinor ?? await priceToday(emSql(em), product.id);
    if (add.discountMinor > add.quantity * unitPriceMinor) throw new DomainError('VALIDATION', 'The discount is larger than the line.', { addDiscount: 'too large' });
    em.create(OrderLine, {
      order: quote, product, productNumber: product.number, productName: product.name, unit: product.unit, quantity: add.quantity,
      unitPriceMinor, vatRateBp: product.vatRateBp, discountMinor: add.discountMinor, addedBy: staffId, createdAt: new Date(),
    });
  }

  /** Moves a locked quote through the gate into the state with that role in its flow. */
  private async moveToRole(em: EntityManager, quote: Order, role: StateRole<'quote'>, actor: StateChangeActor, message = ''): Promise<void> {
    await em.populate(quote, ['state.flow']);
    if (!quote.state) throw new DomainError('CONFLICT', `${quote.number} is in no flow state.`);
    const target = await this.flows.requireRole(em, quote.state, role, quote.number);
    await this.flows.move(em, quote, target, { actor, message, byAction: true });
  }

  private async lockVisible(em: EntityManager, user: SessionUser, number: string): Promise<Order> {
    // By quote id or, once accepted, by the order it became: a repeated accept must find the same record.
    const where = { ...visibleTo(user), deleted: false, $and: [{ $or: [{ number }, { quoteNumber: number }] }] };
    const quote = await em.findOne(Order, where, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    if (!quote || (quote.type !== 'quote' && quote.quoteNumber !== number)) throw notFound('The quote');
    await em.populate(quote, ['lines', 'state']);
    return quote;
  }

  private async snapshot(em: EntityManager, quote: Order, userId: number | null, note: string): Promise<void> {
    const [{ n }] = await em.execute<{ n: number }[]>('select coalesce(max(version_no), 0) + 1 as n from quote_versions where order_id = ?', [quote.id]);
    em.create(QuoteVersion, {
      order: quote, versionNo: Number(n), createdBy: userId, note, createdAt: new Date(),
      snapshot: {
        number: quote.number, orderDiscountMinor: quote.orderDiscountMinor, expiresOn: quote.quoteExpiresOn ?? null, message: quote.quoteMessage,
        lines: quote.lines.getItems().map((l) => ({ productNumber: l.productNumber, productName: l.productName, quantity: l.quantity, unitPriceMinor: l.unitPriceMinor, vatRateBp: l.vatRateBp, discountMinor: l.discountMinor })),
        totals: quote.totals,
      },
    });
    await em.flush();
  }
}


/** Why the customer cannot accept this quote now, or null when they can. */
export function acceptRefusal(quote: Order): string | null {
  if (quote.quoteAnswer === 'accepted') return 'This quote has already been accepted.';
  if (quote.quoteAnswer === 'rejected') return 'This quote was rejected.';
  if (!quote.quoteOfferedAt) return 'This quote has not been offered to you yet.';
  if (quote.quoteExpiresOn && quote.quoteExpiresOn < today()) return `This offer expired on ${quote.quoteExpiresOn} and can no longer be accepted.`;
  return null;
}
