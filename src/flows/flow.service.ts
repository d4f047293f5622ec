import { LockMode, wrap } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { OutboxService } from '../mail/outbox.service';
import { Order, OrderHistoryEntry, type HistoryActor, type HistorySource } from '../orders/order.entities';
import { DomainError, notFound } from '../shared/errors';
import { Flow, FlowState, FlowStateRule, type FlowType } from './flow.entities';

export interface StateChangeActor { userId: number | null; kind: HistoryActor; source: HistorySource }
export interface StateChangeRequest {
  orderId: number;
  toStateId: number;
  actor: StateChangeActor;
  /** The version the user saw; a different version means someone saved meanwhile (optimistic locking). */
  expectedVersion?: number;
  /** Staff may move a record into another flow of the same type; buyers stay within their flow. */
  allowFlowSwitch?: boolean;
  message?: string;
}
export type BulkResult = { orderId: number; number: string; moved: boolean; reason: string };

export const DEFAULT_STATE_TEMPLATE = 'mail/flow/state-changed.njk';
export const DEFAULT_OTHERS_TEMPLATE = 'mail/flow/staff-notice.njk';
const EMAIL = /^[^\s@<>"',;]+@[^\s@<>"',;]+\.[^\s@<>"',;]+$/;

/**
 * Flows decide where carts, orders, quotes and returns may go next. changeState is the one way a record's
 * flow state changes: validate the rule → persist → record history → enqueue notifications, in one transaction.
 */
export class FlowService {
  constructor(private readonly orm?: MikroORM, private readonly outbox?: OutboxService) {}

  /** Where new records of a type start: the default state of the default flow (or the company's own cart flow). */
  async defaultState(em: EntityManager, type: FlowType, companyId?: number | null): Promise<FlowState> {
    if (type === 'cart' && companyId) {
      const [company] = await em.execute<{ cart_flow_id: number | null }[]>('select cart_flow_id from companies where id = ?', [companyId]);
      const own = company?.cart_flow_id ? await em.findOne(FlowState, { flow: company.cart_flow_id, isDefault: true, deleted: false }) : null;
      if (own) return own;
    }
    const state = await em.findOne(FlowState, { isDefault: true, deleted: false, flow: { type, isDefault: true } });
    if (!state) throw new DomainError('CONFLICT', `No default ${type} flow with a default state is configured.`);
    return state;
  }

  /** The states a record in `from` may be moved to by a buyer (rules of its own flow). */
  async reachableStates(em: EntityManager, from: FlowState): Promise<FlowState[]> {
    const rules = await em.find(FlowStateRule, { fromState: from.id }, { populate: ['toState'] });
    if (rules.length) return rules.map((r) => r.toState).filter((s) => !s.deleted).sort((a, b) => a.sortOrder - b.sortOrder);
    return em.find(FlowState, { flow: from.flow.id, deleted: false, id: { $ne: from.id } }, { orderBy: { sortOrder: 'asc' } });
  }

  /** Moves one record; throws TRANSITION_NOT_ALLOWED / CONFLICT / NOT_FOUND and changes nothing when refused. */
  async changeState(req: StateChangeRequest, em: EntityManager = this.orm!.em): Promise<OrderHistoryEntry> {
    return em.transactional(async (tx) => {
      // Lock first (FOR UPDATE cannot cover the outer-joined state), and refresh: the row may have changed while we waited.
      const order = await tx.findOne(Order, { id: req.orderId, deleted: false }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!order) throw notFound('The order');
      await tx.populate(order, ['state.flow']);
      if (req.expectedVersion != null && order.version !== req.expectedVersion) {
        throw new DomainError('CONFLICT', `${order.number} was changed by someone else meanwhile. Reload it to see the changes, then try again.`);
      }
      const to = await tx.findOne(FlowState, { id: req.toStateId }, { populate: ['flow'] });
      if (!to) throw notFound('The state');
      const from = order.state ?? null;
      await assertTransitionAllowed(tx, { type: order.type, label: order.number }, from, to, req.allowFlowSwitch ?? false);

      order.state = to;
      order.updatedAt = new Date();
      const entry = tx.create(OrderHistoryEntry, {
        order, event: 'state_changed', message: req.message ?? '', fromState: from?.id ?? null, toState: to.id,
        actor: req.actor.userId, actorKind: req.actor.kind, source: req.actor.source, createdAt: new Date(),
      });
      await tx.flush();
      await this.enqueueNotifications(tx, order, to, entry.id, req.message ?? '');
      return entry;
    });
  }

  /** Bulk change: each record moves or is refused on its own; a refusal never half-applies. */
  async changeStates(orderIds: number[], toStateId: number, actor: StateChangeActor): Promise<BulkResult[]> {
    const results: BulkResult[] = [];
    for (const orderId of orderIds) {
      const em = this.orm!.em.fork();
      try {
        await this.changeState({ orderId, toStateId, actor, allowFlowSwitch: true }, em);
        const [row] = await em.execute<{ number: string }[]>('select number from orders where id = ?', [orderId]);
        results.push({ orderId, number: row.number, moved: true, reason: '' });
      } catch (e) {
        if (!(e instanceof DomainError)) throw e;
        const [row] = await em.execute<{ number: string }[]>('select number from orders where id = ?', [orderId]);
        results.push({ orderId, number: row?.number ?? String(orderId), moved: false, reason: e.message });
      }
    }
    return results;
  }


