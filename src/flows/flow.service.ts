import { LockMode, wrap } from '@mikro-orm/core';
import { actsAs, staffMay } from '../accounts/access-policy';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { User, type CompanyRole } from '../accounts/account.entities';
import { createViewEnv } from '../shared/views';
import { OutboxService } from '../mail/outbox.service';
import { Order, OrderHistoryEntry, type HistoryActor, type HistorySource } from '../orders/order.entities';
import { ReturnHistoryEntry, ReturnRequest } from '../returns/return.entities';
import { applyCancelEffects, authorizationLeft, type CancelEffects } from '../payments/payment-operations';
import { DomainError, notFound } from '../shared/errors';
import { formatMoney } from '../shared/money';
import { Flow, FlowState, FlowStateRule, ROLE_LABELS, RULE_ACTOR_LABELS, type FlowType, type StateRole } from './flow.entities';

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

/** A record that lives in a flow: a cart/order/quote row, or a return. */
export type FlowRecord = Order | ReturnRequest;

/**
 * How a move is checked. `rules`: the flow's rules and finality decide. `enter`: the record starts a new life as
 * another kind (cart → order at checkout, quote → order, order → cart, a basket adopted into a company's cart flow)
 * and enters that kind's default state — no rule applies, the history and notifications do. `reopen`: staff with
 * the reopen permission take a record out of a final state, with a reason; nothing the final state did is undone
 * or repeated.
 */
export type MoveCheck = 'rules' | 'enter' | 'reopen';
export interface MoveOptions {
  actor: StateChangeActor;
  message?: string;
  /** The history event; default `state_changed`. */
  event?: string;
  check?: MoveCheck;
  allowFlowSwitch?: boolean;
  /** Told what entering a cancelled-role state did (the payment desk reports it). */
  onCancelEffects?: (effects: CancelEffects) => void;
  /** The move is an action's own (a quote's offer or acceptance): it may enter a state only that action reaches. */
  byAction?: boolean;
}

/** Makes what committed moves owe the payment provider (voids), after the commit: PaymentService.settleVoids. */
export type SettleAfterCommit = (orderId: number) => Promise<unknown>;

export const DEFAULT_STATE_TEMPLATE = 'mail/flow/state-changed.njk';
export const DEFAULT_OTHERS_TEMPLATE = 'mail/flow/staff-notice.njk';
const EMAIL = /^[^\s@<>"',;]+@[^\s@<>"',;]+\.[^\s@<>"',;]+$/;

/**
 * Flows decide where carts, orders, quotes and returns may go next. `move` is the one gate every state change goes
 * through: check the rule → save → record history → enqueue notifications, in the caller's transaction (or one of
 * its own). The database refuses a state change without its history row (see the flow_integrity migration).
 */
export class FlowService {
  constructor(private readonly orm?: MikroORM, private readonly outbox: OutboxService = fallbackOutbox(), private readonly settle?: SettleAfterCommit) {}

  /** Where new records of a type start: the default state of the default flow (or the company's own cart flow). */
  async defaultState(em: EntityManager, type: FlowType, companyId?: number | null): Promise<FlowState> {
    if (type === 'cart' && companyId) {
      const [company] = await em.execute<{ cart_flow_id: number | null }[]>('select cart_flow_id from companies where id = ?', [companyId]);
      const own = company?.cart_flow_id ? await em.findOne(FlowState, { flow: company.cart_flow_id, isDefault: true, deleted: false }, { populate: ['flow'] }) : null;
      if (own) return own;
    }
    const state = await em.findOne(FlowState, { isDefault: true, deleted: false, flow: { type, isDefault: true } }, { populate: ['flow'] });
    if (!state) throw new DomainError('CONFLICT', `No default ${type} flow with a default state is configured.`);
    return state;
  }

  /** The state with a role in a flow (not deleted); null when the flow has none. */
  async stateWithRole(em: EntityManager, flowId: number, role: StateRole): Promise<FlowState | null> {
    return em.findOne(FlowState, { flow: flowId, role, deleted: false }, { populate: ['flow'] });
  }

  /** The state with `role` in the record's own flow, or a clear refusal naming the flow and the role. */
  async requireRole(em: EntityManager, from: FlowState, role: StateRole, label: string): Promise<FlowState> {
    const to = await this.stateWithRole(em, from.flow.id, role);
    if (to) return to;
    const flow = await em.findOneOrFail(Flow, from.flow.id);
    throw new DomainError('TRANSITION_NOT_ALLOWED', `${label} cannot go on: “${flow.name}” has no state with the role “${ROLE_LABELS[role] ?? role}”. Give one of its states that role in Settings → Flows.`);
  }

