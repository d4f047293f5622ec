import { LockMode } from '@mikro-orm/core';
import { assertStaffMay, visibleFilter as visibleTo } from '../accounts/access-policy';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { SessionUser } from '../accounts/account.service';
import { Shop, StockLocation } from '../catalog/catalog.entities';
import { placeInTransaction } from '../checkout/place-order';
import { FlowState, stateSendsMail, type StateRole } from '../flows/flow.entities';
import { allowedTargets, assertTransitionAllowed, reopenOptions, type FlowService } from '../flows/flow.service';
import { emSql } from '../db/sql';
import { DEFAULT_FROM, type OutboxService } from '../mail/outbox.service';
import { Address, Order, OrderLine, type HistoryActor } from '../orders/order.entities';
import { nextOrderNumber } from '../orders/order-numbers';
import { creditConsequences, creditsReturns, refundConsequences, type PaymentService } from '../payments/payment.service';
import type { Confirmation } from '../shared/confirmation';
import type { RecoveredOperation } from '../payments/payment-operations';
import { DomainError, notFound } from '../shared/errors';
import { formatDecimal, formatMoney } from '../shared/money';
import { lineUnits } from '../shipping/shipped-units';
import { lineCharges, valueOfUnits } from '../shipping/shipment.service';
import { giveBackStock } from '../stock/stock';
import { ReturnHistoryEntry, ReturnLine, ReturnRequest, type ReturnResolution } from './return.entities';

export const RETURN_REASONS = ['Damaged on arrival', 'Wrong item', 'Not as described', 'No longer needed', 'Other'] as const;
export interface ReturnInput { lines: { orderLineId: number; quantity: number }[]; reason: string; comment: string; resolution: ReturnResolution }
export interface ReturnableLine { line: OrderLine; shipped: number; returned: number; returnable: number }
interface Actor { userId: number | null; kind: HistoryActor }

/** The inbox that hears about new returns (the shop's own address in the demo). */
export const RETURNS_INBOX = DEFAULT_FROM.email;

/**
 * Returns (RMA): the customer picks lines and quantities from a shipped or completed order (never more than was
 * shipped minus what is already being returned); staff approve or reject, receive the goods (optionally back to
 * stock), then refund through the payment provider or send a replacement order at zero price.
 */
export class ReturnService {
  constructor(
    private readonly orm: MikroORM,
    private readonly flows: FlowService,
    private readonly outbox: OutboxService,
    private readonly payments: PaymentService,
  ) {}

  private get em() {
    return this.orm.em;
  }

  // ---- customer side ----

  async returnable(user: SessionUser, orderNumber: string): Promise<{ order: Order; lines: ReturnableLine[] }> {
    const order = await this.em.findOne(Order, { ...visibleTo(user), number: orderNumber, type: 'order', completed: true, deleted: false }, { populate: ['lines', 'state'] });
    if (!order) throw notFound('The order');
    return { order, lines: await this.returnableLines(this.em, order) };
  }

  async create(user: SessionUser, orderNumber: string, input: ReturnInput): Promise<ReturnRequest> {
    return this.em.transactional(async (em) => {
      // The order row lock makes two return requests for the same order take turns, so together they never exceed what was shipped.
      const order = await em.findOne(Order, { ...visibleTo(user), number: orderNumber, type: 'order', completed: true, deleted: false }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!order) throw notFound('The order');
      await em.populate(order, ['lines', 'state']);
      const returnable = await this.returnableLines(em, order);
      const problems = lineProblems(returnable, input.lines);
      if (Object.keys(problems).length) throw new DomainError('VALIDATION', Object.values(problems).join(' '), problems);
      const wanted = input.lines.filter((l) => l.quantity > 0);
      const state = await this.flows.defaultState(em, 'return');
      const [{ n }] = await em.execute<{ n: string }[]>(`select nextval('return_number_seq') as n`);
      const ret = em.create(ReturnRequest, {
        number: `RMA${String(n).padStart(5, '0')}`, order, user: user.id, company: user.companyId, state,
        reason: input.reason, comment: input.comment, resolution: input.resolution,
      });
      for (const w of wanted) em.create(ReturnLine, { returnRequest: ret, orderLine: w.orderLineId, quantity: w.quantity });
      ret.goodsValueMinor = goodsValue(order, returnable, wanted);
      await em.flush();
      this.history(em, ret, { userId: user.id, kind: user.role === 'buyer' ? 'buyer' : 'customer' }, 'requested', `Return requested: ${input.reason}.`, null, state);
      await em.populate(ret, ['lines.orderLine']);
      const context = { ret, order, lines: ret.lines.getItems() };
      await this.outbox.enqueue(em, { to: order.billing.email, subject: `We received your return request ${ret.number}`, template: 'mail/return-customer.njk', context, orderId: order.id, dedupeKey: `return:${ret.id}:customer` });
      await this.outbox.enqueue(em, { to: RETURNS_INBOX, subject: `New return ${ret.number} for ${order.number}`, template: 'mail/return-staff.njk', context, orderId: order.id, dedupeKey: `return:${ret.id}:staff` });
      return ret;
    });
  }

