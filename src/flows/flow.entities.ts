import { Entity, ManyToOne, type Opt, PrimaryKey, Property } from '@mikro-orm/core';

export type FlowType = 'cart' | 'order' | 'quote' | 'return';

@Entity({ tableName: 'flows' })
export class Flow {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'string' }) type!: FlowType;
  @Property({ type: 'string' }) name!: string;
  @Property({ type: 'text' }) description: Opt<string> = '';
  @Property({ type: 'boolean' }) isDefault: Opt<boolean> = false;
}

@Entity({ tableName: 'flow_states' })
export class FlowState {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @ManyToOne({ entity: () => Flow, fieldName: 'flow_id' }) flow!: Flow;
  @Property({ type: 'string' }) name!: string;
  @Property({ type: 'text' }) description: Opt<string> = '';
  @Property({ type: 'boolean' }) isDefault: Opt<boolean> = false;
  @Property({ type: 'boolean' }) excludeFromStatistics: Opt<boolean> = false;
  @Property({ type: 'integer' }) sortOrder: Opt<number> = 0;
  @Property({ type: 'string' }) color: Opt<string> = '#6b7280';
  @Property({ type: 'boolean' }) allowEdit: Opt<boolean> = false;
  @Property({ type: 'boolean' }) allowOrder: Opt<boolean> = true;
  @Property({ type: 'boolean' }) deleted: Opt<boolean> = false;
  @Property({ type: 'string' }) mailSubject: Opt<string> = '';
  @Property({ type: 'string' }) mailSenderName: Opt<string> = '';
  @Property({ type: 'string' }) mailSenderEmail: Opt<string> = '';
  @Property({ type: 'string' }) mailTemplate: Opt<string> = '';
  @Property({ type: 'boolean' }) sendToBillingEmail: Opt<boolean> = false;
  @Property({ type: 'boolean' }) sendToDeliveryEmail: Opt<boolean> = false;
  @Property({ type: 'boolean' }) sendToField: Opt<boolean> = false;
  @Property({ type: 'string' }) customRecipientField: Opt<string> = '';
  @Property({ type: 'text' }) othersRecipients: Opt<string> = '';
  @Property({ type: 'string' }) othersTemplate: Opt<string> = '';
}

/** "May move to": a state with rules allows only those moves; a state with none allows any move within its flow type. */
@Entity({ tableName: 'flow_state_rules' })
export class FlowStateRule {
  @ManyToOne({ entity: () => FlowState, primary: true, fieldName: 'from_state_id', deleteRule: 'cascade' }) fromState!: FlowState;
  @ManyToOne({ entity: () => FlowState, primary: true, fieldName: 'to_state_id', deleteRule: 'cascade' }) toState!: FlowState;
}
