import { BigIntType, Check, Entity, Enum, Index, ManyToOne, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Company, User } from '../accounts/account.entities';
import { Shop } from '../catalog/catalog.entities';
import { Order } from '../orders/order.entities';

export type IntervalUnit = 'day' | 'week' | 'month';
/** System-controlled: active series create orders; paused ones wait; cancelled and finished ones never run again. */
export type SeriesStatus = 'active' | 'paused' | 'cancelled' | 'finished';
/** `placing`: its order is reserved while the payment provider is asked (scheduler.ts). */
export type RunStatus = 'created' | 'failed' | 'skipped' | 'placing';

export const INTERVAL_UNITS: readonly IntervalUnit[] = ['day', 'week', 'month'];

/** A placed order repeated every N days, weeks or months (seeds: the Recurring orders section). */
@Check({ name: 'recurring_series_attempts_check', expression: "attempts >= 0" })
@Check({ name: 'recurring_series_check', expression: "(end_date IS NULL) OR (end_date >= start_date)" })
@Check({ name: 'recurring_series_check1', expression: "(end_date IS NULL) OR (max_occurrences IS NULL)" })
@Check({ name: 'recurring_series_check2', expression: "(status = ANY (ARRAY['active'::text, 'paused'::text])) = (next_due_at IS NOT NULL)" })
@Check({ name: 'recurring_series_interval_count_check', expression: "(interval_count >= 1) AND (interval_count <= 365)" })
@Check({ name: 'recurring_series_max_occurrences_check', expression: "(max_occurrences >= 1) AND (max_occurrences <= 1000)" })
@Check({ name: 'recurring_series_next_occurrence_check', expression: "next_occurrence >= 0" })
@Check({ name: 'recurring_series_orders_created_check', expression: "orders_created >= 0" })
@Index({ name: 'recurring_series_due_idx', expression: "create index recurring_series_due_idx on recurring_series (next_due_at) where status = 'active'" })
@Unique({ name: 'recurring_series_one_open_per_template', expression: "create unique index recurring_series_one_open_per_template on recurring_series (template_order_id) where status in ('active', 'paused')" })
@Index({ name: 'recurring_series_user_idx', expression: 'create index recurring_series_user_idx on recurring_series (user_id, id desc)' })
@Entity({ tableName: 'recurring_series' })
export class RecurringSeries {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  /** The placed order whose lines, customer, addresses and methods each new order copies. */
  @ManyToOne({ entity: () => Order, fieldName: 'template_order_id' }) templateOrder!: Order;
  @ManyToOne({ entity: () => Shop, fieldName: 'shop_id' }) shop!: Shop;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'user_id' }) user?: User | null;
  @ManyToOne({ entity: () => Company, nullable: true, fieldName: 'company_id' }) company?: Company | null;
  @Enum({ items: ['day', 'week', 'month'], type: 'text' }) intervalUnit!: IntervalUnit;
  @Property({ type: 'integer' }) intervalCount!: number;
  /** yyyy-mm-dd; occurrence 0 is due at the start of this day (UTC). */
  @Property({ type: 'string', columnType: 'date' }) startDate!: string;
  /** yyyy-mm-dd, inclusive: the last day an occurrence may fall on. */
  @Property({ type: 'string', columnType: 'date', nullable: true }) endDate?: string | null;
  /** How many occurrences (scheduled dates) the series has in all. */
  @Property({ type: 'integer', nullable: true }) maxOccurrences?: number | null;
  @Enum({ items: ['active', 'paused', 'cancelled', 'finished'], type: 'text' }) status: Opt<SeriesStatus> = 'active';
  @Property({ type: 'integer' }) nextOccurrence: Opt<number> = 0;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) nextDueAt?: Date | null;
  @Property({ type: 'integer' }) attempts: Opt<number> = 0;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) retryAt?: Date | null;
  @Property({ type: 'text' }) lastError: Opt<string> = '';
  @Property({ type: 'integer' }) ordersCreated: Opt<number> = 0;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'created_by_user_id' }) createdBy?: User | null;
  @Enum({ items: ['staff', 'customer'], type: 'text' }) createdByKind!: 'staff' | 'customer';
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', onUpdate: () => new Date(), defaultRaw: 'now()' }) updatedAt: Opt<Date> = new Date();
}

/** One scheduled occurrence of a series: the order it created, or why it failed (and when it is retried) or was skipped. */
@Check({ name: 'recurring_runs_attempts_check', expression: "attempts >= 0" })
@Check({ name: 'recurring_runs_occurrence_check', expression: "occurrence >= 0" })
@Unique({ name: 'recurring_runs_series_id_due_at_key', properties: ['series', 'dueAt'] })
@Unique({ name: 'recurring_runs_series_id_occurrence_key', properties: ['series', 'occurrence'] })
@Unique({ name: 'recurring_runs_one_per_order', expression: 'create unique index recurring_runs_one_per_order on recurring_runs (order_id) where order_id is not null' })
@Entity({ tableName: 'recurring_runs' })
export class RecurringRun {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => RecurringSeries, fieldName: 'series_id', deleteRule: 'cascade' }) series!: RecurringSeries;
  @Property({ type: 'integer' }) occurrence!: number;
  @Property({ type: 'Date', columnType: 'timestamptz' }) dueAt!: Date;
  @Enum({ items: ['created', 'failed', 'skipped', 'placing'], type: 'text' }) status!: RunStatus;
  @ManyToOne({ entity: () => Order, nullable: true, deleteRule: 'set null', fieldName: 'order_id' }) order?: Order | null;
  @Property({ type: 'integer' }) attempts: Opt<number> = 0;
  @Property({ type: 'text' }) lastError: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) nextAttemptAt?: Date | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) updatedAt: Opt<Date> = new Date();
}

/** Recurring order series entities. Listed in src/db/entities.ts. */
export const recurringEntities: Function[] = [RecurringSeries, RecurringRun];