  /** The states this order, cart or quote may move to now for `mover` (what a state select offers). */
  async movesFor(em: EntityManager, order: Order, mover: Mover, allowFlowSwitch: boolean): Promise<FlowState[]> {
    const from = order.state ? await em.findOneOrFail(FlowState, order.state.id, { populate: ['flow'] }) : null;
    return allowedTargets(em, moveRecordOf(order), from, mover, allowFlowSwitch);
  }

  /**
   * The one gate: moves a locked record into `to`. Runs in the caller's transaction when there is one (the caller
   * holds the record's row lock), else in its own. Returns the history entry's id.
   */
  async move(em: EntityManager, record: FlowRecord, to: FlowState, opts: MoveOptions): Promise<number> {
    if (!em.isInTransaction()) return em.transactional((tx) => this.move(tx, record, to, opts));
    await em.populate(record as Order, ['state.flow']);
    if (!wrap(to).isInitialized() || !wrap(to.flow).isInitialized()) await em.populate(to, ['flow']);
    const from = record.state ?? null;
    const check = opts.check ?? 'rules';
    const info = recordInfo(record);
    if (check === 'rules') await assertTransitionAllowed(em, info, from, to, opts.allowFlowSwitch ?? false, opts.actor, opts.byAction);
    else if (check === 'reopen') await this.assertReopenAllowed(em, info, from, to, opts);
    else if (to.deleted) throw new DomainError('TRANSITION_NOT_ALLOWED', `“${to.name}” has been deleted and can no longer be entered.`);

    record.state = to;
    const message = opts.message ?? '';
    const event = opts.event ?? (check === 'reopen' ? 'reopened' : 'state_changed');
    if (record instanceof ReturnRequest) {
      const entry = em.create(ReturnHistoryEntry, {
        returnRequest: record, event, message, fromState: from, toState: to, actor: opts.actor.userId, actorKind: opts.actor.kind, createdAt: new Date(),
      } as never);
      await em.flush();
      await em.populate(record, ['order']);
      await this.enqueueNotifications(em, record.order, to, `return-state:${entry.id}`, null, message);
      return entry.id;
    }
    record.updatedAt = new Date();
    if (await awaitsApproval(em, record.type, to)) record.submittedBy = opts.actor.userId != null ? em.getReference(User, opts.actor.userId) : null;
    const entry = em.create(OrderHistoryEntry, {
      order: record, event, message, fromState: from?.id ?? null, toState: to.id,
      actor: opts.actor.userId, actorKind: opts.actor.kind, source: opts.actor.source, createdAt: new Date(),
    });
    // Effects of entering the state (the transition's end), once per order whatever the path: see applyCancelEffects.
    if (to.role === 'cancelled') {
      const effects = await applyCancelEffects(em, record, opts.actor, from?.role ?? null);
      opts.onCancelEffects?.(effects);
    }
    await em.flush();
    await this.enqueueNotifications(em, record, to, `state:${entry.id}`, entry.id, message);
    return entry.id;
  }

  /** Moves one order/cart/quote by id (staff, API, customer center); throws TRANSITION_NOT_ALLOWED / CONFLICT / NOT_FOUND and changes nothing when refused. */
  async changeState(req: StateChangeRequest, em: EntityManager = this.orm!.em): Promise<OrderHistoryEntry> {
    const outer = em.isInTransaction();
    let owesVoid = false;
    const entry = await em.transactional(async (tx) => {
      const order = await this.lockOrder(tx, req.orderId, req.expectedVersion);
      const to = await tx.findOne(FlowState, { id: req.toStateId }, { populate: ['flow'] });
      if (!to) throw notFound('The state');
      const id = await this.move(tx, order, to, {
        actor: req.actor, message: req.message, allowFlowSwitch: req.allowFlowSwitch, onCancelEffects: (e) => { owesVoid = e.voidOperation != null; },
      });
      return tx.findOneOrFail(OrderHistoryEntry, id);
    });
    // Committed: now the provider call the move owes (a void), with no transaction open. Inside a caller's
    // transaction that caller settles after its commit (or the void job does).
    if (owesVoid && !outer) await this.settleAfterCommit(req.orderId);
    return entry;
  }