  /**
   * What is wrong with the lines a customer asks to return (create's own check, without writing), per field — for a
   * form refused for something else, so every problem is shown at once.
   */
  async lineProblems(user: SessionUser, orderNumber: string, lines: ReturnInput['lines']): Promise<Record<string, string>> {
    const order = await this.em.findOne(Order, { ...visibleTo(user), number: orderNumber, type: 'order', completed: true, deleted: false }, { populate: ['lines', 'state'] });
    return order ? lineProblems(await this.returnableLines(this.em, order), lines) : {};
  }

  customerReturns(user: SessionUser) {
    return this.em.find(ReturnRequest, visibleTo(user), { populate: ['state', 'order'], orderBy: { id: 'desc' } });
  }

  async customerReturn(user: SessionUser, number: string) {
    const ret = await this.em.findOne(ReturnRequest, { ...visibleTo(user), number }, { populate: ['state', 'order', 'lines.orderLine', 'replacementOrder'] });
    if (!ret) throw notFound('The return');
    return { ret, history: await this.historyOf(ret, false) };
  }

  // ---- staff side ----

  adminReturns() {
    return this.em.find(ReturnRequest, {}, { populate: ['state', 'order', 'user'], orderBy: { id: 'desc' }, limit: 200 });
  }

  async adminReturn(number: string, viewerId?: number) {
    const ret = await this.em.findOne(ReturnRequest, { number }, { populate: ['state.flow', 'order.lines', 'user', 'lines.orderLine', 'lines.restockedLocation', 'replacementOrder'] });
    if (!ret) throw notFound('The return');
    const locations = await this.em.find(StockLocation, {}, { orderBy: { name: 'asc' } });
    // Offer only the steps the return flow allows from here (none from a final state), by role.
    const next = new Set((await allowedTargets(this.em, { type: 'return', label: ret.number }, ret.state, { userId: null, kind: 'staff' }, false)).map((st) => st.role).filter((r) => r != null));
    // Nothing captured on the order: the refund step credits the goods against what is owed (see refund).
    return { ret, history: await this.historyOf(ret, true), locations, returnValueMinor: ret.goodsValueMinor, credits: creditsReturns(ret.order), next, reopen: await reopenOptions(this.em, ret.state, viewerId) };
  }

  /**
   * Staff with the reopen permission take a finished return (refunded, replaced, rejected) back into a non-final
   * state of its flow, giving a reason kept in its history. Its effects stay done: a refund, a restock or a
   * replacement already made is refused a second time (record_effects_once).
   */
  async reopen(number: string, staff: SessionUser, toStateId: number, reason: string) {
    return this.em.transactional(async (em) => {
      const ret = await em.findOne(ReturnRequest, { number }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!ret) throw notFound('The return');
      await em.populate(ret, ['state.flow']);
      const to = await em.findOne(FlowState, toStateId, { populate: ['flow'] });
      if (!to) throw notFound('The state');
      await this.flows.move(em, ret, to, { actor: { userId: staff.id, kind: 'staff', source: 'backend' }, message: reason, check: 'reopen' });
      return ret;
    });
  }

  approve(number: string, staff: SessionUser) {
    return this.step(number, staff, 'approved', 'approved');
  }

  reject(number: string, staff: SessionUser, message: string) {
    return this.step(number, staff, 'rejected', 'rejected', async () => undefined, message);
  }

