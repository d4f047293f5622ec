import { BigIntType, Check, Entity, Enum, ManyToOne, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { User } from '../accounts/account.entities';
import type { Totals } from '../pricing/pricing';
import { type Address, Order } from './order.entities';

export const FIELD_TYPES = ['text', 'number', 'date', 'boolean', 'email'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];
export const FIELD_TYPE_LABELS: Record<FieldType, string> = { text: 'Text', number: 'Number', date: 'Date', boolean: 'Yes/no', email: 'E-mail' };
export const FIELD_TARGETS = ['order', 'line'] as const;
export type FieldTarget = (typeof FIELD_TARGETS)[number];

export interface SnapshotLine {
  lineId: number;
  productNumber: string;
  productName: string;
  unit: string;
  quantity: number;
  unitPriceMinor: number;
  vatRateBp: number;
  discountMinor: number;
  customFields: Record<string, string>;
}

/** What a version keeps: everything order editing can change, plus the totals it led to. */
export interface OrderSnapshot {
  number: string;
  currencyCode: string;
  state: string | null;
  billing: Address;
  deliverySameAsBilling: boolean;
  /** The address goods go to (the billing address when "same as billing"). */
  delivery: Address;
  lines: SnapshotLine[];
  orderDiscountMinor: number;
  voucherCode: string;
  shippingFeeMinor: number;
  paymentFeeMinor: number;
  customFields: Record<string, string>;
  totals: Totals | null;
}

/** A staff-defined custom order field or order line field; values live in orders.custom_fields / order_lines.custom_fields by system name. */
@Check({ name: 'order_field_definitions_name_check', expression: "(length(name) >= 1) AND (length(name) <= 120)" })
@Check({ name: 'order_field_definitions_system_name_check', expression: "system_name ~ '^[a-z][a-z0-9_]{1,40}$'::text" })
@Unique({ name: 'order_field_definitions_system_name_key', properties: ['systemName'] })
@Entity({ tableName: 'order_field_definitions' })
export class OrderFieldDefinition {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) systemName!: string;
  @Property({ type: 'text' }) name!: string;
  @Enum({ items: ['text', 'number', 'date', 'boolean', 'email'], type: 'text' }) type!: FieldType;
  @Enum({ items: ['order', 'line'], type: 'text' }) appliesTo!: FieldTarget;
  @Property({ type: 'integer' }) sortOrder: Opt<number> = 0;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
}

/** The order as it was at one point: version 1 before the first edit, then one per save. */
@Unique({ name: 'order_versions_order_id_version_no_key', properties: ['order', 'versionNo'] })
@Check({ name: 'order_versions_version_no_check', expression: "version_no > 0" })
@Entity({ tableName: 'order_versions' })
export class OrderVersion {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => Order, fieldName: 'order_id', deleteRule: 'cascade' }) order!: Order;
  @Property({ type: 'integer' }) versionNo!: number;
  @Property({ type: 'json' }) snapshot!: OrderSnapshot;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'created_by' }) createdBy?: User | null;
  @Property({ type: 'text' }) note: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
}

/** Order versions and custom field entities. Listed in src/db/entities.ts. */
export const orderEditEntities: Function[] = [OrderFieldDefinition, OrderVersion];
