import { ArrayType, Check, Entity, Enum, Index, ManyToOne, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';

export type FlowType = 'cart' | 'order' | 'quote' | 'return';

/**
 * The roles a state of each flow type may carry. Code keys on roles (and on separate status fields), never on
 * state names: staff rename, recolour and reorder states freely. The database checks the same lists
 * (flow_states_role_allowed) and allows one state per role and flow, except "processing".
 */
export const STATE_ROLES = {
  order: ['new', 'processing', 'shipped', 'completed', 'cancelled'],
  cart: ['open', 'submitted', 'approved', 'rejected'],
  quote: ['requested', 'in_review', 'offered', 'accepted', 'rejected', 'expired'],
  return: ['requested', 'approved', 'received', 'refunded', 'replaced', 'rejected'],
} as const satisfies Record<FlowType, readonly string[]>;
export type StateRole<T extends FlowType = FlowType> = (typeof STATE_ROLES)[T][number];
export const ROLE_LABELS: Record<string, string> = {
  new: 'New', processing: 'Processing', shipped: 'Shipped', completed: 'Completed', cancelled: 'Cancelled', open: 'Open',
  submitted: 'Submitted for approval', approved: 'Approved', rejected: 'Rejected', requested: 'Requested', in_review: 'In review',
  offered: 'Offered', accepted: 'Accepted', expired: 'Expired', received: 'Goods received', refunded: 'Refunded', replaced: 'Replaced',
};

@Unique({ name: 'flows_id_type_unique', properties: ['id', 'type'] })
@Check({ name: 'flows_name_not_blank', expression: "length(TRIM(BOTH FROM name)) > 0" })
@Unique({ name: 'flows_name_unique_per_type', properties: ['type', 'name'] })
@Unique({ name: 'flows_code_unique', properties: ['code'] })
@Unique({ name: 'flows_one_default_per_type', expression: 'create unique index flows_one_default_per_type on flows (type) where is_default' })
@Entity({ tableName: 'flows' })
export class Flow {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Enum({ items: ['cart', 'order', 'quote', 'return'], type: 'text' }) type!: FlowType;
  @Property({ type: 'text' }) name!: string;
  /** The demo seed's stable code for a flow it made (null for staff's own): the seed finds it by this, never by name. */
  @Property({ type: 'text', nullable: true }) code?: string | null;
  @Property({ type: 'text' }) description: Opt<string> = '';
  @Property({ type: 'boolean' }) isDefault: Opt<boolean> = false;
}

@Check({ name: 'flow_states_color_check', expression: "color ~ '^#[0-9a-fA-F]{6}$'::text" })
@Check({ name: 'flow_states_default_not_final', expression: "NOT (final AND is_default)" })
@Check({ name: 'flow_states_name_not_blank', expression: "length(TRIM(BOTH FROM name)) > 0" })
@Check({ name: 'flow_states_role_allowed', expression: "(role IS NULL) OR (role = ANY (\nCASE flow_type\n    WHEN 'order'::text THEN ARRAY['new'::text, 'processing'::text, 'shipped'::text, 'completed'::text, 'cancelled'::text]\n    WHEN 'cart'::text THEN ARRAY['open'::text, 'submitted'::text, 'approved'::text, 'rejected'::text]\n    WHEN 'quote'::text THEN ARRAY['requested'::text, 'in_review'::text, 'offered'::text, 'accepted'::text, 'rejected'::text, 'expired'::text]\n    WHEN 'return'::text THEN ARRAY['requested'::text, 'approved'::text, 'received'::text, 'refunded'::text, 'replaced'::text, 'rejected'::text]\n    ELSE NULL::text[]\nEND))" })
@Unique({ name: 'flow_states_one_default_per_flow', expression: 'create unique index flow_states_one_default_per_flow on flow_states (flow_id) where is_default' })
@Unique({ name: 'flow_states_one_per_role', expression: "create unique index flow_states_one_per_role on flow_states (flow_id, role) where role is not null and role <> 'processing' and not deleted" })
@Entity({ tableName: 'flow_states' })
export class FlowState {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @ManyToOne({ entity: () => Flow, deleteRule: 'cascade', fieldName: 'flow_id' }) flow!: Flow;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) description: Opt<string> = '';
  @Property({ type: 'boolean' }) isDefault: Opt<boolean> = false;
  /** What the state means to the code (STATE_ROLES of its flow type), or none. */
  @Property({ type: 'text', nullable: true }) role?: StateRole | null = null;
  /** No move leaves a final state (only the separately permitted, recorded reopen). */
  @Property({ type: 'boolean' }) final: Opt<boolean> = false;
  @Property({ type: 'boolean' }) excludeFromStatistics: Opt<boolean> = false;
  @Property({ type: 'integer' }) sortOrder: Opt<number> = 0;
  @Property({ type: 'text' }) color: Opt<string> = '#6b7280';
  @Property({ type: 'boolean' }) allowEdit: Opt<boolean> = false;
  @Property({ type: 'boolean' }) allowOrder: Opt<boolean> = true;
  @Property({ type: 'boolean' }) deleted: Opt<boolean> = false;
  @Property({ type: 'text' }) mailSubject: Opt<string> = '';
  @Property({ type: 'text' }) mailSenderName: Opt<string> = '';
  @Property({ type: 'text' }) mailSenderEmail: Opt<string> = '';
  @Property({ type: 'text' }) mailTemplate: Opt<string> = '';
  @Property({ type: 'boolean' }) sendToBillingEmail: Opt<boolean> = false;
  @Property({ type: 'boolean' }) sendToDeliveryEmail: Opt<boolean> = false;
  @Property({ type: 'boolean' }) sendToField: Opt<boolean> = false;
  @Property({ type: 'text' }) customRecipientField: Opt<string> = '';
  @Property({ type: 'text' }) othersRecipients: Opt<string> = '';
  @Property({ type: 'text' }) othersTemplate: Opt<string> = '';
  /** The flow's type, copied by the trigger flow_states_fill_type so one check can list each type's roles (set here too, as the trigger does). */
  @Property({ type: 'text', lazy: true, onCreate: (s: FlowState) => s.flow?.type }) flowType?: FlowType;
}