  /** Goods are back; with a location, each returned line goes back into stock there — once per line (record_effects). */
  receive(number: string, staff: SessionUser, locationId: number | null) {
    return this.step(number, staff, 'received', 'goods_received', async (em, ret) => {
      if (ret.goodsReceived) throw new DomainError('CONFLICT', `${ret.number}: the goods have already been received.`);
      ret.goodsReceived = true;
      if (locationId == null) return;
      const location = await em.findOne(StockLocation, locationId);
      if (!location) throw new DomainError('VALIDATION', 'Choose one of the stock locations.', { locationId: 'unknown location' });
      const back: { productId: number; locationId: number; quantity: number }[] = [];
      for (const rl of ret.lines) {
        if (!rl.orderLine.product) continue;
        await recordEffect(em, ret, 'return_restock', rl.id, rl.quantity);
        back.push({ productId: rl.orderLine.product.id, locationId: location.id, quantity: rl.quantity });
        rl.restockedLocation = location;
      }
      await giveBackStock(emSql(em), back, { reason: 'return', orderId: ret.order.id, returnId: ret.id, actor: { userId: staff.id, kind: 'staff' } });
    }, locationId ? 'Returned goods put back in stock.' : 'Returned goods received (not restocked).');
  }

  /**
   * Refunds through the payment provider, once per return and never for a replaced one (record_effects): the goods'
   * part, at most their value, plus a fee staff enter explicitly on top (returns_refund_within_value), and never more
   * than captured. Reserve → call → confirm:
   * the return's step is checked and its refund claimed with the order's pending refund call (committed), the provider
   * is asked with no transaction open, then the order's refund, the return's amount and its move into the
   * refunded-role state commit together. A refusal releases the claim and changes nothing.
   *
   * On an order nothing has been captured on (an invoice), there is nothing to pay back: the same claim credits the
   * amount against what the customer owes (PaymentService.creditReturn), and the return moves on in that one step.
   */
  async refund(number: string, staff: SessionUser, amountMinor: number, feeMinor = 0) {
    const actor = { userId: staff.id, source: 'backend' as const };
    // What is paid back: the goods' part and, on top, the fee ("Also refund", e.g. the shipping).
    const totalMinor = amountMinor + feeMinor;
    const money = (m: number, ret: ReturnRequest) => formatMoney(m, ret.order.currencyCode);
    const first = await this.checkedStep(number, staff, 'refunded', async (em, ret, to) => {
      assertRefundable(ret, amountMinor);
      const effect = await recordEffect(em, ret, 'return_refund', null, totalMinor);
      if (!creditsReturns(ret.order)) return { op: await this.payments.reserveRefund(em, ret.order.number, totalMinor, actor, effect) };
      await this.payments.creditReturn(em, ret.order.number, totalMinor, actor, ret.number);
      ret.creditedMinor += totalMinor;
      ret.refundFeeMinor = feeMinor;
      await this.moveTo(em, ret, to, staff, 'credited',
        `Credited ${money(totalMinor, ret)} against what the customer owes on ${ret.order.number}${feeMinor ? `, incl. a fee of ${formatDecimal(feeMinor)}` : ''} (nothing had been captured, so nothing was paid back).`);
      return { credited: ret };
    });
    if (first.credited) return first.credited;
    const op = first.op!;
    const result = await this.payments.askProvider(op);
    if (!result.success) throw await this.payments.refusedBy(op, result);
    try {
      return await this.step(number, staff, 'refunded', 'refunded', async (em, ret) => {
        await this.payments.confirmReserved(em, op, result);
        ret.refundedMinor += totalMinor;
        ret.refundFeeMinor = feeMinor;
      }, `Refunded ${formatDecimal(totalMinor)} ${'{currency}'}${feeMinor ? `, incl. a fee of ${formatDecimal(feeMinor)}` : ''}.`);
    } catch (e) {
      // The provider refunded: the order records it whatever became of the return's step.
      await this.payments.settle(op, result);
      throw e;
    }
  }

