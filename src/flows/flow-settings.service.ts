import fs from 'node:fs';
import path from 'node:path';
import { ForeignKeyConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { Shop } from '../catalog/catalog.entities';
import { VIEWS_DIR } from '../shared/paths';
import { storedTemplateKey } from '../mail/mail-templates';
import { OrderFieldDefinition } from '../orders/order-edit.entities';
import { Address, Order } from '../orders/order.entities';
import { DomainError, invalid, notFound } from '../shared/errors';
import { Flow, FlowState, FlowStateRule, ROLE_LABELS, STATE_ROLES, type FlowType, type RuleActor, type StateRole } from './flow.entities';
import { DEFAULT_OTHERS_TEMPLATE, DEFAULT_STATE_TEMPLATE, fillPlaceholders, SUBJECT_PLACEHOLDERS } from './flow.service';

export const FLOW_TYPES = ['cart', 'order', 'quote', 'return'] as const satisfies readonly FlowType[];
export const FLOW_TYPE_LABELS: Record<FlowType, string> = { cart: 'Cart flows', order: 'Order flows', quote: 'Quote flows', return: 'Return flows' };
/** The subject FlowService uses when a state has none (kept in step with flow.service.ts). */
const FALLBACK_SUBJECT = 'Your {OrderType} {OrderID} is now {StateName}';
const MAIL_TEMPLATE_DIR = 'mail/flow';

export interface FlowInput { name: string; description: string; isDefault: boolean }
export interface NewFlowInput extends FlowInput { type: FlowType }

/** Everything the state editor saves, already validated at the edge (src/flows/flow-settings.routes.ts). */
export interface StateInput {
  name: string;
  description: string;
  isDefault: boolean;
  excludeFromStatistics: boolean;
  color: string;
  allowEdit: boolean;
  allowOrder: boolean;
  deleted: boolean;
  mailSubject: string;
  mailSenderName: string;
  mailSenderEmail: string;
  mailTemplate: string;
  sendToBillingEmail: boolean;
  sendToDeliveryEmail: boolean;
  sendToField: boolean;
  customRecipientField: string;
  othersRecipients: string[];
  othersTemplate: string;
  /** The "May move to" states; none = any state of its flow. */
  mayMoveTo: number[];
  /** What the state means to the code (one of ROLE_OPTIONS of its flow type), or null. */
  role: string | null;
  final: boolean;
  /** Per "May move to" state: the customers who may make that move besides staff (cart and quote flows). */
  moveActors: Record<number, RuleActor[]>;
}

/** A state as the settings pages show it (a colour badge with flags and who is mailed). */
export interface StateView {
  id: number;
  flowId: number;
  name: string;
  description: string;
  color: string;
  sortOrder: number;
  isDefault: boolean;
  excludeFromStatistics: boolean;
  allowEdit: boolean;
  allowOrder: boolean;
  deleted: boolean;
  role: string | null;
  roleLabel: string;
  final: boolean;
  /** Who is mailed on entering the state, in words. */
  notifies: string[];
  /** Carts, orders or quotes in this state now (flow page only). */
  records: number;
}

export interface FlowGroup { flow: Flow; states: StateView[] }

/**
 * Staff settings for flows, states, transition rules and notifications (/admin/settings).
 * The invariants (one default flow per type, one default state per flow) are guarded by partial unique
 * indexes; this service keeps them while switching, in one transaction under a row lock.
 */
export class FlowSettingsService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  // ---- reading ------------------------------------------------------------------------------------

  /** Every flow grouped by type (cart, order, quote, return), each with its states in order. */
  async listFlows(): Promise<{ type: FlowType; label: string; flows: FlowGroup[] }[]> {
    const flows = await this.em.find(Flow, {}, { orderBy: { isDefault: 'desc', name: 'asc' } });
    const states = await this.em.find(FlowState, {}, { orderBy: { sortOrder: 'asc', id: 'asc' } });
    return FLOW_TYPES.map((type) => ({
      type,
      label: FLOW_TYPE_LABELS[type],
      flows: flows.filter((f) => f.type === type).map((flow) => ({ flow, states: states.filter((s) => s.flow.id === flow.id).map((s) => stateView(s)) })),
    }));
  }

  /** One flow with its states and how many records are in each state now. */
  async flowPage(flowId: number): Promise<{ flow: Flow; states: StateView[]; typeLabel: string }> {
    const flow = await this.findFlow(this.em, flowId);
    const states = await this.em.find(FlowState, { flow: flowId }, { orderBy: { sortOrder: 'asc', id: 'asc' } });
    const counts = await this.em.execute<{ state_id: number; n: number }[]>(
      `select state_id, count(*)::int as n from orders where not deleted and state_id in (select id from flow_states where flow_id = ?) group by state_id`,
      [flowId],
    );
    const byState = new Map(counts.map((c) => [Number(c.state_id), Number(c.n)]));
    return { flow, typeLabel: FLOW_TYPE_LABELS[flow.type], states: states.map((s) => stateView(s, byState.get(s.id) ?? 0)) };
  }

  /**
   * What the state editor needs: the flow, the state (none when new), the "May move to" candidates —
   * the non-deleted states of every flow of the same type, grouped by flow, without the state itself —
   * and which of them are chosen now. A deleted state that is still a rule target is listed too, so the
   * page never hides a rule that is in force.
   */
  async stateEditor(flowId: number, stateId?: number) {
    const state = stateId != null ? await this.findState(this.em, flowId, stateId) : null;
    const flow = state ? state.flow : await this.findFlow(this.em, flowId);
    const rules = state ? await this.em.find(FlowStateRule, { fromState: state.id }) : [];
    const selected = rules.map((r) => r.toState.id);
    const actors = Object.fromEntries(rules.map((r) => [String(r.toState.id), r.actors]));
    const flows = await this.em.find(Flow, { type: flow.type }, { orderBy: { isDefault: 'desc', name: 'asc' } });
    const states = await this.em.find(
      FlowState,
      { flow: { type: flow.type }, $or: [{ deleted: false }, { id: { $in: selected } }] },
      { orderBy: { sortOrder: 'asc', id: 'asc' } },
    );
    // The state's own flow first: that is where most rules point.
    const ordered = [flow, ...flows.filter((f) => f.id !== flow.id)];
    const groups: FlowGroup[] = ordered
      .map((f) => ({ flow: f, states: states.filter((s) => s.flow.id === f.id && s.id !== state?.id).map((s) => stateView(s)) }))
      .filter((g) => g.states.length > 0);
    const orderFields = await this.recipientFields(this.em);
    return {
      flow, state, typeLabel: FLOW_TYPE_LABELS[flow.type], groups, selected, actors, customersMove: CUSTOMER_MOVES.includes(flow.type),
      orderFields, orderFieldNames: orderFields.map((f) => f.systemName),
      templates: this.mailTemplates(),
      roles: STATE_ROLES[flow.type].map((value) => ({ value, label: ROLE_LABELS[value] })),
      storedTemplates: await this.storedTemplates(this.em),
      placeholders: Object.entries(SUBJECT_PLACEHOLDERS).map(([token, meaning]) => ({ token, meaning })),
      defaults: { template: DEFAULT_STATE_TEMPLATE, othersTemplate: DEFAULT_OTHERS_TEMPLATE },
    };
  }

  /** The order fields "Send to the e-mail in an order field" may name: the defined order (not line) fields. */
  recipientFields(em: EntityManager): Promise<OrderFieldDefinition[]> {
    return em.find(OrderFieldDefinition, { appliesTo: 'order' }, { orderBy: { sortOrder: 'asc', id: 'asc' } });
  }

  /** Templates staff wrote in the admin, as a state refers to them (`db:<id>`). */
  async storedTemplates(em: EntityManager): Promise<{ key: string; name: string }[]> {
    const rows = await em.execute<{ id: number; name: string }[]>('select id, name from mail_templates order by lower(name), id');
    return rows.map((r) => ({ key: storedTemplateKey(r.id), name: r.name }));
  }

  /** The notification templates staff may choose: views/mail/flow/*.njk, except partials starting with `_`. */
  mailTemplates(): string[] {
    const dir = path.join(VIEWS_DIR, MAIL_TEMPLATE_DIR);
    return fs.readdirSync(dir)
      .filter((f) => /^[a-z0-9][a-z0-9._-]*\.njk$/i.test(f) && !f.startsWith('_'))
      .sort()
      .map((f) => `${MAIL_TEMPLATE_DIR}/${f}`);
  }

  /**
   * The context a notification template would be rendered with, for a preview: the most recent order (or
   * cart/quote, for a state of such a flow) with lines, else a built-in sample. Only listed templates are
   * accepted, so no path outside views/mail/flow can be named.
   */
  async templatePreview(template: string, stateId?: number) {
    const templates = this.mailTemplates();
    if (!templates.includes(template)) throw notFound('The mail template');
    const em = this.em;
    const saved = stateId != null ? await em.findOne(FlowState, { id: stateId }, { populate: ['flow'] }) : null;
    if (stateId != null && !saved) throw notFound('The state');
    const state = saved ?? Object.assign(new FlowState(), { name: 'Shipped', description: '', color: '#059669' });
    const recordType = saved && saved.flow.type !== 'return' ? saved.flow.type : 'order';
    const [latest] = await em.execute<{ id: number }[]>(
      `select o.id from orders o where o.type = ? and not o.deleted and exists (select 1 from order_lines l where l.order_id = o.id)
       order by o.id desc limit 1`,
      [recordType],
    );
    const order = latest ? await em.findOne(Order, { id: latest.id }, { populate: ['lines', 'shop'] }) : null;
    const sample = order ?? (await sampleOrder(em));
    const lines = order ? order.lines.getItems() : SAMPLE_LINES;
    const subject = fillPlaceholders(state.mailSubject || FALLBACK_SUBJECT, sample, state);
    return {
      template, templates, subject, state: saved,
      sampleLabel: order ? `${order.number}, the most recent ${recordType} with lines` : `a built-in sample order (there is no ${recordType} with lines yet)`,
      context: { order: sample, state, lines, totals: sample.totals ?? null, subject },
    };
  }

  // ---- flows --------------------------------------------------------------------------------------

  /**
   * Creates an empty flow. It cannot be the default yet: new records start in the default flow's default
   * state, which a flow without states does not have.
   */
  async createFlow(input: NewFlowInput): Promise<Flow> {
    return this.em.transactional(async (tx) => {
      await this.assertFlowNameFree(tx, input.type, input.name);
      if (input.isDefault) {
        throw new DomainError('CONFLICT', 'A new flow has no states yet, so it cannot be the default. Create it, add its states, then make it the default.', {
          isDefault: 'can be set once the flow has a default state',
        });
      }
      const flow = tx.create(Flow, { type: input.type, name: input.name, description: input.description, isDefault: false });
      await tx.flush();
      return flow;
    });
  }

  /** Renames a flow; making it the default unsets the previous default of its type in the same transaction. */
  async updateFlow(flowId: number, input: FlowInput): Promise<Flow> {
    return this.em.transactional(async (tx) => {
      const flow = await this.findFlow(tx, flowId);
      await this.assertFlowNameFree(tx, flow.type, input.name, flow.id);
      if (flow.isDefault && !input.isDefault) {
        throw new DomainError('CONFLICT', `“${flow.name}” is the default ${flow.type} flow, and there must always be one. To change it, make another ${flow.type} flow the default.`, {
          isDefault: `cannot be unchecked: make another ${flow.type} flow the default instead`,
        });
      }
      if (input.isDefault && !flow.isDefault) await this.makeDefaultFlow(tx, flow);
      flow.name = input.name;
      flow.description = input.description;
      return flow;
    });
  }

  /**
   * Deletes a flow with its states and rules — only when none of its states was ever used by a record or
   * in history (those are kept: mark states as deleted instead), and never the default flow of its type.
   */
  async deleteFlow(flowId: number): Promise<{ name: string; companies: number }> {
    try {
      return await this.em.transactional(async (tx) => {
        const flow = await this.findFlow(tx, flowId);
        await tx.execute('select id from flows where id = ? for update', [flow.id]);
        if (flow.isDefault) {
          throw new DomainError('CONFLICT', `“${flow.name}” is the default ${flow.type} flow and cannot be deleted. Make another ${flow.type} flow the default first.`);
        }
        const [use] = await tx.execute<{ records: number; history: number }[]>(
          `with s as (select id from flow_states where flow_id = ?)
           select (select count(*) from orders where state_id in (select id from s))::int as records,
                  (select count(*) from order_state_history where from_state_id in (select id from s) or to_state_id in (select id from s))::int as history`,
          [flow.id],
        );
        if (use.records > 0 || use.history > 0) throw inUse(flow, use.records, use.history);
        const [companies] = await tx.execute<{ n: number }[]>('select count(*)::int as n from companies where cart_flow_id = ?', [flow.id]);
        await tx.nativeDelete(Flow, { id: flow.id });
        return { name: flow.name, companies: Number(companies.n) };
      });
    } catch (e) {
      // A record entered one of its states after the check: the foreign key refused, nothing was deleted.
      if (e instanceof ForeignKeyConstraintViolationException) {
        throw new DomainError('CONFLICT', 'The flow was just taken into use, so it was not deleted. Mark its states as deleted instead.');
      }
      throw e;
    }
  }

  // ---- states -------------------------------------------------------------------------------------

  /** Adds a state at the end of the flow. The first state of a flow becomes its default. */
  async createState(flowId: number, input: StateInput): Promise<FlowState> {
    return this.em.transactional(async (tx) => {
      const flow = await this.findFlow(tx, flowId);
      await this.lockFlow(tx, flow.id);
      await this.assertStateInput(tx, flow, null, input);
      const [{ has_default: hasDefault, next }] = await tx.execute<{ has_default: boolean; next: number }[]>(
        `select exists (select 1 from flow_states where flow_id = ? and is_default) as has_default,
                coalesce((select max(sort_order) + 1 from flow_states where flow_id = ?), 0)::int as next`,
        [flow.id, flow.id],
      );
      const isDefault = input.isDefault || (!hasDefault && !input.deleted);
      if (isDefault) await tx.nativeUpdate(FlowState, { flow: flow.id, isDefault: true }, { isDefault: false });
      const state = tx.create(FlowState, { ...stateFields(input), flow, isDefault, sortOrder: Number(next) });
      await tx.flush();
      await this.replaceRules(tx, state, flow.type, input);
      return state;
    });
  }

  /** Saves every setting of a state and replaces its "May move to" rules, in one transaction. */
  async updateState(flowId: number, stateId: number, input: StateInput): Promise<FlowState> {
    return this.em.transactional(async (tx) => {
      await this.lockFlow(tx, flowId);
      const state = await this.findState(tx, flowId, stateId);
      const flow = state.flow;
      await this.assertStateInput(tx, flow, state, input);
      if (state.isDefault && !input.isDefault) {
        throw new DomainError('CONFLICT', `“${state.name}” is the default state of “${flow.name}”: new records start there, and there must always be one. To change it, make another state the default.`, {
          isDefault: 'cannot be unchecked: make another state the default instead',
        });
      }
      if (input.isDefault && !state.isDefault) {
        // Two statements, in this order: the partial unique index allows at most one default at any moment.
        await tx.nativeUpdate(FlowState, { flow: flow.id, isDefault: true, id: { $ne: state.id } }, { isDefault: false });
        state.isDefault = true;
      }
      Object.assign(state, stateFields(input));
      await tx.flush();
      await this.replaceRules(tx, state, flow.type, input);
      return state;
    });
  }

  /** Swaps a state with its neighbour above or below; returns false when it is already first or last. */
  async moveState(flowId: number, stateId: number, direction: 'up' | 'down'): Promise<{ state: FlowState; moved: boolean }> {
    return this.em.transactional(async (tx) => {
      await this.lockFlow(tx, flowId);
      const state = await this.findState(tx, flowId, stateId);
      const states = await tx.find(FlowState, { flow: flowId }, { orderBy: { sortOrder: 'asc', id: 'asc' }, refresh: true });
      const i = states.findIndex((s) => s.id === state.id);
      const j = direction === 'up' ? i - 1 : i + 1;
      if (j < 0 || j >= states.length) return { state, moved: false };
      [states[i], states[j]] = [states[j], states[i]];
      // Renumber the whole flow, so equal or sparse sort orders (e.g. from the seed) never make a move a no-op.
      states.forEach((s, k) => { s.sortOrder = k; });
      return { state, moved: true };
    });
  }

  /**
   * Soft delete: the state stays in history and on records already in it (they can still move on), but it
   * can no longer be entered. The default state cannot be deleted: new records start there.
   */
  async setStateDeleted(flowId: number, stateId: number, deleted: boolean): Promise<FlowState> {
    return this.em.transactional(async (tx) => {
      await this.lockFlow(tx, flowId);
      const state = await this.findState(tx, flowId, stateId);
      if (deleted && state.isDefault) {
        throw new DomainError('CONFLICT', `“${state.name}” is the default state of “${state.flow.name}” and cannot be deleted. Make another state the default first.`);
      }
      state.deleted = deleted;
      return state;
    });
  }

  // ---- guards -------------------------------------------------------------------------------------

  private async findFlow(em: EntityManager, flowId: number): Promise<Flow> {
    const flow = await em.findOne(Flow, { id: flowId });
    if (!flow) throw notFound('The flow');
    return flow;
  }

  private async findState(em: EntityManager, flowId: number, stateId: number): Promise<FlowState> {
    // Refreshed: callers read it after taking the flow's lock, so what they check is what is committed.
    const state = await em.findOne(FlowState, { id: stateId, flow: flowId }, { populate: ['flow'], refresh: true });
    if (!state) throw notFound('The state');
    return state;
  }

  /** Serialises changes to one flow's states (default switch, soft delete, sort order) between concurrent staff. Take it first. */
  private async lockFlow(em: EntityManager, flowId: number): Promise<void> {
    await em.execute('select id from flows where id = ? for update', [flowId]);
  }

  private async makeDefaultFlow(em: EntityManager, flow: Flow): Promise<void> {
    await em.execute('select id from flows where type = ? order by id for update', [flow.type]);
    const [ready] = await em.execute('select 1 from flow_states where flow_id = ? and is_default and not deleted', [flow.id]);
    if (!ready) {
      throw new DomainError('CONFLICT', `“${flow.name}” has no default state yet, so new ${flow.type}s could not start in it. Add a state (the first one becomes the default), then make the flow the default.`, {
        isDefault: 'can be set once the flow has a default state',
      });
    }
    // Unset the old default first: the partial unique index allows at most one default per type at any moment.
    await em.nativeUpdate(Flow, { type: flow.type, isDefault: true, id: { $ne: flow.id } }, { isDefault: false });
    flow.isDefault = true;
  }

  private async assertFlowNameFree(em: EntityManager, type: FlowType, name: string, exceptId?: number): Promise<void> {
    const [taken] = await em.execute('select 1 from flows where type = ? and lower(name) = lower(?) and id <> ?', [type, name, exceptId ?? 0]);
    if (taken) throw invalid(`There is already a ${type} flow called “${name}”. Please choose another name.`, { name: `is already used by another ${type} flow` });
  }

  private async assertStateInput(em: EntityManager, flow: Flow, state: FlowState | null, input: StateInput): Promise<void> {
    const fields: Record<string, string> = {};
    const [taken] = await em.execute('select 1 from flow_states where flow_id = ? and not deleted and lower(name) = lower(?) and id <> ?', [flow.id, input.name, state?.id ?? 0]);
    if (taken && !input.deleted) fields.name = `is already used by another state of “${flow.name}”`;
    if (input.deleted && (input.isDefault || state?.isDefault)) fields.deleted = 'cannot be checked for the default state: make another state the default first';
    if (input.final && (input.isDefault || state?.isDefault)) fields.final = 'cannot be checked for the default state: new records start there';
    if (input.role != null && !(STATE_ROLES[flow.type] as readonly string[]).includes(input.role)) fields.role = `must be one of the ${flow.type} roles listed`;
    else if (input.role != null && input.role !== 'processing' && !input.deleted) {
      const [holder] = await em.execute<{ name: string }[]>('select name from flow_states where flow_id = ? and role = ? and not deleted and id <> ?', [flow.id, input.role, state?.id ?? 0]);
      if (holder) fields.role = `is already given to “${holder.name}”: each role belongs to one state of the flow`;
    }
    const templates = [...this.mailTemplates(), ...(await this.storedTemplates(em)).map((t) => t.key)];
    if (input.mailTemplate && !templates.includes(input.mailTemplate)) fields.mailTemplate = 'is not one of the templates listed';
    if (input.othersTemplate && !templates.includes(input.othersTemplate)) fields.othersTemplate = 'is not one of the templates listed';
    if (input.customRecipientField && !(await this.recipientFields(em)).some((f) => f.systemName === input.customRecipientField)) {
      fields.customRecipientField = `“${input.customRecipientField}” is not one of the order fields listed (define it under Order fields first)`;
    }
    if (input.mayMoveTo.length) {
      const allowed = await em.execute<{ id: number }[]>(
        `select s.id from flow_states s join flows f on f.id = s.flow_id
         where f.type = ? and s.id <> ? and (not s.deleted or s.id in (select to_state_id from flow_state_rules where from_state_id = ?))`,
        [flow.type, state?.id ?? 0, state?.id ?? 0],
      );
      const ok = new Set(allowed.map((a) => Number(a.id)));
      if (input.mayMoveTo.some((id) => !ok.has(id))) fields.mayMoveTo = `can only list other, non-deleted states of ${flow.type} flows`;
    }
    const first = Object.entries(fields)[0];
    if (first) throw invalid(`Please check the state: ${FIELD_LABELS[first[0]] ?? first[0]} ${first[1]}.`, fields);
  }

  /** Makes the state's rules exactly `mayMoveTo`, each with who may make it: removes the others, adds the missing ones. */
  private async replaceRules(em: EntityManager, state: FlowState, type: FlowType, input: Pick<StateInput, 'mayMoveTo' | 'moveActors'>): Promise<void> {
    const existing = await em.find(FlowStateRule, { fromState: state.id });
    const want = new Set(input.mayMoveTo);
    // Customers never move orders or returns; in cart and quote flows the form says who may.
    const actorsOf = (id: number) => (CUSTOMER_MOVES.includes(type) ? input.moveActors[id] ?? [] : []);
    for (const rule of existing) {
      if (!want.has(rule.toState.id)) em.remove(rule);
      else rule.actors = actorsOf(rule.toState.id);
    }
    const have = new Set(existing.map((r) => r.toState.id));
    for (const id of want) if (!have.has(id)) em.create(FlowStateRule, { fromState: state, toState: em.getReference(FlowState, id), actors: actorsOf(id) });
    await em.flush();
  }
}

