import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { FlowService } from '../flows/flow.service';
import { FlowState, ROLE_LABELS, stateSendsMail } from '../flows/flow.entities';
import { Order, type CaptureState, type PaymentStatus } from '../orders/order.entities';
import { recordHistory, type Actor } from '../orders/order-lifecycle';
import { assertStaffMay } from '../accounts/access-policy';
import type { Confirmation } from '../shared/confirmation';
import type { OutboxService } from '../mail/outbox.service';
import { DomainError, invalid, notFound } from '../shared/errors';
import { formatMoney } from '../shared/money';
import { PaymentMethod, PaymentTransaction, type PaymentOperation, type PaymentProviderCode } from './payment.entities';
import type { DrainJob } from '../jobs/job-queue';
import { log } from '../shared/log';
import { afterPendingOperations, applyCancelEffects, assertNoOperationPending, AUTHORIZATION_OPEN, authorizationLeft, leftToCapture, reserveOperation, stockToGiveBack, type CaptureAmounts, type CancelEffects, type PaymentOperationKind, type RecoveredOperation, type ReservedOperation } from './payment-operations';
import { PROVIDER_TIMED_OUT, type PaymentProvider, type ProviderResult } from './payment-provider';
import { withinMs } from '../shared/deadline';
import type { PaymentProviders } from './payment-providers';

/** Who asks: a staff user, from the order details page ('backend') or the order list ('bulk'), or an API key ('api'). */
export interface PaymentActor { userId: number | null; source: 'backend' | 'bulk' | 'api' }

/** Why the payment desk said no; the HTTP status comes from the DomainError code (409, or 402 for the provider). */
export type PaymentRefusal =
  | 'CAPTURE_NOT_SUPPORTED'
  | 'NOT_CAPTURABLE'
  | 'AMOUNT_TOO_HIGH'
  | 'NOT_CANCELLABLE'
  | 'NOT_REFUNDABLE'
  | 'NOT_DELETABLE'
  | 'NOT_RESTORABLE'
  | 'PROVIDER_REFUSED'
  /** The provider call failed without an answer (it may have been carried out): settled later by recoverStale. */
  | 'PROVIDER_NO_ANSWER';

export class PaymentRefused extends DomainError {
  constructor(readonly refusal: PaymentRefusal, message: string, fields: Record<string, string> = {}) {
    super(refusal === 'PROVIDER_REFUSED' ? 'PAYMENT_DECLINED' : 'CONFLICT', message, fields);
    this.name = 'PaymentRefused';
  }
}

export interface PaymentOutcome { number: string; message: string }
/** The provider's answer to a payment operation; `unanswered` when the call failed without one (see refusedBy). */
export interface ProviderAnswer extends ProviderResult { unanswered?: boolean }
interface OperationOutcome extends PaymentOutcome { amountMinor: number; currencyCode: string }
export interface BulkCaptureResult { number: string; captured: boolean; amountMinor: number; currencyCode: string; reason: string; at: Date }
/** One selected order on the bulk capture confirmation: what would be captured, or why it would be refused. */
export interface BulkCapturePlan { number: string; capturable: boolean; amountMinor: number; currencyCode: string; reason: string }

/** Everything the payment box on the order details page shows, and which of its forms apply. */
export interface PaymentBox {
  methodName: string;
  providerCode: string;
  supportsCapture: boolean;
  captureState: CaptureState | null;
  paymentStatus: PaymentStatus;
  totalMinor: number;
  capturedMinor: number;
  refundedMinor: number;
  /** Returns credited against what is owed (nothing had been captured); remainingMinor is net of it. */
  creditedMinor: number;
  remainingMinor: number;
  refundableMinor: number;
  currencyCode: string;
  /** Shown instead of the capture forms when capture happens elsewhere. */
  captureElsewhere: string | null;
  transactions: PaymentTransaction[];
  can: { captureFull: boolean; captureAmount: boolean; finalCapture: boolean; cancel: boolean; refund: boolean; delete: boolean };
}

export interface DeletedOrderRow {
  number: string; created_at: Date; completed: boolean; billing_name: string; total_minor: string; currency_code: string;
  payment_status: string; capture_state: string | null; state_name: string | null; state_color: string | null; deleted_at: Date | null; deleted_by: string | null;
}

export const DELETED_PAGE_SIZE = 50;

/**
 * Staff payment operations on placed orders: capture (full, split, final, many), cancel, refund, soft delete
 * and restore. Each runs in one transaction with the order row locked, so two staff acting on the same order
 * are served one after the other and the second sees what the first did. Every call to a provider, approved or
 * refused, is written to payment_transactions.
 */
export class PaymentService {
  constructor(
    private readonly orm: MikroORM, private readonly providers: PaymentProviders, private readonly flows: FlowService,
    /**
     * How long a reserved capture or refund may stay unconfirmed before recoverStale asks the provider about it, and how
     * long a provider call is waited for (PAYMENT_GATEWAY_TIMEOUT_MS; config makes the first the longer one, so the job
     * never settles a call that is still being waited for).
     */
    private readonly options: { operationStaleSeconds: number; gatewayTimeoutMs: number } = { operationStaleSeconds: 60, gatewayTimeoutMs: 20_000 },
    /** Tells the customer when money goes back (a refund), in the transaction that records it. */
    private readonly outbox?: OutboxService,
  ) {}

  private get em() {
    return this.orm.em;
  }

  private get flowService(): FlowService {
    return this.flows;
  }

  /** Captures the whole order total of an order nothing has been captured on yet. */
  async captureFull(number: string, actor: PaymentActor): Promise<PaymentOutcome> {
    await assertStaffMay(this.em, actor.userId, 'payment.capture');
    return this.operate(number, 'capture', actor, undefined, async (em, order) => {
      await this.capturable(em, order);
      if (order.captureState === 'split_captured') {
        throw new PaymentRefused('NOT_CAPTURABLE', `${order.number} is already split captured; use “Final capture” to capture the remaining ${money(remaining(order), order)}.`);
      }
      return remaining(order);
    });
  }