  /** Makes the provider calls a committed move of this order owes; a failure is logged and retried by the void job. */
  async settleAfterCommit(orderId: number): Promise<void> {
    await this.settle?.(orderId).catch((e: unknown) => console.error(`[flows] voiding after the move of order ${orderId} failed; the void job retries:`, e instanceof Error ? e.message : e));
  }

  /**
   * Staff take a record out of a final state on purpose: a separate permission (users.can_reopen_records), a reason
   * in the history, a target in the same flow that is not final. Effects already done (refund, void, restock,
   * replacement) stay done and are never repeated — their unique rows refuse a second time.
   */
  async reopen(input: { orderId: number; toStateId: number; reason: string; actor: StateChangeActor; expectedVersion?: number }, em: EntityManager = this.orm!.em): Promise<OrderHistoryEntry> {
    return em.transactional(async (tx) => {
      const order = await this.lockOrder(tx, input.orderId, input.expectedVersion);
      const to = await tx.findOne(FlowState, { id: input.toStateId }, { populate: ['flow'] });
      if (!to) throw notFound('The state');
      const id = await this.move(tx, order, to, { actor: input.actor, message: input.reason, check: 'reopen' });
      return tx.findOneOrFail(OrderHistoryEntry, id);
    });
  }

  private async lockOrder(tx: EntityManager, orderId: number, expectedVersion?: number): Promise<Order> {
    // Lock first (FOR UPDATE cannot cover the outer-joined state), and refresh: the row may have changed while we waited.
    const order = await tx.findOne(Order, { id: orderId, deleted: false }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    if (!order) throw notFound('The order');
    await tx.populate(order, ['state.flow']);
    if (expectedVersion != null && order.version !== expectedVersion) {
      throw new DomainError('CONFLICT', `${order.number} was changed by someone else meanwhile. Look at it as it is now, then try again.`);
    }
    return order;
  }

  private async assertReopenAllowed(em: EntityManager, record: { type: FlowType; label: string }, from: FlowState | null, to: FlowState, opts: MoveOptions): Promise<void> {
    const refuse = (why: string) => new DomainError('TRANSITION_NOT_ALLOWED', why);
    if (opts.actor.kind !== 'staff' || opts.actor.userId == null) throw new DomainError('FORBIDDEN', 'Only staff can reopen a record.');
    const [user] = await em.execute<{ can_reopen_records: boolean }[]>('select can_reopen_records from users where id = ?', [opts.actor.userId]);
    if (!user?.can_reopen_records) throw new DomainError('FORBIDDEN', 'You do not have permission to reopen finished records. Ask an administrator for the “reopen” permission.');
    if (!from?.final) throw refuse(`${record.label} is not in a final state; change its state as usual.`);
    if (!opts.message?.trim()) throw new DomainError('VALIDATION', 'Say why the record is reopened; the reason is kept in its history.', { reason: 'is required' });
    if (to.deleted || to.flow.id !== from.flow.id) throw refuse(`${record.label} can only be reopened into a state of its own flow.`);
    if (to.final) throw refuse(`“${to.name}” is final too; reopen into a state the record can move on from.`);
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
  private async enqueueNotifications(em: EntityManager, order: Order, state: FlowState, dedupePrefix: string, historyId: number | null, message: string): Promise<void> {
    const recipients = new Map<string, string>();
    const customerTemplate = state.mailTemplate || DEFAULT_STATE_TEMPLATE;
    if (state.sendToBillingEmail && EMAIL.test(order.billing.email)) recipients.set(order.billing.email.toLowerCase(), customerTemplate);
    const deliveryEmail = order.shipTo().email;
    if (state.sendToDeliveryEmail && EMAIL.test(deliveryEmail)) recipients.set(deliveryEmail.toLowerCase(), customerTemplate);
    if (!order.billing.email && (state.sendToBillingEmail || state.sendToDeliveryEmail) && order.user) {
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
        to, subject, template, fallbackTemplate: template === state.othersTemplate ? DEFAULT_OTHERS_TEMPLATE : DEFAULT_STATE_TEMPLATE,
        fromName: state.mailSenderName, fromEmail: state.mailSenderEmail,
        context: { order, state, lines: order.lines.getItems(), totals: order.totals, subject, message },
        orderId: order.id, dedupeKey: `${dedupePrefix}:${to}`, stateHistoryId: historyId ?? undefined,
      });
    }
  }
}