/** The flow types whose records customers move (carts through the customer center, quotes by accepting or rejecting). */
const CUSTOMER_MOVES: FlowType[] = ['cart', 'quote'];

const FIELD_LABELS: Record<string, string> = {
  name: 'Name', deleted: 'Deleted', role: 'Role', final: 'Final', mailTemplate: 'Template for the customer', customRecipientField: 'Order field', othersTemplate: 'Template for others', mayMoveTo: 'May move to',
};

function inUse(flow: Flow, records: number, history: number): DomainError {
  const parts = [records ? `${records} ${records === 1 ? 'cart, order or quote is' : 'carts, orders or quotes are'} in its states` : '', history ? `${history} history ${history === 1 ? 'entry refers' : 'entries refer'} to them` : ''];
  return new DomainError('CONFLICT', `“${flow.name}” is in use and cannot be deleted: ${parts.filter(Boolean).join(' and ')}. Mark its states as deleted instead — they stay in the history but can no longer be entered.`);
}

function stateFields(input: StateInput) {
  return {
    name: input.name, description: input.description, excludeFromStatistics: input.excludeFromStatistics, color: input.color,
    allowEdit: input.allowEdit, allowOrder: input.allowOrder, deleted: input.deleted, role: input.role as StateRole | null, final: input.final,
    mailSubject: input.mailSubject, mailSenderName: input.mailSenderName, mailSenderEmail: input.mailSenderEmail, mailTemplate: input.mailTemplate,
    sendToBillingEmail: input.sendToBillingEmail, sendToDeliveryEmail: input.sendToDeliveryEmail,
    sendToField: input.sendToField, customRecipientField: input.customRecipientField,
    othersRecipients: input.othersRecipients.join('\n'), othersTemplate: input.othersTemplate,
  };
}

