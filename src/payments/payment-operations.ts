import type { EntityManager } from '@mikro-orm/postgresql';
import { Order, OrderHistoryEntry, type HistoryActor, type HistorySource, type PaymentStatus } from '../orders/order.entities';
import { emSql } from '../db/sql';
import { DomainError } from '../shared/errors';
import { formatMoney } from '../shared/money';
import { lineUnits, unitsNotShipped } from '../shipping/shipped-units';
import { giveBackStock, stockActor } from '../stock/stock';

/**
 * The in-transaction half of the payment calls a placed order gets (reserve → call → confirm, see the
 * payment_operations migration): the caller holds the order's row lock, reserves the operation here and commits;
 * PaymentService then calls the provider with no transaction open and confirms.
 */
export type PaymentOperationKind = 'capture' | 'cancel' | 'refund';
export interface OperationActor { userId: number | null; kind: HistoryActor; source: HistorySource }
/** A reserved provider call; `key` is its idempotency key, sent with the call and used to ask what became of it. */
export interface ReservedOperation { id: number; key: string; orderId: number; operation: PaymentOperationKind; amountMinor: number; currencyCode: string }

/** An operation the recovery job confirmed, with the once-only effect it was claimed for (a return's refund, the shipping fee), if any. */
export interface RecoveredOperation extends ReservedOperation { claim: { effect: string; returnId: number | null } | null }

/** What entering a cancelled-role state did to a placed order: the void it owes the provider, the units put back. */
export interface CancelEffects { voidOperation: ReservedOperation | null; returnedUnits: number }

/** Payment statuses under which the provider's authorization is still open: captured from, or voided on cancel. */
export const AUTHORIZATION_OPEN: readonly PaymentStatus[] = ['authorized', 'partly_captured', 'partly_refunded', 'refunded'];

/** What captures left of the provider's authorization: what a void releases. */
export function authorizationLeft(order: Order): number {
  return AUTHORIZATION_OPEN.includes(order.paymentStatus) ? Math.max(0, order.authorizedMinor - order.capturedMinor) : 0;
}

/** Paid by an authorization the shop captures from (a card, not an invoice): what may be captured, and so the total, stays within it. */
export function capturesAgainstAuthorization(order: Order): boolean {
  return order.captureState !== 'not_supported' && order.paymentStatus !== 'none' && order.paymentStatus !== 'declined';
}

export type CaptureAmounts = Pick<Order, 'totalMinor' | 'authorizedMinor' | 'capturedMinor' | 'creditedMinor'>;

/**
 * What may still be captured: the total less what returns credited (never charged), and the provider's authorization,
 * limit it (an edit may lower the total).
 */
export function leftToCapture(order: CaptureAmounts): number {
  return Math.max(0, Math.min(order.totalMinor - order.creditedMinor, order.authorizedMinor) - order.capturedMinor);
}

/** One provider call per order at a time: a second one (a colleague, a double click, a shipment) is refused until the first is answered. */
export async function assertNoOperationPending(em: EntityManager, order: Order): Promise<void> {
  const [pending] = await em.execute<{ operation: PaymentOperationKind; amount_minor: string }[]>(
    `select operation, amount_minor from payment_operations where order_id = ? and status = 'pending'`, [order.id]);
  if (!pending) return;
  const what = pending.operation === 'cancel' ? 'voiding its authorization' : `a ${pending.operation} of ${formatMoney(Number(pending.amount_minor), order.currencyCode)}`;
  throw new OperationPending(`${order.number} is waiting for the payment provider (${what}). Reload the order in a moment and try again.`);
}

/** Another provider call for the order is under way (see assertNoOperationPending). */
export class OperationPending extends DomainError {
  constructor(message: string) {
    super('CONFLICT', message);
    this.name = 'OperationPending';
  }
}

/**
 * Runs `step` (a transaction of its own) again while another provider call for the same order is under way — no
 * lock is held while waiting — so a second click is answered by what the first one did ("captured already") rather
 * than by "busy". Gives up with the busy refusal after `waitMs`.
 */