/** Customers who may make a move besides staff: the record's owner, any buyer of its company, a company approver. */
export const RULE_ACTORS = ['owner', 'buyer', 'approver'] as const;
export type RuleActor = (typeof RULE_ACTORS)[number];
export const RULE_ACTOR_LABELS: Record<RuleActor, string> = { owner: 'the buyer who owns it', buyer: 'any buyer of the company', approver: 'a company approver' };

/** "May move to": a state with rules allows only those moves; a state with none allows any move within its flow type. */
@Check({ name: 'flow_state_rules_actors_check', expression: "actors <@ ARRAY['owner'::text, 'buyer'::text, 'approver'::text]" })
@Check({ name: 'flow_state_rules_check', expression: "from_state_id <> to_state_id" })
@Index({ name: 'flow_state_rules_to_idx', properties: ['toState'] })
@Entity({ tableName: 'flow_state_rules' })
export class FlowStateRule {
  @ManyToOne({ entity: () => FlowState, primary: true, fieldName: 'from_state_id', deleteRule: 'cascade' }) fromState!: FlowState;
  @ManyToOne({ entity: () => FlowState, primary: true, fieldName: 'to_state_id', deleteRule: 'cascade' }) toState!: FlowState;
  /** Who besides staff may make this move (staff may make every move the rules allow). */
  @Property({ type: ArrayType, columnType: 'text[]', defaultRaw: "'{}'::text[]" }) actors: Opt<RuleActor[]> = [];
}

/** Whether entering `state` mails anyone (the recipients enteringStateSql's `effects` counts too). */
export function stateSendsMail(state: Pick<FlowState, 'sendToBillingEmail' | 'sendToDeliveryEmail' | 'sendToField' | 'othersRecipients'>): boolean {
  return state.sendToBillingEmail || state.sendToDeliveryEmail || state.sendToField || state.othersRecipients.trim() !== '';
}