export function stateView(s: FlowState, records = 0): StateView {
  const notifies: string[] = [];
  if (s.sendToBillingEmail) notifies.push('billing e-mail');
  if (s.sendToDeliveryEmail) notifies.push('delivery e-mail');
  if (s.sendToField && s.customRecipientField) notifies.push(`order field “${s.customRecipientField}”`);
  const others = s.othersRecipients.split(/[\s,;]+/).filter(Boolean).length;
  if (others) notifies.push(`${others} other${others === 1 ? '' : 's'}`);
  return {
    id: s.id, flowId: s.flow.id, name: s.name, description: s.description, color: s.color, sortOrder: s.sortOrder,
    isDefault: s.isDefault, excludeFromStatistics: s.excludeFromStatistics, allowEdit: s.allowEdit, allowOrder: s.allowOrder, deleted: s.deleted,
    role: s.role ?? null, roleLabel: s.role ? ROLE_LABELS[s.role] : '', final: s.final, notifies, records,
  };
}

const SAMPLE_LINES = [
  { quantity: 2, productName: 'Espresso beans 1 kg', productNumber: 'P-1001', unit: 'pack' },
  { quantity: 1, productName: 'Pour-over kettle', productNumber: 'P-1017', unit: 'pcs' },
];

/** A built-in order to preview templates with before the shop has any orders. It is never saved. */
async function sampleOrder(em: EntityManager): Promise<Order> {
  const [first] = await em.find(Shop, {}, { orderBy: { id: 'asc' }, limit: 1 });
  const shop = first ?? Object.assign(new Shop(), { id: 'SAMPLE', name: 'Orderflow Demo Shop' });
  return Object.assign(new Order(), {
    id: 0, number: 'ORDER1234', type: 'order' as const, shop,
    billing: Object.assign(new Address(), { name: 'Kim Sample', email: 'kim@example.test', address: 'Main Street 1', zip: '2100', city: 'Copenhagen', country: 'DK' }),
    currencyCode: 'DKK', currencyName: 'Danish krone', currencyRate: '1', totalMinor: 39800, totals: null,
  });
}