  /** Split capture: captures part of the total; the captures together never exceed the total nor the authorization. */
  async captureAmount(number: string, amountMinor: number, actor: PaymentActor, sent?: (op: ReservedOperation) => void): Promise<PaymentOutcome> {
    await assertStaffMay(this.em, actor.userId, 'payment.capture');
    assertPositiveAmount(amountMinor);
    return this.operate(number, 'capture', actor, sent, async (em, order) => {
      await this.capturable(em, order);
      if (amountMinor > remaining(order)) {
        throw new PaymentRefused('AMOUNT_TOO_HIGH',
          `${money(amountMinor, order)} is more than the ${money(remaining(order), order)} left to capture on ${order.number} (${captureLimits(order)}).`,
          { amount: `at most ${money(remaining(order), order)}` });
      }
      return amountMinor;
    });
  }

  /** Captures whatever is left after split captures and closes the order's capture (→ captured). */
  async finalCapture(number: string, actor: PaymentActor): Promise<PaymentOutcome> {
    await assertStaffMay(this.em, actor.userId, 'payment.capture');
    return this.operate(number, 'capture', actor, undefined, async (em, order) => {
      await this.capturable(em, order);
      if (order.captureState !== 'split_captured') {
        throw new PaymentRefused('NOT_CAPTURABLE', `${order.number} has no split captures to close; use “Capture full amount” instead.`);
      }
      return remaining(order);
    });
  }

  /** Captures the rest of each order, one reserve → capture → confirm per order: each is captured or refused with the reason. */
  async captureMany(numbers: string[], actor: PaymentActor): Promise<BulkCaptureResult[]> {
    await assertStaffMay(this.em, actor.userId, 'payment.capture');
    const results: BulkCaptureResult[] = [];
    for (const number of [...new Set(numbers)]) {
      try {
        const done = await this.operate(number, 'capture', actor, undefined, async (em, order) => {
          await this.capturable(em, order);
          return remaining(order);
        }, this.orm.em.fork());
        results.push({ number, captured: true, amountMinor: done.amountMinor, currencyCode: done.currencyCode, reason: '', at: new Date() });
      } catch (e) {
        if (!(e instanceof DomainError)) throw e;
        results.push({ number, captured: false, amountMinor: 0, currencyCode: '', reason: e.message, at: new Date() });
      }
    }
    return results;
  }

  /** The bulk capture confirmation: per selected order, the amount a capture would take now, or why it would be refused. */
  async captureManyPlan(numbers: string[]): Promise<BulkCapturePlan[]> {
    const wanted = [...new Set(numbers)];
    const orders = await this.em.find(Order, { number: { $in: wanted }, type: 'order', deleted: false }, { populate: ['paymentMethod'] });
    const byNumber = new Map(orders.map((o) => [o.number, o]));
    return wanted.map((number) => {
      const order = byNumber.get(number);
      if (!order) return { number, capturable: false, amountMinor: 0, currencyCode: '', reason: 'The order was not found.' };
      const method = order.paymentMethod ?? null;
      const refusal = captureRefusal(order, method ? this.providers.get(method.provider) : null, method);
      return { number, capturable: !refusal, amountMinor: refusal ? 0 : remaining(order), currencyCode: order.currencyCode, reason: refusal?.message ?? '' };
    });
  }

  /**
   * What a refund, cancel or delete will do, for the confirmation step. Refuses (in context) exactly as the action
   * itself would, so staff learn before confirming that it cannot be done.
   */
  async confirmation(number: string, action: 'refund' | 'cancel' | 'delete', actor: PaymentActor, amountMinor = 0): Promise<Confirmation> {
    const em = this.em;
    await assertStaffMay(em, actor.userId, CONFIRMED_ACTION_NEEDS[action]);
    const order = await em.findOne(Order, { number, type: 'order', deleted: false }, { populate: ['paymentMethod', 'state.flow'] });
    if (!order) throw notFound('The order');
    if (action === 'refund') {
      return {
        number, title: `Refund ${money(amountMinor, order)} on ${number}?`, confirmLabel: `Refund ${money(amountMinor, order)}`,
        consequences: [
          ...refundConsequences(order, amountMinor),
          'Stock does not change: goods coming back are received through a return.',
          'A refund cannot be undone.',
        ],
      };
    }
    if (action === 'cancel') {
      const refusal = cancelRefusal(order);
      if (refusal) throw refusal;
      // What the cancel will give back (the same rule): goods that shipped or came back on a return are not counted.
      const back = order.stockReserved ? await stockToGiveBack(em, order.id, order.state?.role ?? null) : [];
      await em.populate(order, ['lines.stockLocation']);
      const stock = back.map((b) => {
        const line = order.lines.getItems().find((l) => l.id === b.lineId)!;
        return { quantity: b.quantity, product_name: line.productName, location: line.stockLocation?.name ?? '' };
      });
      const [, cancelled] = await this.cancelledStateFor(em, order);
      await em.populate(cancelled, ['flow']);
      return {
        number, title: `Cancel ${number}?`, confirmLabel: `Cancel ${number}`,
        consequences: [
          `The payment authorization of ${money(authorizationLeft(order), order)} (${order.paymentMethod?.name ?? 'payment'}) is voided; nothing ${order.capturedMinor ? 'more ' : ''}is charged.`,
          stock.length
            ? `Back to stock: ${stock.map((l) => `${l.quantity} × ${l.product_name} to ${l.location}`).join('; ')}.`
            : order.stockReserved ? 'Stock does not change: every item has shipped (goods coming back are received through a return).' : 'No stock is reserved for this order, so stock does not change.',
          `The order moves to “${cancelled.name}” in ${cancelled.flow.name}${stateSendsMail(cancelled) ? ", and that state's e-mails are sent" : '; that state sends no e-mail'}.`,
        ],
      };
    }
    const refusal = deleteRefusal(order);
    if (refusal) throw refusal;
    return {
      number, title: `Delete ${number}?`, confirmLabel: `Delete ${number}`,
      consequences: [
        `${number} (${money(order.totalMinor, order)}) is hidden from the order list, the statistics and the customer's order history.`,
        'Payment and stock do not change.',
        'It can be restored from Deleted orders.',
      ],
    };
  }

