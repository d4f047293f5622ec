import { BigIntType, Check, Collection, Entity, Index, ManyToOne, OneToMany, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { User } from '../accounts/account.entities';
import { Order, OrderLine } from '../orders/order.entities';

/**
 * System-controlled shipment progress of an order (orders.shipment_status), separate from its flow state:
 * nothing shipped yet, some lines or units shipped, everything shipped.
 */
export const SHIPMENT_STATUSES = ['not_shipped', 'partly_shipped', 'shipped'] as const;
export type ShipmentStatus = (typeof SHIPMENT_STATUSES)[number];
export const NOT_SHIPPED: ShipmentStatus = 'not_shipped';
export const PARTLY_SHIPPED: ShipmentStatus = 'partly_shipped';
export const SHIPPED: ShipmentStatus = 'shipped';
export const SHIPMENT_STATUS_LABELS: Record<ShipmentStatus, string> = {
  not_shipped: 'Not shipped',
  partly_shipped: 'Partly shipped',
  shipped: 'Shipped',
};

/** A carrier's tracking page (seeds: TrackAndTrace): a name and a URL with parameters such as {TrackingNumber} and {Zip}. */
@Check({ name: 'track_and_trace_configs_name_check', expression: "(length(TRIM(BOTH FROM name)) >= 1) AND (length(TRIM(BOTH FROM name)) <= 100)" })
@Check({ name: 'track_and_trace_configs_url_check', expression: "(url_template ~* '^https?://[^[:space:]]+$'::text) AND (length(url_template) <= 2000)" })
@Unique({ name: 'track_and_trace_configs_name_unique', expression: 'create unique index track_and_trace_configs_name_unique on track_and_trace_configs (lower(trim(name)))' })
@Entity({ tableName: 'track_and_trace_configs' })
export class TrackAndTraceConfig {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) urlTemplate!: string;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', onUpdate: () => new Date(), defaultRaw: 'now()' }) updatedAt: Opt<Date> = new Date();
}

/** One parcel leaving the warehouse: some units of some lines of an order, with what was captured for them. */
@Check({ name: 'shipments_captured_minor_check', expression: "captured_minor >= 0" })
@Check({ name: 'shipments_check', expression: "(tracking_url IS NULL) OR (tracking_number <> ''::text)" })
@Check({ name: 'shipments_items_value_minor_check', expression: "items_value_minor >= 0" })
@Unique({ name: 'shipments_no_unique', properties: ['order', 'shipmentNo'] })
@Check({ name: 'shipments_shipment_no_check', expression: "shipment_no > 0" })
@Check({ name: 'shipments_tracking_number_check', expression: "length(tracking_number) <= 60" })
@Check({ name: 'shipments_tracking_url_check', expression: "(tracking_url IS NULL) OR ((tracking_url ~* '^https?://'::text) AND (length(tracking_url) <= 4000))" })
@Entity({ tableName: 'shipments' })
export class Shipment {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => Order, fieldName: 'order_id', deleteRule: 'cascade' }) order!: Order;
  /** 1, 2, 3 … within the order. */
  @Property({ type: 'integer' }) shipmentNo!: number;
  @Property({ type: 'text' }) trackingNumber: Opt<string> = '';
  @ManyToOne({ entity: () => TrackAndTraceConfig, nullable: true, fieldName: 'track_and_trace_id', deleteRule: 'set null' }) trackAndTrace?: TrackAndTraceConfig | null;
  /** The link built when the tracking number was given. */
  @Property({ type: 'text', nullable: true }) trackingUrl?: string | null;
  /** The goods' value, incl. VAT and after order discounts, in minor units. */
  @Property({ type: new BigIntType('number') }) itemsValueMinor!: number;
  /** What this shipment captured (0 for invoice orders and orders captured already). */
  @Property({ type: new BigIntType('number') }) capturedMinor: Opt<number> = 0;
  @Property({ type: 'boolean' }) includesShippingFee: Opt<boolean> = false;
  /** The shipment that completed the order. */
  @Property({ type: 'boolean' }) isLast: Opt<boolean> = false;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'created_by_user_id' }) createdBy?: User | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @OneToMany({ entity: () => ShipmentLine, mappedBy: 'shipment', orderBy: { id: 'asc' } }) lines = new Collection<ShipmentLine>(this);
}

@Unique({ name: 'shipment_lines_line_once', properties: ['shipment', 'orderLine'] })
@Check({ name: 'shipment_lines_quantity_check', expression: "(quantity > 0) AND (quantity <= 100000)" })
@Check({ name: 'shipment_lines_value_minor_check', expression: "value_minor >= 0" })
@Index({ name: 'shipment_lines_order_line_idx', properties: ['orderLine'] })
@Entity({ tableName: 'shipment_lines' })
export class ShipmentLine {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => Shipment, fieldName: 'shipment_id', deleteRule: 'cascade' }) shipment!: Shipment;
  @ManyToOne({ entity: () => OrderLine, fieldName: 'order_line_id' }) orderLine!: OrderLine;
  @Property({ type: 'integer' }) quantity!: number;
  @Property({ type: new BigIntType('number') }) valueMinor!: number;
}

/** Shipment entities. Listed in src/db/entities.ts. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const shipmentEntities: Function[] = [TrackAndTraceConfig, Shipment, ShipmentLine];
