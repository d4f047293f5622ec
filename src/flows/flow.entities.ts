import { ArrayType, Entity, ManyToOne, type Opt, PrimaryKey, Property } from '@mikro-orm/core';

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

@Entity({ tableName: 'flows' })
export class Flow {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) type!: FlowType;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) description: Opt<string> = '';
  @Property({ type: 'boolean' }) isDefault: Opt<boolean> = false;
}

@Entity({ tableName: 'flow_states' })
export class FlowState {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @ManyToOne({ entity: () => Flow, fieldName: 'flow_id' }) flow!: Flow;
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
}

/** Customers who may make a move besides staff: the record's owner, any buyer of its company, a company approver. */
export const RULE_ACTORS = ['owner', 'buyer', 'approver'] as const;
export type RuleActor = (typeof RULE_ACTORS)[number];
export const RULE_ACTOR_LABELS: Record<RuleActor, string> = { owner: 'the buyer who owns it', buyer: 'any buyer of the company', approver: 'a company approver' };

/** "May move to": a state with rules allows only those moves; a state with none allows any move within its flow type. */
@Entity({ tableName: 'flow_state_rules' })
export class FlowStateRule {
  @ManyToOne({ entity: () => FlowState, primary: true, fieldName: 'from_state_id', deleteRule: 'cascade' }) fromState!: FlowState;
  @ManyToOne({ entity: () => FlowState, primary: true, fieldName: 'to_state_id', deleteRule: 'cascade' }) toState!: FlowState;
  /** Who besides staff may make this move (staff may make every move the rules allow). */
  @Property({ type: ArrayType, columnType: 'text[]', defaultRaw: "'{}'::text[]" }) actors: Opt<RuleActor[]> = [];
}