  /**
   * Cancels an order nothing has been captured on: moves it into its flow's cancelled-role state through the gate,
   * whose effects (applyCancelEffects) put the goods back and reserve the void — committed — and then voids the
   * authorization at the provider with no transaction open. A void the provider does not confirm is retried by the
   * void job; the order stays cancelled either way.
   */
  async cancel(number: string, actor: PaymentActor): Promise<PaymentOutcome> {
    await assertStaffMay(this.em, actor.userId, 'payment.capture');
    let effects: CancelEffects = { voidOperation: null, returnedUnits: 0 };
    const orderId = await afterPendingOperations(() => this.run(number, async (em, order) => {
      const refusal = cancelRefusal(order);
      if (refusal) throw refusal;
      await this.providerOf(em, order);
      const [current, cancelled] = await this.cancelledStateFor(em, order);
      if (current?.id === cancelled.id) {
        // Moved there before its effects were tied to the state: the same effects, once.
        effects = await applyCancelEffects(em, order, staff(actor));
        return order.id;
      }
      try {
        await this.flowService.move(em, order, cancelled, {
          actor: staff(actor), allowFlowSwitch: true, message: 'Order cancelled from the payment desk.', onCancelEffects: (e) => { effects = e; },
        });
      } catch (e) {
        if (e instanceof DomainError && e.code === 'TRANSITION_NOT_ALLOWED') throw new DomainError('TRANSITION_NOT_ALLOWED', `${order.number} cannot be cancelled: ${e.message}`);
        throw e;
      }
      return order.id;
    }));
    const [voided] = effects.voidOperation ? await this.settleVoids({ orderId }) : [];
    const units = effects.returnedUnits;
    const stockNote = units ? ` ${units} ${units === 1 ? 'item' : 'items'} returned to stock.` : '';
    if (!voided || voided.success) return { number, message: `cancelled. ${voided?.message ?? 'The authorization is being voided.'}${stockNote}` };
    return { number, message: `cancelled.${stockNote} The payment provider has not confirmed voiding the authorization yet (${voided.message}); it is retried automatically.` };
  }

  /** Refunds captured money, all or part of it; never more than was captured and not yet refunded. */
  async refund(number: string, amountMinor: number, actor: PaymentActor): Promise<PaymentOutcome> {
    await assertStaffMay(this.em, actor.userId, 'payment.refund');
    assertPositiveAmount(amountMinor);
    return this.operate(number, 'refund', actor, undefined, async (em, order) => {
      const refusal = refundRefusal(order, amountMinor);
      if (refusal) throw refusal;
      await this.providerOf(em, order);
      return amountMinor;
    });
  }

  /**
   * Reserves a refund for a return's step (the caller holds the return's lock; this locks the order), with the desk's
   * checks; `effectId` is the return's refund claim, released when the provider refuses. After the caller's commit:
   * askProvider, then confirmReserved (in the caller's next transaction) or refusedBy.
   */
  async reserveRefund(em: EntityManager, number: string, amountMinor: number, actor: PaymentActor, effectId: number): Promise<ReservedOperation> {
    const order = await lockedForMoneyBack(em, number, amountMinor, actor, refundRefusal);
    await this.providerOf(em, order);
    return reserveOperation(em, order, 'refund', amountMinor, staff(actor), effectId);
  }

  /**
   * Credits a return's goods against what the customer owes, on an order nothing has been captured on (an invoice, or
   * an authorization not captured yet), in the return step's transaction: no money is paid back and no provider is
   * asked; what is left to capture (or to invoice) goes down by it (orders_kept_within_total).
   */
  async creditReturn(em: EntityManager, number: string, amountMinor: number, actor: PaymentActor, returnNumber: string): Promise<Order> {
    const order = await lockedForMoneyBack(em, number, amountMinor, actor, creditRefusal);
    // A capture under way would take what is being credited.
    await assertNoOperationPending(em, order);
    order.creditedMinor += amountMinor;
    await recordHistory(em, order, staff(actor), 'return_credited',
      `Return ${returnNumber}: credited ${money(amountMinor, order)} against what the customer owes (nothing had been captured, so nothing was paid back); ${money(remaining(order), order)} left to pay.`);
    return order;
  }