  /**
   * What refunding the return would do, for the confirmation step before the refund: refused as the refund itself
   * would be (the flow's rule, goods not received, more than the goods are worth, more than the order can refund or,
   * when nothing was captured, credit).
   */
  async refundConfirmation(number: string, staff: SessionUser, amountMinor: number, feeMinor = 0): Promise<Confirmation> {
    return this.checkedStep(number, staff, 'refunded', async (em, ret, to) => {
      await assertStaffMay(em, staff.id, 'payment.refund');
      assertRefundable(ret, amountMinor);
      await assertNoOutcomeYet(em, ret, 'return_refund');
      await em.populate(ret, ['order.paymentMethod']);
      const money = (m: number) => formatMoney(m, ret.order.currencyCode);
      const totalMinor = amountMinor + feeMinor;
      const credit = creditsReturns(ret.order);
      const verb = credit ? 'Credit' : 'Refund';
      return {
        number: ret.number, title: `${verb} ${money(totalMinor)} for ${ret.number}?`, confirmLabel: `${verb} ${money(totalMinor)}`,
        consequences: [
          ...(credit ? creditConsequences(ret.order, totalMinor) : refundConsequences(ret.order, totalMinor)),
          ...(feeMinor ? [`That is ${money(amountMinor)} for the returned goods and ${money(feeMinor)} also ${credit ? 'credited' : 'refunded'} (e.g. the shipping).`] : []),
          `${ret.number} moves to “${to.name}”${stateSendsMail(to) ? ", and that state's e-mails are sent" : '; that state sends no e-mail'}. A ${credit ? 'credited' : 'refunded'} return gets no replacement.`,
          `A ${credit ? 'credit' : 'refund'} cannot be undone.`,
        ],
      };
    }, { lock: false });
  }

