import { BigIntType, Collection, Entity, ManyToOne, OneToMany, PrimaryKey, Property, type Opt } from '@mikro-orm/core';
import { Company, User } from '../accounts/account.entities';
import { StockLocation } from '../catalog/catalog.entities';
import { FlowState } from '../flows/flow.entities';
import { Order, OrderLine, type HistoryActor } from '../orders/order.entities';

export type ReturnResolution = 'refund' | 'replacement';

/** A return (RMA) of goods from a shipped or completed order, moving through the return flow. */
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
  @Property({ type: 'text' }) resolution!: ReturnResolution;
  @Property({ type: new BigIntType('number') }) refundedMinor: Opt<number> = 0;
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

@Entity({ tableName: 'return_lines' })
export class ReturnLine {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => ReturnRequest, fieldName: 'return_id' }) returnRequest!: ReturnRequest;
  @ManyToOne({ entity: () => OrderLine, fieldName: 'order_line_id' }) orderLine!: OrderLine;
  @Property({ type: 'integer' }) quantity!: number;
  @ManyToOne({ entity: () => StockLocation, nullable: true, fieldName: 'restocked_location_id' }) restockedLocation?: StockLocation | null;
}

@Entity({ tableName: 'return_history' })
export class ReturnHistoryEntry {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => ReturnRequest, fieldName: 'return_id' }) returnRequest!: ReturnRequest;
  @Property({ type: 'text' }) event!: string;
  @ManyToOne({ entity: () => FlowState, nullable: true, fieldName: 'from_state_id' }) fromState?: FlowState | null;
  @ManyToOne({ entity: () => FlowState, nullable: true, fieldName: 'to_state_id' }) toState?: FlowState | null;
  @Property({ type: 'text' }) message: Opt<string> = '';
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'actor_user_id' }) actor?: User | null;
  @Property({ type: 'text' }) actorKind!: HistoryActor;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
}

/** Return (RMA) entities, listed in src/db/entities.ts. */
export const returnEntities: Function[] = [ReturnRequest, ReturnLine, ReturnHistoryEntry];