  /** Entering a state queues its e-mails in the same transaction; the dedupe key makes it once per change and recipient. */
  private async enqueueNotifications(em: EntityManager, order: Order, state: FlowState, historyId: number, message: string): Promise<void> {
    if (!this.outbox) return;
    const recipients = new Map<string, string>();
    const customerTemplate = state.mailTemplate || DEFAULT_STATE_TEMPLATE;
    if (state.sendToBillingEmail && EMAIL.test(order.billingEmail)) recipients.set(order.billingEmail.toLowerCase(), customerTemplate);
    const deliveryEmail = order.delivery().email;
    if (state.sendToDeliveryEmail && EMAIL.test(deliveryEmail)) recipients.set(deliveryEmail.toLowerCase(), customerTemplate);
    if (!order.billingEmail && (state.sendToBillingEmail || state.sendToDeliveryEmail) && order.user) {
      const [u] = await em.execute<{ email: string }[]>('select email from users where id = ?', [order.user.id]);
      if (u) recipients.set(u.email.toLowerCase(), customerTemplate);
    }
    const fieldEmail = state.sendToField ? String(order.customFields?.[state.customRecipientField] ?? '') : '';
    if (EMAIL.test(fieldEmail)) recipients.set(fieldEmail.toLowerCase(), customerTemplate);
    for (const other of state.othersRecipients.split(/[\s,;]+/).filter((a) => EMAIL.test(a))) {
      if (!recipients.has(other.toLowerCase())) recipients.set(other.toLowerCase(), state.othersTemplate || DEFAULT_OTHERS_TEMPLATE);
    }
    if (!recipients.size) return;
    await em.populate(order, ['lines', 'shop']);
    const subject = fillPlaceholders(state.mailSubject || 'Your {OrderType} {OrderID} is now {StateName}', order, state);
    for (const [to, template] of recipients) {
      await this.outbox.enqueue(em, {
        to, subject, template, fromName: state.mailSenderName, fromEmail: state.mailSenderEmail,
        context: { order, state, lines: order.lines.getItems(), totals: order.totals, subject, message },
        orderId: order.id, dedupeKey: `state:${historyId}:${to}`, stateHistoryId: historyId,
      });
    }
  }
}

/**
 * The transition rules, for any record that lives in a flow (carts, orders, quotes, returns): never into a deleted
 * state or a state of another flow type; a state with rules allows only those moves; a state without rules allows
 * any state of its flow; leaving the flow only where the caller allows it (staff).
 */
export async function assertTransitionAllowed(em: EntityManager, record: { type: FlowType; label: string }, from: FlowState | null, to: FlowState, allowFlowSwitch: boolean): Promise<void> {
  const toFlow = to.flow;
  const refuse = (why: string) => new DomainError('TRANSITION_NOT_ALLOWED', why);
  if (to.deleted) throw refuse(`“${to.name}” has been deleted and can no longer be entered.`);
  if (toFlow.type !== record.type) throw refuse(`“${to.name}” belongs to ${article(toFlow.type)} ${toFlow.type} flow; ${record.label} is ${article(record.type)} ${record.type}.`);
  if (!from) return;
  if (from.id === to.id) throw refuse(`${record.label} is already in “${to.name}”.`);
  const sameFlow = from.flow.id === toFlow.id;
  const rules = await em.find(FlowStateRule, { fromState: from.id });
  if (rules.length) {
    if (rules.some((r) => r.toState.id === to.id)) return;
    if (!sameFlow && allowFlowSwitch) return;
    throw refuse(`${record.label} cannot move from “${from.name}” to “${to.name}”: that transition is not allowed.`);
  }
  if (!sameFlow && !allowFlowSwitch) throw refuse(`${record.label} cannot leave its flow from here.`);
}

const article = (word: string) => (/^[aeiou]/.test(word) ? 'an' : 'a');

/** Placeholders staff may use in a notification subject. */
export const SUBJECT_PLACEHOLDERS = {
  '{OrderID}': 'the cart, order or quote id, e.g. ORDER1001',
  '{StateName}': 'the state just entered',
  '{CustomerName}': 'the billing name',
  '{ShopName}': 'the shop name',
  '{OrderType}': 'cart, order or quote',
} as const;

export function fillPlaceholders(subject: string, order: Order, state: FlowState): string {
  const values: Record<keyof typeof SUBJECT_PLACEHOLDERS, string> = {
    '{OrderID}': order.number,
    '{StateName}': state.name,
    '{CustomerName}': order.billingName,
    '{ShopName}': wrap(order.shop).isInitialized() ? order.shop.name : '',
    '{OrderType}': order.type,
  };
  return subject.replace(/\{(OrderID|StateName|CustomerName|ShopName|OrderType)\}/g, (m) => values[m as keyof typeof values]).slice(0, 250);
}

export async function flowsOfType(em: EntityManager, type: FlowType): Promise<(Flow & { states: FlowState[] })[]> {
  const flows = await em.find(Flow, { type }, { orderBy: { isDefault: 'desc', name: 'asc' } });
  const states = await em.find(FlowState, { flow: { type } }, { orderBy: { sortOrder: 'asc', id: 'asc' } });
  return flows.map((f) => Object.assign(f, { states: states.filter((s) => s.flow.id === f.id) }));
}