/**
 * defaultState(em, 'cart', companyId) as one SQL subquery answering the state's id (null when none is configured):
 * the company's own cart flow's default state, else the default cart flow's. `companyId` is an SQL expression.
 */
export function defaultCartStateIdSql(companyId: string): string {
  return `coalesce(
      (select s.id from companies c join flow_states s on s.flow_id = c.cart_flow_id and s.is_default and not s.deleted where c.id = ${companyId} order by s.id limit 1),
      (select s.id from flow_states s join flows f on f.id = s.flow_id where s.is_default and not s.deleted and f.type = 'cart' and f.is_default order by s.id limit 1))`;
}

/** A state as a lean 'enter' move reads it in SQL (enteringStateSql), with what the gate needs to know about entering it. */
export interface EnteringState { id: number; name: string; deleted: boolean; effects: boolean }

/**
 * The default state of the default flow of `type`, as one SQL subquery answering an EnteringState as JSON (what
 * defaultState finds, without the ORM). `effects`: entering it does more than its history row (a cancelled role's
 * effects, notifications to send), so only FlowService.move may enter it.
 */
export function enteringStateSql(type: 'order'): string {
  return `(select json_build_object('id', s.id, 'name', s.name, 'deleted', s.deleted,
      'effects', s.role is not distinct from 'cancelled' or s.send_to_billing_email or s.send_to_delivery_email or s.send_to_field or s.others_recipients <> '')
    from flow_states s join flows f on f.id = s.flow_id where s.is_default and not s.deleted and f.type = '${type}' and f.is_default order by s.id limit 1)`;
}

/**
 * The gate's 'enter' move as SQL, for a statement that changes the record's state_id itself (a lean path): the same
 * refusal as move() (a deleted state), and the history row the database requires, as a CTE named `entered`. Answers
 * null when entering the state has effects — then the caller goes through move(). `message` is an SQL expression.
 */
export function enterSql(to: EnteringState, entry: { orderId: number; fromStateId: number | null; event: string; message: { sql: string; values: unknown[] }; actor: StateChangeActor; from?: string }) {
  if (to.deleted) throw new DomainError('TRANSITION_NOT_ALLOWED', `“${to.name}” has been deleted and can no longer be entered.`);
  if (to.effects) return null;
  return {
    text: `entered as (insert into order_state_history (order_id, from_state_id, to_state_id, event, message, actor_user_id, actor_kind, source)
      select ?, ?, ?, ?, ${entry.message.sql}, ?, ?, ?${entry.from ? ` from ${entry.from}` : ''})`,
    values: [entry.orderId, entry.fromStateId, to.id, entry.event, ...entry.message.values, entry.actor.userId, entry.actor.kind, entry.actor.source],
  };
}

/** A record as the rules see it: its type, its label in messages, and whom it belongs to (carts, orders, quotes). */
export interface MoveRecord {
  type: FlowType; label: string; ownerId?: number | null; companyId?: number | null; submittedById?: number | null;
  /** What has been captured and refunded on a placed order: money still held is refunded, not cancelled. */
  capturedMinor?: number; refundedMinor?: number; currencyCode?: string;
  /** Cancelling voids an open payment authorization: a payment action, for staff allowed to capture and cancel. */
  voidsAuthorization?: boolean;
}
/**
 * Who asks for a move. Staff, the API and the system may make every move the rules allow; customers only the moves
 * whose rule names them. `companyId` and `companyRoles` are read from the database when not given.
 */
export interface Mover { userId: number | null; kind: HistoryActor; companyId?: number | null; companyRoles?: CompanyRole[] }

export const moveRecordOf = (order: Order): MoveRecord => ({
  type: order.type, label: order.number, ownerId: order.user?.id ?? null, companyId: order.company?.id ?? null, submittedById: order.submittedBy?.id ?? null,
  capturedMinor: order.capturedMinor, refundedMinor: order.refundedMinor, currencyCode: order.currencyCode,
  voidsAuthorization: order.completed && authorizationLeft(order) > 0,
});

const isCustomer = (mover?: Mover): mover is Mover => mover?.kind === 'buyer' || mover?.kind === 'customer';

/** A customer's company and company roles, as stored (a session is never trusted for them). */
export async function resolveMover(em: EntityManager, mover: Mover): Promise<Mover> {
  if (!isCustomer(mover) || mover.companyRoles || mover.userId == null) return mover;
  const [u] = await em.execute<{ company_id: number | null; company_roles: CompanyRole[] }[]>('select company_id, company_roles from users where id = ?', [mover.userId]);
  return { ...mover, companyId: u?.company_id ?? null, companyRoles: u?.company_roles ?? [] };
}