  /**
   * A return's refund whose answer was lost and that the recovery job confirmed with the provider: the return records
   * the amount and moves into its refunded-role state through the gate (with history), as if the call had answered.
   * A fee is what the refund exceeds the goods' value by (the entered fee is not kept with the call).
   */
  async completeRecoveredRefund(op: RecoveredOperation): Promise<void> {
    const returnId = op.operation === 'refund' && op.claim?.effect === 'return_refund' ? op.claim.returnId : null;
    if (returnId == null) return;
    await this.orm.em.fork().transactional(async (em) => {
      const ret = await em.findOneOrFail(ReturnRequest, returnId, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (ret.refundedMinor > 0) return;
      await em.populate(ret, ['state.flow', 'order']);
      const to = await this.flows.requireRole(em, ret.state, 'refunded', ret.number);
      ret.refundedMinor += op.amountMinor;
      ret.refundFeeMinor = Math.max(0, op.amountMinor - ret.goodsValueMinor);
      await this.flows.move(em, ret, to, {
        actor: { userId: null, kind: 'system', source: 'system' }, event: 'refunded',
        message: `Refunded ${formatMoney(op.amountMinor, op.currencyCode)} (the payment provider's answer was lost; confirmed with the provider afterwards).`,
      });
    });
  }

  /** Sends the returned goods again as a new order at zero price, taking them from stock — once per return. */
  replace(number: string, staff: SessionUser) {
    return this.step(number, staff, 'replaced', 'replaced', async (em, ret) => {
      if (!ret.goodsReceived) throw new DomainError('CONFLICT', 'Mark the goods as received before sending a replacement.');
      await recordEffect(em, ret, 'replacement', null, 0);
      ret.replacementOrder = await this.createReplacementOrder(em, ret, staff);
    }, 'Replacement order created.');
  }

  /** One staff step: lock the return, check the flow rule, do the work, move the state through the gate — one transaction. */
  private async step(number: string, staff: SessionUser, role: StateRole<'return'>, event: string, work: (em: EntityManager, ret: ReturnRequest) => Promise<void> = async () => undefined, message = '') {
    return this.checkedStep(number, staff, role, async (em, ret, to) => {
      await work(em, ret);
      await this.moveTo(em, ret, to, staff, event, message.replace('{currency}', ret.order.currencyCode));
      return ret;
    });
  }

  /** A staff step's move of the locked return through the gate. */
  private moveTo(em: EntityManager, ret: ReturnRequest, to: FlowState, staff: SessionUser, event: string, message: string) {
    return this.flows.move(em, ret, to, { actor: { userId: staff.id, kind: 'staff', source: 'backend' }, event, message });
  }

  /** A transaction with the return locked and the step into its flow's `role` state checked by the rules (a refused step does nothing). */
  private async checkedStep<T>(number: string, staff: SessionUser, role: StateRole<'return'>, run: (em: EntityManager, ret: ReturnRequest, to: FlowState) => Promise<T>, { lock = true } = {}): Promise<T> {
    return this.em.transactional(async (em) => {
      // A confirmation only reads: it locks nothing.
      const ret = await em.findOne(ReturnRequest, { number }, { lockMode: lock ? LockMode.PESSIMISTIC_WRITE : undefined, refresh: true });
      if (!ret) throw notFound('The return');
      await em.populate(ret, ['state.flow', 'order', 'lines.orderLine']);
      const to = await this.flows.requireRole(em, ret.state, role, ret.number);
      // The rule first, so a refused step does nothing; the gate checks it again when it moves.
      await assertTransitionAllowed(em, { type: 'return', label: ret.number }, ret.state, to, false, { userId: staff.id, kind: 'staff' });
      return run(em, ret, to);
    });
  }

  /**
   * The replacement order, placed by the one placement writer (placeInTransaction): it enters the order flow, then its stock
   * is taken and it is completed like any placed order (status fields, "placed" history, receipt, export job) — with
   * no payment, in this step's transaction, so the return's 'replacement' effect row keeps it to one.
   */
  private async createReplacementOrder(em: EntityManager, ret: ReturnRequest, staff: SessionUser): Promise<Order> {
    const source = ret.order;
    const shop = await em.findOneOrFail(Shop, source.shop.id);
    const state = await this.flows.defaultState(em, 'order');
    // A replacement ships free: no shipping method is charged again, and there is no payment method.
    const order = em.create(Order, {
      billing: Address.of(source.billing), deliverySameAsBilling: source.deliverySameAsBilling, delivery: Address.of(source.delivery),
      number: await nextOrderNumber(em, shop.id), shop, type: 'order', user: source.user, company: source.company,
      checkoutStep: 'placing', version: 1, currencyCode: source.currencyCode, currencyName: source.currencyName, currencyRate: source.currencyRate,
      customerComment: `Replacement for ${source.number} (return ${ret.number}).`,
    });
    for (const rl of ret.lines.getItems()) {
      em.create(OrderLine, {
        order, product: rl.orderLine.product, productNumber: rl.orderLine.productNumber, productName: rl.orderLine.productName, unit: rl.orderLine.unit,
        quantity: rl.quantity, unitPriceMinor: 0, vatRateBp: rl.orderLine.vatRateBp, addedBy: staff.id, createdAt: new Date(),
      });
    }
    await em.flush();
    const actor = { userId: staff.id, kind: 'staff', source: 'backend' } as const;
    await this.flows.move(em, order, state, { actor, check: 'enter', event: 'replacement', message: `Replacement for ${source.number}, return ${ret.number}.` });
    await placeInTransaction(em, this.outbox, order.id, {
      pay: async () => ({ auth: null, paymentName: 'No charge (replacement)', message: `replacement for ${source.number}, return ${ret.number}.`, captureState: 'not_supported' }), actor,
      allowOutOfStock: false, refusal: (line) => `Not enough ${line.productName} in stock for a replacement (${line.quantity} needed).`,
    });
    await em.refresh(order);
    return order;
  }

  /** What each line may still return: what shipped (lineUnits, the one rule) less what is already on a return. */
  private async returnableLines(em: EntityManager, order: Order): Promise<ReturnableLine[]> {
    const units = new Map((await lineUnits(em, order.id, order.state?.role)).map((u) => [u.lineId, u]));
    return order.lines.getItems().map((line) => {
      const { shipped = 0, returned = 0 } = units.get(line.id) ?? {};
      return { line, shipped, returned, returnable: Math.max(0, shipped - returned) };
    });
  }

  private history(em: EntityManager, ret: ReturnRequest, actor: Actor, event: string, message: string, from: FlowState | null, to: FlowState | null): void {
    em.create(ReturnHistoryEntry, { returnRequest: ret, event, message, actor: actor.userId, actorKind: actor.kind, fromState: from, toState: to, createdAt: new Date() });
  }

  private async historyOf(ret: ReturnRequest, forStaff: boolean) {
    const entries = await this.em.find(ReturnHistoryEntry, { returnRequest: ret }, { populate: ['toState', 'actor'], orderBy: { id: 'asc' } });
    // A reopen's reason is staff's note to each other; the customer sees the step, not the note.
    return entries.map((h) => ({ at: h.createdAt, state: h.toState, event: h.event, message: forStaff || h.event !== 'reopened' ? h.message : '', who: forStaff ? (h.actor?.name ?? h.actorKind) : null }));
  }
}

/** Claims a side effect of a return (refund, restock of a line, replacement): a second claim violates record_effects_once. */
async function recordEffect(em: EntityManager, ret: ReturnRequest, effect: 'return_refund' | 'return_restock' | 'replacement', lineId: number | null, amountMinor: number): Promise<number> {
  // Either guard may refuse: record_effects_once (this effect again) or record_effects_one_return_outcome (a refund
  // after a replacement, or the other way round).
  const [row] = await em.execute<{ id: string }[]>(
    `insert into record_effects (order_id, return_id, effect, line_id, amount_minor) values (?, ?, ?, ?, ?)
     on conflict do nothing returning id`,
    [ret.order.id, ret.id, effect, lineId, amountMinor],
  );
  if (row) return Number(row.id);
  const why = effect === 'return_restock' ? null : await outcomeTaken(em, ret, effect);
  throw new DomainError('CONFLICT', `${ret.number}: ${why ?? EFFECT_DONE[effect]}`);
}

/** Per field: at least one item, each on the order, none above what may still be returned. Empty when all is well. */
function lineProblems(returnable: ReturnableLine[], lines: ReturnInput['lines']): Record<string, string> {
  const available = new Map(returnable.map((r) => [r.line.id, r]));
  const wanted = lines.filter((l) => l.quantity > 0);
  if (!wanted.length) return { lines: 'Choose at least one item and how many to return.' };
  const problems: Record<string, string> = {};
  for (const w of wanted) {
    const r = available.get(w.orderLineId);
    if (!r) problems.lines = 'That line is not on this order.';
    else if (w.quantity > r.returnable) problems[`line_${w.orderLineId}`] = `You can return at most ${r.returnable} × ${r.line.productName} (${r.shipped} shipped, ${r.returned} already returned).`;
  }
  return problems;
}

/** Why the return can no longer take `effect` as its outcome (this one or the other is taken), or null while it can. */
async function outcomeTaken(em: EntityManager, ret: ReturnRequest, effect: 'return_refund' | 'replacement'): Promise<string | null> {
  const [taken] = await em.execute<{ effect: 'return_refund' | 'replacement' }[]>(
    `select effect from record_effects where return_id = ? and effect in ('return_refund', 'replacement') order by id limit 1`, [ret.id]);
  return taken ? (taken.effect === effect ? EFFECT_DONE[effect] : OUTCOME_TAKEN[taken.effect]) : null;
}

/** For a confirmation before a refund or replacement: refused as recordEffect would refuse it, without writing. */
async function assertNoOutcomeYet(em: EntityManager, ret: ReturnRequest, effect: 'return_refund' | 'replacement'): Promise<void> {
  const why = await outcomeTaken(em, ret, effect);
  if (why) throw new DomainError('CONFLICT', `${ret.number}: ${why}`);
}

/** A return ends in one outcome: what stops the other. */
const OUTCOME_TAKEN = {
  return_refund: 'this return has been refunded, so no replacement is sent for it.',
  replacement: 'a replacement has been sent for this return, so it is not refunded as well.',
} as const;

const EFFECT_DONE = {
  return_refund: 'this return has already been refunded; it is never refunded twice.',
  return_restock: 'these goods have already been put back in stock.',
  replacement: 'a replacement has already been sent for this return.',
} as const;

/**
 * What the customer paid for the returned units, incl. VAT: their line's share of the goods charged after order-level
 * discounts (lineCharges, the rule a shipment captures by), counted on from the units earlier returns took, so a
 * line's returns add up to exactly what it was charged.
 */
function goodsValue(order: Order, returnable: ReturnableLine[], wanted: ReturnInput['lines']): number {
  const lines = order.lines.getItems();
  const charges = lineCharges(order, lines);
  return wanted.reduce((sum, w) => {
    const i = lines.findIndex((l) => l.id === w.orderLineId);
    const before = returnable.find((r) => r.line.id === w.orderLineId)?.returned ?? 0;
    return sum + valueOfUnits(charges[i].chargeMinor, lines[i].quantity, before, w.quantity);
  }, 0);
}

/** A return's refund of `amountMinor` for the goods (a fee comes on top): only for goods received, at most their value. */
function assertRefundable(ret: ReturnRequest, amountMinor: number): void {
  if (!ret.goodsReceived) throw new DomainError('CONFLICT', 'Mark the goods as received before refunding.');
  if (amountMinor > ret.goodsValueMinor) {
    const money = (m: number) => formatMoney(m, ret.order.currencyCode);
    throw new DomainError('VALIDATION', `${money(amountMinor)} is more than the returned goods are worth (${money(ret.goodsValueMinor)}). To refund more (e.g. the shipping), enter the rest under “Also refund”.`, { amount: `at most ${money(ret.goodsValueMinor)}` });
  }
}