export async function afterPendingOperations<T>(step: () => Promise<T>, waitMs = 10_000): Promise<T> {
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      return await step();
    } catch (e) {
      if (!(e instanceof OperationPending) || Date.now() > until) throw e;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

/** Reserves a provider call for the locked order; commit, then PaymentService calls the provider and confirms. */
export async function reserveOperation(em: EntityManager, order: Order, operation: PaymentOperationKind, amountMinor: number, actor: OperationActor, effectId: number | null = null): Promise<ReservedOperation> {
  await assertNoOperationPending(em, order);
  const [row] = await em.execute<{ id: string; idempotency_key: string }[]>(
    `insert into payment_operations (order_id, operation, amount_minor, effect_id, actor_user_id, actor_kind, source) values (?, ?, ?, ?, ?, ?, ?) returning id, idempotency_key`,
    [order.id, operation, amountMinor, effectId, actor.userId, actor.kind, actor.source]);
  return { id: Number(row.id), key: row.idempotency_key, orderId: order.id, operation, amountMinor, currencyCode: order.currencyCode };
}

/**
 * Entering an order flow's cancelled-role state, by any path (payment desk, state select, bulk, API): the authorization
 * is owed a void and the reserved goods go back where they were taken from — each once per order (record_effects),
 * so a re-entered state, a reopened order cancelled again or two staff at once never void or restock twice. The void
 * itself is reserved here and made after the commit (PaymentService.settleVoids, retried by a job until it worked).
 */
export async function applyCancelEffects(em: EntityManager, order: Order, actor: OperationActor, fromRole: string | null = null): Promise<CancelEffects> {
  if (order.type !== 'order' || !order.completed) return { voidOperation: null, returnedUnits: 0 };
  let voidOperation: ReservedOperation | null = null;
  const owed = authorizationLeft(order);
  // Also after captures that were refunded in full: the rest of the authorization must not stay capturable.
  if (order.paymentMethod && (order.paymentStatus === 'authorized' || owed > 0)) {
    await assertNoOperationPending(em, order);
    const effect = await claimEffect(em, order, 'void', owed);
    if (effect != null) voidOperation = await reserveOperation(em, order, 'cancel', owed, actor, effect);
    order.paymentStatus = 'cancelled';
  }
  const returnedUnits = order.stockReserved && (await claimEffect(em, order, 'restock', 0)) != null ? await returnStock(em, order, actor, fromRole) : 0;
  order.stockReserved = false;
  if (voidOperation || returnedUnits) {
    const parts = [
      voidOperation ? `the payment authorization of ${formatMoney(owed, order.currencyCode)} is voided at the payment provider` : '',
      returnedUnits ? `${returnedUnits} ${returnedUnits === 1 ? 'item' : 'items'} returned to stock` : '',
    ].filter(Boolean);
    em.create(OrderHistoryEntry, {
      order, event: 'cancel_effects', message: `Cancelled: ${parts.join('; ')}.`,
      actor: actor.userId, actorKind: actor.kind, source: actor.source, createdAt: new Date(),
    });
  }
  return { voidOperation, returnedUnits };
}

/** Claims a once-only effect of an order; null when it was claimed before (record_effects_once). */
export async function claimEffect(em: EntityManager, order: Order, effect: 'void' | 'restock' | 'shipping_fee_capture', amountMinor: number): Promise<number | null> {
  const [row] = await em.execute<{ id: string }[]>(
    `insert into record_effects (order_id, effect, amount_minor) values (?, ?, ?) on conflict on constraint record_effects_once do nothing returning id`,
    [order.id, effect, amountMinor]);
  return row ? Number(row.id) : null;
}

/**
 * What a cancel gives back, per line and location: the units taken for the order that have not shipped (shipped goods
 * left the warehouse; returned ones come back through the return's own restock). `stateRole`: the role the order is
 * leaving, for an order moved to a shipped-role state without shipments (see lineUnits).
 */
export async function stockToGiveBack(em: EntityManager, orderId: number, stateRole: string | null): Promise<{ lineId: number; productId: number; locationId: number; quantity: number }[]> {
  return (await lineUnits(em, orderId, stateRole))
    .filter((l) => l.productId != null && l.locationId != null && unitsNotShipped(l) > 0)
    .map((l) => ({ lineId: l.lineId, productId: l.productId!, locationId: l.locationId!, quantity: unitsNotShipped(l) }));
}

/** Puts back what stockToGiveBack says at the location it was taken from, with a "cancel" movement per location (src/stock/stock.ts). */
async function returnStock(em: EntityManager, order: Order, actor: OperationActor, fromRole: string | null): Promise<number> {
  return giveBackStock(emSql(em), await stockToGiveBack(em, order.id, fromRole), { reason: 'cancel', orderId: order.id, actor: stockActor(actor) });
}