/** Approving a cart: the move that makes it orderable (from a state that does not allow ordering into one that does). */
const isApproval = (record: MoveRecord, from: FlowState, to: FlowState) => record.type === 'cart' && !from.allowOrder && to.allowOrder;

/** A cart state that waits for approval: it does not allow ordering, and a rule leads from it to a state that does. */
async function awaitsApproval(em: EntityManager, type: FlowType, state: FlowState): Promise<boolean> {
  if (type !== 'cart' || state.allowOrder) return false;
  const found = await em.execute('select 1 from flow_state_rules r join flow_states t on t.id = r.to_state_id where r.from_state_id = ? and t.allow_order and not t.deleted limit 1', [state.id]);
  return found.length > 0;
}

/**
 * The transition rules, for any record that lives in a flow (carts, orders, quotes, returns): never into a deleted
 * state or a state of another flow type; never out of a final state; a state with rules allows only those moves; a
 * state without rules allows any state of its flow; leaving the flow only where the caller allows it (staff).
 * Customers may make only the moves whose rule names them (owner, a buyer or an approver of the record's company),
 * and whoever submitted a cart for approval never approves it.
 */
export async function assertTransitionAllowed(em: EntityManager, record: MoveRecord, from: FlowState | null, to: FlowState, allowFlowSwitch: boolean, mover?: Mover, byAction = false): Promise<void> {
  const toFlow = to.flow;
  const refuse = (why: string) => new DomainError('TRANSITION_NOT_ALLOWED', why);
  if (to.deleted) throw refuse(`“${to.name}” has been deleted and can no longer be entered.`);
  const action = to.role ? ACTION_ONLY_ROLES[record.type]?.[to.role] : undefined;
  if (action && !byAction) throw refuse(`${record.label} reaches “${to.name}” only by ${action}, never by a state change.`);
  if (toFlow.type !== record.type) throw refuse(`“${to.name}” belongs to ${article(toFlow.type)} ${toFlow.type} flow; ${record.label} is ${article(record.type)} ${record.type}.`);
  // Money still held (captured, not refunded) is refunded, not cancelled; an order refunded in full may be cancelled.
  const held = (record.capturedMinor ?? 0) - (record.refundedMinor ?? 0);
  if (to.role === 'cancelled' && held > 0 && from?.role !== 'cancelled') {
    throw refuse(`${record.label} cannot be cancelled: ${formatMoney(held, record.currencyCode)} has already been captured. Refund the captured money instead.`);
  }
  // The payment desk's Cancel asks for this permission; a state change into a cancelled role voids the same way.
  if (to.role === 'cancelled' && from?.role !== 'cancelled' && record.voidsAuthorization && mover?.kind === 'staff' && mover.userId != null
    && !(await staffMay(em, mover.userId, 'payment.capture'))) {
    throw refuse(`${record.label} cannot be cancelled by you: cancelling voids its payment authorization, and your staff role may not capture and cancel payments. An administrator can allow it under Settings → Staff roles.`);
  }
  if (!from) return;
  if (from.id === to.id) throw refuse(`${record.label} is already in “${to.name}”.`);
  if (from.final) throw refuse(`${record.label} is “${from.name}”, a final state: it cannot be moved any more. Staff with the reopen permission can reopen it, giving a reason.`);
  const sameFlow = from.flow.id === toFlow.id;
  const rules = await em.find(FlowStateRule, { fromState: from.id });
  const rule = rules.find((r) => r.toState.id === to.id);
  const notAllowed = () => refuse(`${record.label} cannot move from “${from.name}” to “${to.name}”: that transition is not allowed.`);
  if (isCustomer(mover)) {
    if (!rule) throw notAllowed();
    await assertCustomerMayMake(em, record, rule, from, to, mover);
  } else if (rules.length) {
    if (!rule && !(!sameFlow && allowFlowSwitch)) throw notAllowed();
  } else if (!sameFlow && !allowFlowSwitch) throw refuse(`${record.label} cannot leave its flow from here.`);
  if (mover?.userId != null && record.submittedById === mover.userId && isApproval(record, from, to)) {
    throw refuse(`You submitted ${record.label} for approval, so someone else must approve it.`);
  }
}

/**
 * States entered only by an action that does their work: an offered quote has a version, an expiry and the customer's
 * mail (Send offer); an accepted one became an order (the customer's Accept). A plain move there left a quote the
 * customer could not accept, or "accepted" with no order.
 */
