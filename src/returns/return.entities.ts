import { BigIntType, Check, Collection, Entity, Enum, Index, ManyToOne, OneToMany, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Company, User } from '../accounts/account.entities';
import { StockLocation } from '../catalog/catalog.entities';
import { FlowState } from '../flows/flow.entities';
import { Order, OrderLine, type HistoryActor } from '../orders/order.entities';

export type ReturnResolution = 'refund' | 'replacement';

/** A return (RMA) of goods from a shipped or completed order, moving through the return flow. */
@Check({ name: 'returns_goods_value_minor_check', expression: "goods_value_minor >= 0" })
@Unique({ name: 'returns_number_key', properties: ['number'] })
@Check({ name: 'returns_reason_check', expression: "(length(reason) >= 1) AND (length(reason) <= 60)" })
@Check({ name: 'returns_refund_fee_minor_check', expression: "refund_fee_minor >= 0" })
@Check({ name: 'returns_refund_within_value', expression: "(refunded_minor + credited_minor) <= (goods_value_minor + refund_fee_minor)" })
@Check({ name: 'returns_credited_minor_check', expression: "credited_minor >= 0" })
@Check({ name: 'returns_refunded_minor_check', expression: "refunded_minor >= 0" })
@Index({ name: 'returns_order_idx', properties: ['order'] })
@Unique({ name: 'returns_replacement_order_once', expression: 'create unique index returns_replacement_order_once on returns (replacement_order_id) where replacement_order_id is not null' })
@Index({ name: 'returns_user_idx', expression: 'create index returns_user_idx on returns (user_id, created_at desc)' })
@Entity({ tableName: 'returns' })
export class ReturnRequest {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @Property({ type: 'text' }) number!: string;
  @ManyToOne({ entity: () => Order, fieldName: 'order_id' }) order!: Order;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'user_id' }) user?: User | null;
  @ManyToOne({ entity: () => Company, nullable: true, fieldName: 'company_id' }) company?: Company | null;
  @ManyToOne({ entity: () => FlowState, fieldName: 'state_id' }) state!: FlowState;
  @Property({ type: 'text' }) reason!: string;
  @Property({ type: 'text' }) comment: Opt<string> = '';
  @Enum({ items: ['refund', 'replacement'], type: 'text' }) resolution!: ReturnResolution;
  @Property({ type: new BigIntType('number') }) refundedMinor: Opt<number> = 0;
  /** Credited against what the customer owes instead of refunded: nothing had been captured on the order. */
  @Property({ type: new BigIntType('number') }) creditedMinor: Opt<number> = 0;
  /** The returned goods' value incl. VAT, fixed when the return is made; refunds stay within it plus refundFeeMinor. */
  @Property({ type: new BigIntType('number') }) goodsValueMinor: Opt<number> = 0;
  /** An amount beyond the goods' value that staff chose to refund too (e.g. the shipping fee). */
  @Property({ type: new BigIntType('number') }) refundFeeMinor: Opt<number> = 0;
  @ManyToOne({ entity: () => Order, nullable: true, fieldName: 'replacement_order_id' }) replacementOrder?: Order | null;
  @Property({ type: 'boolean' }) goodsReceived: Opt<boolean> = false;
  @Property({ type: 'integer', version: true }) version!: Opt<number>;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', onUpdate: () => new Date(), defaultRaw: 'now()' }) updatedAt: Opt<Date> = new Date();
  @OneToMany({ entity: () => ReturnLine, mappedBy: 'returnRequest', orderBy: { id: 'asc' } }) lines = new Collection<ReturnLine>(this);
}

@Check({ name: 'return_lines_quantity_check', expression: "quantity > 0" })
@Unique({ name: 'return_lines_return_id_order_line_id_key', properties: ['returnRequest', 'orderLine'] })
@Index({ name: 'return_lines_order_line_idx', properties: ['orderLine'] })
@Entity({ tableName: 'return_lines' })
export class ReturnLine {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => ReturnRequest, deleteRule: 'cascade', fieldName: 'return_id' }) returnRequest!: ReturnRequest;
  @ManyToOne({ entity: () => OrderLine, fieldName: 'order_line_id' }) orderLine!: OrderLine;
  @Property({ type: 'integer' }) quantity!: number;
  @ManyToOne({ entity: () => StockLocation, nullable: true, fieldName: 'restocked_location_id' }) restockedLocation?: StockLocation | null;
}

@Index({ name: 'return_history_return_idx', properties: ['returnRequest', 'id'] })
@Entity({ tableName: 'return_history' })
export class ReturnHistoryEntry {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => ReturnRequest, deleteRule: 'cascade', fieldName: 'return_id' }) returnRequest!: ReturnRequest;
  @Property({ type: 'text' }) event!: string;
  @ManyToOne({ entity: () => FlowState, nullable: true, fieldName: 'from_state_id' }) fromState?: FlowState | null;
  @ManyToOne({ entity: () => FlowState, nullable: true, fieldName: 'to_state_id' }) toState?: FlowState | null;
  @Property({ type: 'text' }) message: Opt<string> = '';
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'actor_user_id' }) actor?: User | null;
  @Enum({ items: ['staff', 'buyer', 'customer', 'system'], type: 'text' }) actorKind!: HistoryActor;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  /** The writing transaction (default pg_current_xact_id()): the state-change triggers check a history row of the same one. */
  @Property({ type: 'string', columnType: 'xid8', defaultRaw: 'pg_current_xact_id()', lazy: true }) tx?: string;
}

/** Return (RMA) entities, listed in src/db/entities.ts. */
export const returnEntities: Function[] = [ReturnRequest, ReturnLine, ReturnHistoryEntry];