  /** Applies a reserved operation the provider carried out, in the caller's transaction (the order row is locked here). */
  async confirmReserved(em: EntityManager, op: ReservedOperation, result: ProviderResult): Promise<OperationOutcome | null> {
    const order = await em.findOneOrFail(Order, op.orderId, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    return this.confirmIn(em, order, op, result);
  }

  /**
   * Voids owed at the provider (pending cancel operations: an order entered its cancelled-role state), for one order
   * right after its commit or, from the void job, every one that is due. A lease keeps two processes from calling for
   * the same void at once; a failed void is tried again later (backing off), until the provider confirms it.
   */
  async settleVoids(filter: { orderId?: number } = {}, limit = 50): Promise<{ orderId: number; success: boolean; message: string }[]> {
    const due = await this.leaseDue(`operation = 'cancel' and (cast(? as bigint) is null or order_id = cast(? as bigint))`, [filter.orderId ?? null, filter.orderId ?? null], limit);
    const results: { orderId: number; success: boolean; message: string }[] = [];
    for (const op of due) {
      const result = await this.askProvider(op);
      await this.settle(op, result);
      results.push({ orderId: op.orderId, success: result.success, message: result.message });
    }
    return results;
  }

  /** The void job (src/jobs/job-queue.ts; the lease makes each provider call once at a time). */
  voidRetryJob(everyMs: number): DrainJob {
    return { name: 'payment-voids', everyMs, batchSize: 20, drain: async (limit) => (await this.settleVoids({}, limit)).length };
  }

  /**
   * Captures and refunds left pending longer than `operationStaleSeconds` — the process that reserved them stopped
   * before recording the provider's answer, and the order refuses every other payment call meanwhile. The provider is
   * asked what became of each one's idempotency key (no transaction open, under a lease: several processes may run
   * this) and the operation is settled: confirmed once when the provider did it, marked failed (its claim released,
   * staff can try again) when it never received it. A provider that does not answer is asked again later.
   */
  async recoverStale(limit = 50): Promise<{ orderId: number; operation: PaymentOperationKind; outcome: 'confirmed' | 'refused' | 'never_sent' }[]> {
    const due = await this.leaseDue(`operation in ('capture', 'refund') and created_at < now() - make_interval(secs => ?)`, [this.options.operationStaleSeconds], limit);
    const results: { orderId: number; operation: PaymentOperationKind; outcome: 'confirmed' | 'refused' | 'never_sent' }[] = [];
    for (const op of due) {
      let found: ProviderResult | null;
      try {
        found = await (await this.providerFor(op)).provider.findOperation(op.key);
      } catch (e) {
        log.warn({ err: e }, `[payment-operations] the payment provider did not say what became of operation ${op.id}; asking again later`);
        continue;
      }
      const result = found ?? { success: false, message: 'The payment provider never received this call (the shop stopped before sending it); nothing was changed.', reference: '' };
      const confirmed = await this.settle(op, result);
      // What the operation belonged to (a return's refund) ends as if the call had answered.
      if (confirmed) {
        for (const hook of this.recoveryHooks) {
          await hook(op).catch((e: unknown) => log.warn({ err: e }, `[payment-operations] operation ${op.id} was recorded, but completing what it belonged to failed`));
        }
      }
      results.push({ orderId: op.orderId, operation: op.operation, outcome: !found ? 'never_sent' : found.success ? 'confirmed' : 'refused' });
    }
    return results;
  }

  private readonly recoveryHooks: ((op: RecoveredOperation) => Promise<void>)[] = [];

  /** Runs `hook` for each operation recoverStale confirms, told what it was claimed for (e.g. a return's refund moves the return on). */
  onRecovered(hook: (op: RecoveredOperation) => Promise<void>): void {
    this.recoveryHooks.push(hook);
  }

  /** The stale-operation job (src/jobs/job-queue.ts; see recoverStale). */
  staleRecoveryJob(everyMs: number): DrainJob {
    return { name: 'payment-operations', everyMs, batchSize: 20, drain: async (limit) => (await this.recoverStale(limit)).length };
  }

  /**
   * Takes up to `limit` pending operations matching `where` whose lease ran out (or that never had one), leasing each
   * for two minutes; another process skips them (for update skip locked) until then. No lock is held afterwards.
   */
  private async leaseDue(where: string, params: unknown[], limit: number): Promise<RecoveredOperation[]> {
    const rows = await this.orm.em.getConnection().execute<{ id: string; idempotency_key: string; order_id: string; operation: PaymentOperationKind; amount_minor: string; currency_code: string;
      claim: { effect: string; returnId: number | null } | null }[]>(
      `update payment_operations set lease_until = now() + interval '2 minutes', tries = tries + 1
       where id in (select id from payment_operations where status = 'pending' and (lease_until is null or lease_until < now()) and ${where}
                    order by id limit ? for update skip locked)
       returning id, idempotency_key, order_id, operation, amount_minor, (select currency_code from orders o where o.id = order_id),
         (select json_build_object('effect', e.effect, 'returnId', e.return_id) from record_effects e where e.id = effect_id) as claim`, [...params, limit]);
    return rows.map((row) => ({
      id: Number(row.id), key: row.idempotency_key, orderId: Number(row.order_id), operation: row.operation, amountMinor: Number(row.amount_minor), currencyCode: row.currency_code,
      claim: row.claim,
    }));
  }

  /** Soft delete: only orders that were never completed, or that have been cancelled. Hidden from the order list. */
  async delete(number: string, actor: PaymentActor): Promise<PaymentOutcome> {
    await assertStaffMay(this.em, actor.userId, 'order.delete');
    return this.run(number, async (em, order) => {
      const refusal = deleteRefusal(order);
      if (refusal) throw refusal;
      order.deleted = true;
      await recordHistory(em, order, staff(actor), 'deleted', 'Moved to the deleted orders.');
      return { number: order.number, message: 'deleted; it is hidden from the order list and can be restored here.' };
    });
  }

  /** Brings a deleted order back into the order list. */
  async restore(number: string, actor: PaymentActor): Promise<PaymentOutcome> {
    await assertStaffMay(this.em, actor.userId, 'order.delete');
    return this.em.transactional(async (em) => {
      const order = await em.findOne(Order, { number, type: 'order' }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!order) throw notFound('The order');
      if (!order.deleted) throw new PaymentRefused('NOT_RESTORABLE', `${order.number} is not deleted.`);
      if (order.basketStatus === 'basket' && order.user) {
        const [other] = await em.execute<{ number: string }[]>(
          `select number from orders where user_id = ? and basket_status = 'basket' and not deleted and id <> ?`, [order.user.id, order.id]);
        if (other) throw new PaymentRefused('NOT_RESTORABLE', `${order.number} cannot be restored: it was the customer's basket, and they have started a new basket (${other.number}) since.`);
      }
      order.deleted = false;
      await recordHistory(em, order, staff(actor), 'restored', 'Restored from the deleted orders.');
      return { number: order.number, message: 'restored.' };
    });
  }

  /** The payment box of the order details page; null when the number is not an order (e.g. a cart). */
  async box(number: string): Promise<PaymentBox | null> {
    const order = await this.em.findOne(Order, { number, type: 'order', deleted: false }, { populate: ['paymentMethod'] });
    if (!order) return null;
    const method = order.paymentMethod ?? null;
    const provider = method ? this.providers.get(method.provider) : null;
    const transactions = await this.em.find(PaymentTransaction, { orderId: order.id }, { orderBy: { id: 'asc' } });
    const capturable = !captureRefusal(order, provider);
    return {
      methodName: method?.name ?? '',
      providerCode: method?.provider ?? '',
      supportsCapture: provider?.supportsCapture ?? false,
      captureState: order.captureState ?? null,
      paymentStatus: order.paymentStatus,
      totalMinor: order.totalMinor,
      capturedMinor: order.capturedMinor,
      refundedMinor: order.refundedMinor,
      creditedMinor: order.creditedMinor,
      remainingMinor: remaining(order),
      refundableMinor: order.capturedMinor - order.refundedMinor,
      currencyCode: order.currencyCode,
      captureElsewhere: order.completed && order.captureState === 'not_supported' ? notSupportedMessage(order, method) : null,
      transactions,
      can: {
        captureFull: capturable && order.captureState === 'not_captured',
        captureAmount: capturable,
        finalCapture: capturable && order.captureState === 'split_captured',
        cancel: !cancelRefusal(order),
        refund: order.capturedMinor - order.refundedMinor > 0,
        delete: !deleteRefusal(order),
      },
    };
  }

  /** The “Deleted orders” list, newest deletion first, with who deleted each. */
  async deletedOrders(page: number): Promise<{ rows: DeletedOrderRow[]; hasNext: boolean }> {
    const rows = await this.em.execute<DeletedOrderRow[]>(
      `select o.number, o.created_at, o.completed, o.billing_name, o.total_minor, o.currency_code, o.payment_status, o.capture_state,
              s.name as state_name, s.color as state_color, d.created_at as deleted_at, u.name as deleted_by
       from orders o
       left join flow_states s on s.id = o.state_id
       left join lateral (select h.created_at, h.actor_user_id from order_state_history h
                          where h.order_id = o.id and h.event = 'deleted' order by h.id desc limit 1) d on true
       left join users u on u.id = d.actor_user_id
       where o.type = 'order' and o.deleted
       order by d.created_at desc nulls last, o.id desc
       limit ${DELETED_PAGE_SIZE + 1} offset ${(page - 1) * DELETED_PAGE_SIZE}`,
    );
    return { rows: rows.slice(0, DELETED_PAGE_SIZE), hasNext: rows.length > DELETED_PAGE_SIZE };
  }

  // ——— internals ———

  /**
   * One transaction with the order row locked (SELECT … FOR UPDATE, then the row is re-read, as another
   * transaction may have changed it while we waited). No provider is called inside it (see operate).
   */
  private async run<T>(number: string, fn: (em: EntityManager, order: Order) => Promise<T>, base: EntityManager = this.em): Promise<T> {
    return base.transactional(async (em) => {
      const order = await em.findOne(Order, { number, type: 'order', deleted: false }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!order) throw notFound('The order');
      return fn(em, order);
    });
  }

  private async capturable(em: EntityManager, order: Order): Promise<{ method: PaymentMethod; provider: PaymentProvider }> {
    const { method, provider } = await this.providerOf(em, order);
    const refusal = captureRefusal(order, provider, method);
    if (refusal) throw refusal;
    return { method, provider };
  }

  /**
   * One provider call for a placed order: reserve (order row locked, checks, a pending payment operation — commit) →
   * call the provider with no transaction open → confirm (order row locked again, the result applied — commit), or
   * mark it failed and change nothing. `decide` checks the order and answers the amount. Never inside a caller's
   * transaction: the provider call would hold its locks. `sent` learns of the reserved operation before the provider
   * is asked: from then on the outcome of a failure is unknown (see noAnswer).
   */
  private async operate(number: string, operation: 'capture' | 'refund', actor: PaymentActor, sent: ((op: ReservedOperation) => void) | undefined, decide: (em: EntityManager, order: Order) => Promise<number>, within?: EntityManager): Promise<OperationOutcome> {
    const base = within ?? this.em;
    if (base.isInTransaction()) throw new Error(`a payment ${operation} must not run inside a transaction (reserve → call → confirm)`);
    const op = await afterPendingOperations(() => this.run(number, async (em, order) => reserveOperation(em, order, operation, await decide(em, order), staff(actor)), base));
    sent?.(op);
    const result = await this.askProvider(op);
    if (!result.success) throw await this.refusedBy(op, result);
    return (await this.settle(op, result)) ?? { number, message: `${operation} confirmed meanwhile.`, amountMinor: op.amountMinor, currencyCode: op.currencyCode };
  }

  /**
   * Reserves a capture for an order whose row lock the caller holds (a shipment), with the desk's checks; after the
   * caller's commit: askProvider, then confirmIn (in the caller's next transaction) or refusedBy. `effectId` is the
   * caller's claim on the capture (a shipment's), released when the provider refuses or never received the call.
   */
  async reserveCapture(em: EntityManager, order: Order, amountMinor: number, actor: PaymentActor, effectId: number | null = null): Promise<ReservedOperation> {
    await assertStaffMay(em, actor.userId, 'payment.capture');
    assertPositiveAmount(amountMinor);
    await this.capturable(em, order);
    if (amountMinor > remaining(order)) throw new PaymentRefused('AMOUNT_TOO_HIGH', `${money(amountMinor, order)} is more than the ${money(remaining(order), order)} left to capture on ${order.number} (${captureLimits(order)}).`);
    return reserveOperation(em, order, 'capture', amountMinor, staff(actor), effectId);
  }

  /**
   * The provider refused a reserved operation: it is marked failed and logged (nothing else changes); the refusal to
   * show. When the call failed without an answer the provider may have carried it out: the operation stays pending
   * (the order waits) until recoverStale asks the provider by its key and records what happened, once.
   */
  async refusedBy(op: ReservedOperation, result: ProviderAnswer): Promise<PaymentRefused> {
    const [row] = await this.orm.em.getConnection().execute<{ number: string }[]>('select number from orders where id = ?', [op.orderId]);
    if (result.unanswered) {
      await this.orm.em.fork().transactional(async (em) => {
        await em.execute(`update payment_operations set message = ? where id = ? and status = 'pending'`, [result.message, op.id]);
        em.create(PaymentTransaction, { orderId: op.orderId, operation: op.operation, amountMinor: op.amountMinor, success: false, message: `No answer: ${result.message}`, providerReference: '', createdAt: new Date() });
      });
      return this.noAnswer(op, row.number, `The payment provider did not answer the ${op.operation === 'cancel' ? 'void' : op.operation} of ${formatMoney(op.amountMinor, op.currencyCode)} on ${row.number} (${result.message})`);
    }
    await this.settle(op, result);
    return new PaymentRefused('PROVIDER_REFUSED', `The payment provider refused to ${op.operation} ${formatMoney(op.amountMinor, op.currencyCode)} on ${row.number}: ${result.message} Nothing was changed.`);
  }

  /**
   * The refusal for an operation whose outcome is unknown (`what` went wrong after the provider may have been asked):
   * it stays pending until recoverStale has asked the provider by its key and recorded what happened, once.
   */
  noAnswer(op: ReservedOperation, number: string, what: string): PaymentRefused {
    return new PaymentRefused('PROVIDER_NO_ANSWER',
      `${what}, so it may or may not have been done. ${number} shows the outcome once the provider has been asked again, within ${Math.ceil(this.options.operationStaleSeconds / 60) + 1} minutes; check it then before trying again.`);
  }

  /**
   * Asks the provider, with no transaction open, under the operation's idempotency key, waiting at most
   * PAYMENT_GATEWAY_TIMEOUT_MS. A provider that throws or does not answer in time (a broken connection) answers a
   * failure marked `unanswered`: the call may have been carried out, so the operation stays pending for recoverStale.
   */
  async askProvider(op: ReservedOperation): Promise<ProviderAnswer> {
    const { provider, order } = await this.providerFor(op);
    const reference = order.transaction_number;
    const operationKey = op.key;
    const call = () => {
      if (op.operation === 'capture') return provider.capture({ reference, amountMinor: op.amountMinor, final: leftToCapture(order) === op.amountMinor, operationKey });
      if (op.operation === 'refund') return provider.refund({ reference, amountMinor: op.amountMinor, operationKey });
      return provider.cancel({ reference, operationKey });
    };
    try {
      return await withinMs(call(), this.options.gatewayTimeoutMs, PROVIDER_TIMED_OUT);
    } catch (e) {
      return { success: false, message: e instanceof Error ? e.message : String(e), reference: '', unanswered: true };
    }
  }

  private async providerFor(op: ReservedOperation): Promise<{ provider: PaymentProvider; order: { transaction_number: string } & CaptureAmounts }> {
    const [order] = await this.orm.em.getConnection().execute<{ transaction_number: string; total_minor: string; authorized_minor: string; captured_minor: string; credited_minor: string; provider: PaymentProviderCode }[]>(
      `select o.transaction_number, o.total_minor, o.authorized_minor, o.captured_minor, o.credited_minor, m.provider from orders o join payment_methods m on m.id = o.payment_method_id where o.id = ?`, [op.orderId]);
    return {
      provider: this.providers.get(order.provider),
      order: {
        transaction_number: order.transaction_number, totalMinor: Number(order.total_minor), authorizedMinor: Number(order.authorized_minor),
        capturedMinor: Number(order.captured_minor), creditedMinor: Number(order.credited_minor),
      },
    };
  }

  /**
   * The provider answered: under the order's row lock, a success is applied (confirmIn); a failure is logged and the
   * operation marked failed — a void stays pending and is tried again later. Null when nothing was applied.
   */
  async settle(op: ReservedOperation, result: ProviderResult): Promise<OperationOutcome | null> {
    return this.orm.em.fork().transactional(async (em) => {
      const order = await em.findOneOrFail(Order, op.orderId, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (result.success) return this.confirmIn(em, order, op, result);
      await em.execute(op.operation === 'cancel'
        ? `update payment_operations set message = ?, lease_until = now() + make_interval(secs => least(3600, 30 * power(2, least(tries, 10)))) where id = ? and status = 'pending'`
        : `update payment_operations set message = ?, status = 'failed', finished_at = now() where id = ? and status = 'pending'`, [result.message, op.id]);
      // A claimed effect (a return's refund) did not happen: release it, so it can be tried again.
      if (op.operation !== 'cancel') await em.execute('delete from record_effects where id = (select effect_id from payment_operations where id = ?)', [op.id]);
      this.log(em, order, op.operation, op.amountMinor, false, result.message, result.reference || order.transactionNumber);
      return null;
    });
  }

  /** Applies what the provider did to the locked order, once (the operation moves from pending to done only once). */
  async confirmIn(em: EntityManager, order: Order, op: ReservedOperation, result: ProviderResult): Promise<OperationOutcome | null> {
    const [done] = await em.execute<{ actor_user_id: number | null; actor_kind: Actor['kind']; source: Actor['source'] }[]>(
      `update payment_operations set status = 'done', message = ?, finished_at = now() where id = ? and status = 'pending' returning actor_user_id, actor_kind, source`,
      [result.message, op.id]);
    if (!done) return null;
    const actor: Actor = { userId: done.actor_user_id, kind: done.actor_kind, source: done.source };
    const method = await em.findOneOrFail(PaymentMethod, order.paymentMethod!.id);
    const amountMinor = op.amountMinor;
    this.log(em, order, op.operation, amountMinor, true, result.message, result.reference || order.transactionNumber);
    const outcome = (message: string): OperationOutcome => ({ number: order.number, message, amountMinor, currencyCode: order.currencyCode });
    if (op.operation === 'cancel') {
      await recordHistory(em, order, actor, 'payment_cancelled', `${method.name}: ${result.message}`);
      return outcome(result.message);
    }
    if (op.operation === 'refund') {
      order.refundedMinor += amountMinor;
      order.paymentStatus = statusAfterRefunds(order);
      await recordHistory(em, order, actor, 'payment_refunded', `${method.name}: refunded ${money(amountMinor, order)} (${money(order.refundedMinor, order)} of ${money(order.capturedMinor, order)} captured now refunded).`);
      // Once per refund (the operation is confirmed once, and its mail is keyed by it); an order without an address gets none.
      if (order.billing.email) await this.outbox?.enqueue(em, {
        to: order.billing.email, subject: `Refund of ${money(amountMinor, order)} for order ${order.number}`, template: 'mail/refund.njk', orderId: order.id, dedupeKey: `refund:${op.id}`,
        context: { order, amountMinor, methodName: method.name, cardLast4: order.cardLast4, refundedMinor: order.refundedMinor, capturedMinor: order.capturedMinor },
      });
      const rest = order.capturedMinor - order.refundedMinor;
      return outcome(`refunded ${money(amountMinor, order)}${rest ? `; ${money(rest, order)} can still be refunded` : '; everything captured is refunded'}.`);
    }
    order.capturedMinor += amountMinor;
    const closes = remaining(order) === 0;
    order.captureState = closes ? 'captured' : 'split_captured';
    order.paymentStatus = order.refundedMinor > 0 ? statusAfterRefunds(order) : closes ? 'captured' : 'partly_captured';
    const summary = closes
      ? `captured ${money(amountMinor, order)}; the order is fully captured (${money(order.capturedMinor, order)}).`
      : `captured ${money(amountMinor, order)} (split capture); ${money(remaining(order), order)} left to capture.`;
    await recordHistory(em, order, actor, 'payment_captured', summary[0].toUpperCase() + summary.slice(1));
    return outcome(summary);
  }

  private async providerOf(em: EntityManager, order: Order): Promise<{ method: PaymentMethod; provider: PaymentProvider }> {
    const method = order.paymentMethod ? await em.findOne(PaymentMethod, order.paymentMethod.id) : null;
    if (!method || !order.completed) throw new PaymentRefused('NOT_CAPTURABLE', `${order.number} has not been placed, so there is no payment to act on.`);
    return { method, provider: this.providers.get(method.provider) };
  }

  /** The order's current state and the cancelled-role state of its flow (of the default order flow if it has none). */
  private async cancelledStateFor(em: EntityManager, order: Order): Promise<[FlowState | null, FlowState]> {
    const current = order.state ? await em.findOne(FlowState, order.state.id, { populate: ['flow'] }) : null;
    const cancelled = current
      ? await em.findOne(FlowState, { flow: current.flow.id, role: 'cancelled', deleted: false })
      : await em.findOne(FlowState, { flow: { type: 'order', isDefault: true }, role: 'cancelled', deleted: false });
    if (!cancelled) {
      const flowName = current ? `“${current.flow.name}”` : 'the default order flow';
      throw new DomainError('TRANSITION_NOT_ALLOWED', `${order.number} cannot be cancelled: ${flowName} has no state with the role “${ROLE_LABELS.cancelled}”. Give one of its states that role in Settings → Flows.`);
    }
    return [current, cancelled];
  }

  private log(em: EntityManager, order: Order, operation: PaymentOperation, amountMinor: number, success: boolean, message: string, reference: string): void {
    em.create(PaymentTransaction, { orderId: order.id, operation, amountMinor, success, message, providerReference: reference, createdAt: new Date() });
  }
}

// ——— guards: the same rules decide what the payment box offers and what the service accepts ———

function captureRefusal(order: Order, provider: PaymentProvider | null, method?: PaymentMethod | null): PaymentRefused | null {
  if (!order.completed || !provider) return new PaymentRefused('NOT_CAPTURABLE', `${order.number} has not been placed, so there is nothing to capture.`);
  if (order.captureState === 'not_supported' || !provider.supportsCapture) {
    return new PaymentRefused('CAPTURE_NOT_SUPPORTED', notSupportedMessage(order, method));
  }
  if (order.paymentStatus === 'cancelled') return new PaymentRefused('NOT_CAPTURABLE', `${order.number} has been cancelled; its authorization is void.`);
  if (order.captureState === 'captured') return new PaymentRefused('NOT_CAPTURABLE', `${order.number} is already fully captured (${money(order.capturedMinor, order)}).`);
  if (order.captureState !== 'not_captured' && order.captureState !== 'split_captured') {
    return new PaymentRefused('NOT_CAPTURABLE', `${order.number} cannot be captured from here (capture state: ${order.captureState ?? 'none'}).`);
  }
  if (!AUTHORIZATION_OPEN.includes(order.paymentStatus)) {
    return new PaymentRefused('NOT_CAPTURABLE', `${order.number} has no authorized payment to capture (payment status: ${order.paymentStatus.replace('_', ' ')}).`);
  }
  if (remaining(order) <= 0) return new PaymentRefused('NOT_CAPTURABLE', `Nothing is left to capture on ${order.number}.`);
  return null;
}

/** The permission each confirmed action needs, asked before its confirmation is shown as well. */
const CONFIRMED_ACTION_NEEDS = { refund: 'payment.refund', cancel: 'payment.capture', delete: 'order.delete' } as const;

/**
 * What refunding `amountMinor` on the order does to its money, for a confirmation step (the order's payment method
 * populated); throws the refusal the refund itself would give.
 */
export function refundConsequences(order: Order, amountMinor: number): string[] {
  assertPositiveAmount(amountMinor);
  const refusal = refundRefusal(order, amountMinor);
  if (refusal) throw refusal;
  const rest = order.capturedMinor - order.refundedMinor - amountMinor;
  return [
    `${money(amountMinor, order)} is paid back to the customer through ${order.paymentMethod?.name ?? 'the payment method'}${order.cardLast4 ? ` (card ending in ${order.cardLast4})` : ''}.`,
    `${order.number}: captured ${money(order.capturedMinor, order)}, refunded so far ${money(order.refundedMinor, order)}; afterwards ${rest ? `${money(rest, order)} can still be refunded` : 'everything captured is refunded'}.`,
  ];
}

/**
 * Whether a return's money goes back as a credit against what is owed rather than a refund: nothing has been
 * captured on the order, so there is nothing to pay back.
 */
export function creditsReturns(order: Order): boolean {
  return order.capturedMinor === 0;
}

/** What crediting a return's `amountMinor` does to the order, for its confirmation; throws the refusal the credit would give. */
export function creditConsequences(order: Order, amountMinor: number): string[] {
  assertPositiveAmount(amountMinor);
  const refusal = creditRefusal(order, amountMinor);
  if (refusal) throw refusal;
  return [
    `Nothing has been captured on ${order.number}, so nothing is paid back and ${order.paymentMethod?.name ?? 'the payment provider'} is not asked: ${money(amountMinor, order)} is credited against what the customer owes.`,
    `${order.number}: total ${money(order.totalMinor, order)}, credited so far ${money(order.creditedMinor, order)}; afterwards the customer owes ${money(remaining(order) - amountMinor, order)}.`,
  ];
}

function creditRefusal(order: Order, amountMinor: number): PaymentRefused | null {
  if (!creditsReturns(order)) return new PaymentRefused('NOT_REFUNDABLE', `${order.number} has captured money: a return on it is refunded, not credited.`);
  if (order.paymentStatus === 'cancelled') return new PaymentRefused('NOT_REFUNDABLE', `${order.number} has been cancelled: the customer owes nothing on it, so there is nothing to credit.`);
  if (amountMinor > remaining(order)) {
    return new PaymentRefused('AMOUNT_TOO_HIGH',
      `${money(amountMinor, order)} is more than the customer still owes on ${order.number}: total ${money(order.totalMinor, order)}, ${money(order.creditedMinor, order)} credited already, so at most ${money(remaining(order), order)}.`,
      { amount: `at most ${money(remaining(order), order)}` });
  }
  return null;
}

/** A return's order, locked for money going back (a refund or a credit) once the staff role and the amount pass. */
async function lockedForMoneyBack(em: EntityManager, number: string, amountMinor: number, actor: PaymentActor,
  refusalOf: (order: Order, amountMinor: number) => PaymentRefused | null): Promise<Order> {
  await assertStaffMay(em, actor.userId, 'payment.refund');
  assertPositiveAmount(amountMinor);
  const order = await em.findOne(Order, { number, type: 'order', deleted: false }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
  if (!order) throw notFound('The order');
  const refusal = refusalOf(order, amountMinor);
  if (refusal) throw refusal;
  return order;
}

function refundRefusal(order: Order, amountMinor: number): PaymentRefused | null {
  const refundable = order.capturedMinor - order.refundedMinor;
  if (refundable <= 0) {
    return new PaymentRefused('NOT_REFUNDABLE', order.capturedMinor === 0
      ? `Nothing has been captured on ${order.number}, so there is nothing to refund. Cancel the order instead.`
      : `Everything captured on ${order.number} has already been refunded.`);
  }
  if (amountMinor > refundable) {
    return new PaymentRefused('AMOUNT_TOO_HIGH',
      `${money(amountMinor, order)} is more than can be refunded on ${order.number}: ${money(order.capturedMinor, order)} captured, ${money(order.refundedMinor, order)} already refunded, so at most ${money(refundable, order)}.`,
      { amount: `at most ${money(refundable, order)}` });
  }
  return null;
}

function cancelRefusal(order: Order): PaymentRefused | null {
  if (!order.completed) return new PaymentRefused('NOT_CANCELLABLE', `${order.number} has not been placed, so there is nothing to cancel. Delete it instead.`);
  if (order.paymentStatus === 'cancelled') return new PaymentRefused('NOT_CANCELLABLE', `${order.number} has already been cancelled.`);
  // As the flow's gate: money kept is refunded, not cancelled; once it is refunded in full the rest is voided.
  const kept = order.capturedMinor - order.refundedMinor;
  if (kept > 0) {
    return new PaymentRefused('NOT_CANCELLABLE', `${order.number} cannot be cancelled: ${money(kept, order)} has already been captured. Refund the captured money instead.`);
  }
  return null;
}

function deleteRefusal(order: Order): PaymentRefused | null {
  if (order.completed && order.paymentStatus !== 'cancelled') {
    return new PaymentRefused('NOT_DELETABLE', `${order.number} cannot be deleted: only orders that were never completed, or that have been cancelled, can be deleted. Cancel it first.`);
  }
  return null;
}

function notSupportedMessage(order: Order, method?: PaymentMethod | null): string {
  return `${order.number} is paid by ${method?.name ?? 'a payment method'}, which cannot be captured from here: capture this order in the payment provider's administration.`;
}

function assertPositiveAmount(amountMinor: number): void {
  if (!Number.isSafeInteger(amountMinor) || amountMinor <= 0) throw invalid('Please enter an amount greater than 0.', { amount: 'must be greater than 0' });
}

const remaining = leftToCapture;

/** What limits a capture, for a refusal: the total, the authorization when it is the lower one, what was captured. */
function captureLimits(order: Order): string {
  const authorization = order.authorizedMinor < order.totalMinor ? `, the card authorization covers only ${money(order.authorizedMinor, order)}` : '';
  return `total ${money(order.totalMinor, order)}${authorization}, captured ${money(order.capturedMinor, order)}`;
}

function statusAfterRefunds(order: Order): PaymentStatus {
  if (order.refundedMinor === 0) return order.paymentStatus;
  return order.refundedMinor >= order.capturedMinor ? 'refunded' : 'partly_refunded';
}

function money(minor: number, order: Order): string {
  return formatMoney(minor, order.currencyCode);
}

function staff(actor: PaymentActor): Actor {
  return { userId: actor.userId, kind: 'staff', source: actor.source };
}