const ACTION_ONLY_ROLES: Partial<Record<FlowType, Partial<Record<string, string>>>> = {
  quote: { offered: '“Send offer to the customer”', accepted: 'the customer accepting the offer' },
};

async function assertCustomerMayMake(em: EntityManager, record: MoveRecord, rule: FlowStateRule, from: FlowState, to: FlowState, mover: Mover): Promise<void> {
  const who = await resolveMover(em, mover);
  const viewer = { id: who.userId ?? -1, companyId: who.companyId ?? null, companyRoles: who.companyRoles };
  const may = rule.actors.some((a) => actsAs(viewer, { userId: record.ownerId ?? null, companyId: record.companyId ?? null }, a));
  if (may) return;
  const allowed = rule.actors.map((a) => RULE_ACTOR_LABELS[a]);
  throw new DomainError('TRANSITION_NOT_ALLOWED', `You may not move ${record.label} from “${from.name}” to “${to.name}”: only ${[...allowed, 'staff'].join(' or ')} may.`);
}

/**
 * The states a record may move to now, for this mover: every candidate state is put to assertTransitionAllowed —
 * the same predicate the gate applies — so a list never offers a move the gate would refuse.
 */
export async function allowedTargets(em: EntityManager, record: MoveRecord, from: FlowState | null, mover: Mover, allowFlowSwitch: boolean): Promise<FlowState[]> {
  const flow = allowFlowSwitch || !from ? { type: record.type } : from.flow.id;
  const candidates = await em.find(FlowState, { flow, deleted: false }, { populate: ['flow'], orderBy: { sortOrder: 'asc', id: 'asc' } });
  const who = await resolveMover(em, mover);
  const allowed: FlowState[] = [];
  for (const to of candidates) {
    if (to.id === from?.id) continue;
    try {
      await assertTransitionAllowed(em, record, from, to, allowFlowSwitch, who);
      allowed.push(to);
    } catch (e) {
      if (!(e instanceof DomainError) || e.code !== 'TRANSITION_NOT_ALLOWED') throw e;
    }
  }
  return allowed;
}

/**
 * The name of the state a cart waiting in `state` must reach before it can be ordered: its flow's approved-role
 * state, else the flow's first state that allows ordering; null when there is none. Messages name it as staff named it.
 */
export async function orderingStateName(em: EntityManager, state: FlowState): Promise<string | null> {
  const flow = state.flow.id;
  const target = (await em.findOne(FlowState, { flow, role: 'approved', deleted: false }))
    ?? (await em.findOne(FlowState, { flow, allowOrder: true, deleted: false }, { orderBy: { sortOrder: 'asc', id: 'asc' } }));
  return target?.name ?? null;
}

/** For a record in a final state: the states it could be reopened into, and whether this staff member may; null otherwise. */
export async function reopenOptions(em: EntityManager, state: FlowState | null | undefined, viewerId?: number | null): Promise<{ targets: FlowState[]; permitted: boolean } | null> {
  if (!state?.final) return null;
  const targets = await em.find(FlowState, { flow: state.flow.id, final: false, deleted: false }, { orderBy: { sortOrder: 'asc', id: 'asc' } });
  const [user] = viewerId != null ? await em.execute<{ can_reopen_records: boolean }[]>('select can_reopen_records from users where id = ?', [viewerId]) : [];
  return { targets, permitted: user?.can_reopen_records === true };
}

/** A flow's states grouped as the staff state select shows them ("select the flow, select the state"), only `allowed`. */
export function groupByFlow(flows: (Flow & { states: FlowState[] })[], allowed: FlowState[]) {
  const ids = new Set(allowed.map((s) => s.id));
  return flows.map((f) => ({ id: f.id, name: f.name, isDefault: f.isDefault, states: f.states.filter((s) => ids.has(s.id)) })).filter((f) => f.states.length);
}

let sharedOutbox: OutboxService | undefined;
/** Helpers built without the app's outbox (order lifecycle, workers) still notify: every state change mails alike. */
function fallbackOutbox(): OutboxService {
  return (sharedOutbox ??= new OutboxService(createViewEnv()));
}

function recordInfo(record: FlowRecord): MoveRecord {
  return record instanceof ReturnRequest ? { type: 'return', label: record.number } : moveRecordOf(record);
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
    '{CustomerName}': order.billing.name,
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
