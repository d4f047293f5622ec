import { BigIntType, Entity, ManyToOne, type Opt, PrimaryKey, Property } from '@mikro-orm/core';
import { Company, User } from '../accounts/account.entities';
import { Shop } from '../catalog/catalog.entities';
import { Order } from '../orders/order.entities';

export type IntervalUnit = 'day' | 'week' | 'month';
/** System-controlled: active series create orders; paused ones wait; cancelled and finished ones never run again. */
export type SeriesStatus = 'active' | 'paused' | 'cancelled' | 'finished';
export type RunStatus = 'created' | 'failed' | 'skipped';

export const INTERVAL_UNITS: readonly IntervalUnit[] = ['day', 'week', 'month'];

/** A placed order repeated every N days, weeks or months (seeds: the Recurring orders section). */
@Entity({ tableName: 'recurring_series' })
export class RecurringSeries {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  /** The placed order whose lines, customer, addresses and methods each new order copies. */
  @ManyToOne({ entity: () => Order, fieldName: 'template_order_id' }) templateOrder!: Order;
  @ManyToOne({ entity: () => Shop, fieldName: 'shop_id' }) shop!: Shop;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'user_id' }) user?: User | null;
  @ManyToOne({ entity: () => Company, nullable: true, fieldName: 'company_id' }) company?: Company | null;
  @Property({ type: 'text' }) intervalUnit!: IntervalUnit;
  @Property({ type: 'integer' }) intervalCount!: number;
  /** yyyy-mm-dd; occurrence 0 is due at the start of this day (UTC). */
  @Property({ type: 'string', columnType: 'date' }) startDate!: string;
  /** yyyy-mm-dd, inclusive: the last day an occurrence may fall on. */
  @Property({ type: 'string', columnType: 'date', nullable: true }) endDate?: string | null;
  /** How many occurrences (scheduled dates) the series has in all. */
  @Property({ type: 'integer', nullable: true }) maxOccurrences?: number | null;
  @Property({ type: 'text' }) status: Opt<SeriesStatus> = 'active';
  @Property({ type: 'integer' }) nextOccurrence: Opt<number> = 0;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) nextDueAt?: Date | null;
  @Property({ type: 'integer' }) attempts: Opt<number> = 0;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) retryAt?: Date | null;
  @Property({ type: 'text' }) lastError: Opt<string> = '';
  @Property({ type: 'integer' }) ordersCreated: Opt<number> = 0;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'created_by_user_id' }) createdBy?: User | null;
  @Property({ type: 'text' }) createdByKind!: 'staff' | 'customer';
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', onUpdate: () => new Date(), defaultRaw: 'now()' }) updatedAt: Opt<Date> = new Date();
}

/** One scheduled occurrence of a series: the order it created, or why it failed (and when it is retried) or was skipped. */
@Entity({ tableName: 'recurring_runs' })
export class RecurringRun {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => RecurringSeries, fieldName: 'series_id', deleteRule: 'cascade' }) series!: RecurringSeries;
  @Property({ type: 'integer' }) occurrence!: number;
  @Property({ type: 'Date', columnType: 'timestamptz' }) dueAt!: Date;
  @Property({ type: 'text' }) status!: RunStatus;
  @ManyToOne({ entity: () => Order, nullable: true, fieldName: 'order_id' }) order?: Order | null;
  @Property({ type: 'integer' }) attempts: Opt<number> = 0;
  @Property({ type: 'text' }) lastError: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) nextAttemptAt?: Date | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) updatedAt: Opt<Date> = new Date();
}

/** Recurring order series entities. Listed in src/db/entities.ts. */
export const recurringEntities: Function[] = [RecurringSeries, RecurringRun];
