import { BigIntType, Check, Collection, Embeddable, Embedded, Entity, Enum, Index, ManyToOne, OneToMany, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { Company, User } from '../accounts/account.entities';
import { Product, Shop, StockLocation } from '../catalog/catalog.entities';
import type { Totals } from '../pricing/pricing';
import { FlowState } from '../flows/flow.entities';
import { PaymentMethod } from '../payments/payment.entities';
import { ShippingMethod } from '../shipping/shipping-method.entity';

/** What the record is now: carts and orders are one kind of record (seeds: OrderCart / OrderIsQuote). */
export type OrderType = 'cart' | 'order' | 'quote';
/** System-controlled: at most one cart per user is the Basket; other named carts are Saved. */
export type BasketStatus = 'basket' | 'saved';
export type CheckoutStep = 'cart' | 'addresses' | 'methods' | 'review' | 'placing' | 'confirmation';
export type CaptureState = 'not_supported' | 'not_captured' | 'split_captured' | 'captured';
/** What is true of the money: authorized, then partly captured / captured, or declined, cancelled, (partly) refunded. */
export type PaymentStatus = 'none' | 'authorized' | 'partly_captured' | 'captured' | 'declined' | 'cancelled' | 'refunded' | 'partly_refunded';

export const ADDRESS_FIELDS = ['name', 'company', 'address', 'address2', 'zip', 'city', 'country', 'region', 'phone', 'email'] as const;
export type AddressField = (typeof ADDRESS_FIELDS)[number];

/** A postal address as the order stores it (columns `billing_*` and `delivery_*`); blank fields are ''. */
@Embeddable()
export class Address {
  @Property({ type: 'text' }) name = '';
  @Property({ type: 'text' }) company = '';
  @Property({ type: 'text' }) address = '';
  @Property({ type: 'text' }) address2 = '';
  @Property({ type: 'text' }) zip = '';
  @Property({ type: 'text' }) city = '';
  @Property({ type: 'text' }) country = '';
  @Property({ type: 'text' }) region = '';
  @Property({ type: 'text' }) phone = '';
  @Property({ type: 'text' }) email = '';

  /** A stored copy of `a` (a form's fields or another order's address). */
  static of(a: Record<AddressField, string>): Address {
    const out = new Address();
    for (const f of ADDRESS_FIELDS) out[f] = a[f];
    return out;
  }
}

@Unique({ name: 'orders_anonymous_token_key', properties: ['anonymousToken'] })
@Check({ name: 'orders_api_tracking_number_check', expression: "(api_tracking_number IS NULL) OR ((length(api_tracking_number) >= 1) AND (length(api_tracking_number) <= 100))" })
@Check({ name: 'orders_captured_minor_check', expression: "captured_minor >= 0" })
@Check({ name: 'orders_card_last4_check', expression: "card_last4 ~ '^[0-9]{0,4}$'::text" })
@Check({ name: 'orders_check', expression: "(refunded_minor >= 0) AND (refunded_minor <= captured_minor)" })
@Check({ name: 'orders_check1', expression: "NOT (completed AND (basket_status IS NOT NULL))" })
@Check({ name: 'orders_check2', expression: "(type <> 'quote'::text) OR (basket_status IS NULL)" })
@Check({ name: 'orders_authorized_minor_check', expression: "authorized_minor >= 0" })
@Check({ name: 'orders_credited_minor_check', expression: "credited_minor >= 0" })
@Check({ name: 'orders_kept_within_total', expression: "((captured_minor - refunded_minor) + credited_minor) <= total_minor" })
@Check({ name: 'orders_discount_minor_check', expression: "discount_minor >= 0" })
@Unique({ name: 'orders_number_key', properties: ['number'] })
@Check({ name: 'orders_order_discount_minor_check', expression: "order_discount_minor >= 0" })
@Check({ name: 'orders_payment_fee_minor_check', expression: "payment_fee_minor >= 0" })
@Check({ name: 'orders_shipping_fee_minor_check', expression: "shipping_fee_minor >= 0" })
@Check({ name: 'orders_total_minor_check', expression: "total_minor >= 0" })
@Check({ name: 'orders_tracking_url_check', expression: "(tracking_url IS NULL) OR ((tracking_url ~* '^https?://'::text) AND (length(tracking_url) <= 4000))" })
@Index({ name: 'orders_api_changed_idx', expression: "create index orders_api_changed_idx on orders (order_updated_at, id) where type = 'order' and completed and not deleted" })
@Unique({ name: 'orders_imported_channel_external_id', expression: 'create unique index orders_imported_channel_external_id on orders (channel, integration_order_id) where imported' })
@Index({ name: 'orders_integration_order_id_idx', expression: 'create index orders_integration_order_id_idx on orders (integration_order_id) where integration_order_id is not null' })
@Index({ name: 'orders_list_company_idx', expression: "create index orders_list_company_idx on orders (company_id, created_at) where type = 'order' and not deleted and company_id is not null" })
@Index({ name: 'orders_list_created_idx', expression: "create index orders_list_created_idx on orders (created_at, id) where type = 'order' and not deleted and completed" })
@Index({ name: 'orders_list_customer_idx', expression: "create index orders_list_customer_idx on orders (billing_name, id) where type = 'order' and not deleted and completed" })
@Index({ name: 'orders_list_email_idx', expression: "create index orders_list_email_idx on orders (lower(billing_email)) where type = 'order' and not deleted" })
@Index({ name: 'orders_list_imported_idx', expression: "create index orders_list_imported_idx on orders (created_at, id) where type = 'order' and not deleted and imported" })
@Index({ name: 'orders_list_name_idx', expression: "create index orders_list_name_idx on orders (lower(billing_name)) where type = 'order' and not deleted" })
@Index({ name: 'orders_list_open_idx', expression: "create index orders_list_open_idx on orders (created_at, id) include (number, order_total_minor, billing_name, state_id, shop_id, company_id, capture_state, imported) where type = 'order' and not deleted and not completed" })
@Index({ name: 'orders_list_number_idx', expression: "create index orders_list_number_idx on orders (number, id) where type = 'order' and not deleted and completed" })
@Index({ name: 'orders_list_search_trgm_idx', expression: "create index orders_list_search_trgm_idx on orders using gin (( number || ' ' || billing_name || ' ' || billing_company || ' ' || billing_address || ' ' || billing_address2 || ' ' || billing_zip || ' ' || billing_city || ' ' || billing_phone || ' ' || billing_email || ' ' || delivery_name || ' ' || delivery_company || ' ' || delivery_address || ' ' || delivery_address2 || ' ' || delivery_zip || ' ' || delivery_city || ' ' || delivery_phone || ' ' || delivery_email || ' ' || customer_comment || ' ' || staff_comment || ' ' || coalesce(integration_order_id, '') ) gin_trgm_ops) where type = 'order' and not deleted and completed" })
@Index({ name: 'orders_list_state_created_idx', expression: "create index orders_list_state_created_idx on orders (state_id, created_at, id) where type = 'order' and not deleted and completed" })
@Index({ name: 'orders_list_total_idx', expression: "create index orders_list_total_idx on orders (order_total_minor, id) where type = 'order' and not deleted and completed" })
@Unique({ name: 'orders_one_basket_per_user', expression: "create unique index orders_one_basket_per_user on orders (user_id) where basket_status = 'basket' and not deleted and user_id is not null" })
@Index({ name: 'orders_recurring_series_idx', expression: 'create index orders_recurring_series_idx on orders (recurring_series_id) where recurring_series_id is not null' })
@Index({ name: 'orders_state_idx', properties: ['state'] })
@Index({ name: 'orders_statistics_idx', expression: "create index orders_statistics_idx on orders (shop_id, completed_at) include (state_id, order_total_minor, order_total_excl_vat_minor) where type = 'order' and completed and not deleted" })
@Index({ name: 'orders_type_created_idx', expression: "create index orders_type_created_idx on orders (type, created_at desc) where type <> 'order'" })
@Index({ name: 'orders_user_idx', expression: 'create index orders_user_idx on orders (user_id, created_at desc) where user_id is not null' })
@Entity({ tableName: 'orders' })
export class Order {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  /** The public id: CART… while a cart, ORDER… once checkout has started (seeds' OrderId). */
  @Property({ type: 'text' }) number!: string;
  @ManyToOne({ entity: () => Shop, fieldName: 'shop_id' }) shop!: Shop;
  @Enum({ items: ['cart', 'order', 'quote'], type: 'text' }) type!: OrderType;
  @Enum({ items: ['basket', 'saved'], type: 'text', nullable: true }) basketStatus?: BasketStatus | null;
  @Property({ type: 'text' }) name: Opt<string> = '';
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'user_id' }) user?: User | null;
  @ManyToOne({ entity: () => Company, nullable: true, fieldName: 'company_id' }) company?: Company | null;
  @Property({ type: 'uuid', nullable: true }) anonymousToken?: string | null;
  @ManyToOne({ entity: () => FlowState, nullable: true, fieldName: 'state_id' }) state?: FlowState | null;
  /** Who last submitted this cart for approval: that person may never approve it. */
  @ManyToOne({ entity: () => User, nullable: true, deleteRule: 'set null', fieldName: 'submitted_by_user_id' }) submittedBy?: User | null;
  /** Reached the confirmation step (seeds: OrderComplete); not-completed orders show red. */
  @Property({ type: 'boolean' }) completed: Opt<boolean> = false;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) completedAt?: Date | null;
  @Enum({ items: ['cart', 'addresses', 'methods', 'review', 'placing', 'confirmation'], type: 'text' }) checkoutStep: Opt<CheckoutStep> = 'cart';
  @Property({ type: 'boolean' }) deleted: Opt<boolean> = false;
  @Property({ type: 'integer', version: true }) version!: number;

  @Embedded({ entity: () => Address, prefix: 'billing_' }) billing: Opt<Address> = new Address();
  @Property({ type: 'boolean' }) deliverySameAsBilling: Opt<boolean> = true;
  /** The separate delivery address; blank while delivery goes to the billing address (see `shipTo`). */
  @Embedded({ entity: () => Address, prefix: 'delivery_' }) delivery: Opt<Address> = new Address();

  @ManyToOne({ entity: () => ShippingMethod, nullable: true, fieldName: 'shipping_method_id' }) shippingMethod?: ShippingMethod | null;
  @ManyToOne({ entity: () => PaymentMethod, nullable: true, fieldName: 'payment_method_id' }) paymentMethod?: PaymentMethod | null;
  @Property({ type: 'text' }) voucherCode: Opt<string> = '';
  @Property({ type: 'text' }) customerComment: Opt<string> = '';
  @Property({ type: 'text' }) staffComment: Opt<string> = '';
  @Property({ type: 'string', columnType: 'char(3)' }) currencyCode!: string;
  @Property({ type: 'text' }) currencyName!: string;
  @Property({ type: 'string', columnType: 'numeric(12,6)' }) currencyRate!: string;

  // Totals are derived by pricing.ts and stored so lists and statistics need no recalculation.
  @Property({ type: new BigIntType('number') }) shippingFeeMinor: Opt<number> = 0;
  @Property({ type: new BigIntType('number') }) paymentFeeMinor: Opt<number> = 0;
  @Property({ type: new BigIntType('number') }) discountMinor: Opt<number> = 0;
  @Property({ type: new BigIntType('number') }) subtotalMinor: Opt<number> = 0;
  @Property({ type: new BigIntType('number') }) totalExclVatMinor: Opt<number> = 0;
  @Property({ type: new BigIntType('number') }) vatMinor: Opt<number> = 0;
  @Property({ type: new BigIntType('number') }) totalMinor: Opt<number> = 0;
  @Property({ type: 'json', nullable: true }) totals?: Totals | null;
  /** An order-level discount given by staff (quotes, order editing), excluding VAT. */
  @Property({ type: new BigIntType('number') }) orderDiscountMinor: Opt<number> = 0;
  @Property({ type: 'string', columnType: 'date', nullable: true }) quoteExpiresOn?: string | null;
  @Property({ type: 'text' }) quoteMessage: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) quoteOfferedAt?: Date | null;
  @Enum({ items: ['accepted', 'rejected'], type: 'text', nullable: true }) quoteAnswer?: 'accepted' | 'rejected' | null;
  @Property({ type: 'text' }) quoteRejectReason: Opt<string> = '';
  /** The quote id this order was accepted from (the record keeps its history, its id changes to ORDER…). */
  @Property({ type: 'text', nullable: true }) quoteNumber?: string | null;
  /** Values of staff-defined custom order fields, by system name. */
  @Property({ type: 'json', defaultRaw: "'{}'::jsonb" }) customFields: Opt<Record<string, string>> = {};
  /** The newest carrier tracking link (shipments and the API set it). */
  @Property({ type: 'text', nullable: true }) trackingUrl?: string | null;
  /** System-controlled, separate from the flow state: not_shipped / partly_shipped / shipped. */
  @Enum({ items: ['not_shipped', 'partly_shipped', 'shipped'], type: 'text' }) shipmentStatus: Opt<'not_shipped' | 'partly_shipped' | 'shipped'> = 'not_shipped';
  @Property({ type: 'boolean' }) shippingFeeCaptured: Opt<boolean> = false;

  // Order list: integration and export flags (migration Migration20261124160000_order_list).
  /** Transferred into the shop from an outside system (integration framework), not placed in the storefront. */
  @Property({ type: 'boolean' }) imported: Opt<boolean> = false;
  /** The order's id in the system it was imported from. */
  @Property({ type: 'text', nullable: true }) integrationOrderId?: string | null;
  /** Where an imported order came from (e.g. a marketplace or ERP name). */
  @Property({ type: 'text', nullable: true }) channel?: string | null;
  /** Included in an XML order export. */
  @Property({ type: 'boolean' }) exported: Opt<boolean> = false;
  /** Set when a recurring series created the order. */
  @ManyToOne({ entity: 'RecurringSeries', mapToPk: true, nullable: true, deleteRule: 'set null', fieldName: 'recurring_series_id' }) recurringSeriesId?: number | null;
  /** The API's tracking number (written and read in SQL by api.service; never loaded unless asked for). */
  @Property({ type: 'text', nullable: true, lazy: true }) apiTrackingNumber?: string | null;

  @Enum({ items: ['not_supported', 'not_captured', 'split_captured', 'captured'], type: 'text', nullable: true }) captureState?: CaptureState | null;
  @Enum({ items: ['none', 'authorized', 'partly_captured', 'captured', 'declined', 'cancelled', 'refunded', 'partly_refunded'], type: 'text' }) paymentStatus: Opt<PaymentStatus> = 'none';
  /** What the payment provider authorized when the order was placed (0 when nothing was): captures never exceed it. */
  @Property({ type: new BigIntType('number') }) authorizedMinor: Opt<number> = 0;
  @Property({ type: new BigIntType('number') }) capturedMinor: Opt<number> = 0;
  @Property({ type: new BigIntType('number') }) refundedMinor: Opt<number> = 0;
  /** Returns credited against what the customer owes when nothing had been captured (ReturnService.refund); never captured. */
  @Property({ type: new BigIntType('number') }) creditedMinor: Opt<number> = 0;
  @Property({ type: 'text' }) transactionNumber: Opt<string> = '';
  @Property({ type: 'text' }) cardType: Opt<string> = '';
  /** Never more than the last four digits of a card are stored. */
  @Property({ type: 'text' }) cardLast4: Opt<string> = '';
  @Property({ type: 'boolean' }) stockReserved: Opt<boolean> = false;
  @Property({ type: 'text' }) ip: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) priceCalculationDate?: Date | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', onUpdate: () => new Date(), defaultRaw: 'now()' }) updatedAt: Opt<Date> = new Date();
  /**
   * An order's (type 'order') total, total excl. VAT and last change, null for carts and quotes, kept by PostgreSQL: the
   * list, statistics and API indexes hold these, so a basket's add changes no indexed column (a HOT update; migration
   * 20261207130000). Read only, by SQL. Written as PostgreSQL shows them (else null …), so the schema check compares equal.
   */
  @Property({ type: new BigIntType('number'), nullable: true, lazy: true, generated: "(case when type = 'order' then total_minor else null end) stored" }) orderTotalMinor?: Opt<number> | null;
  @Property({ type: new BigIntType('number'), nullable: true, lazy: true, generated: "(case when type = 'order' then total_excl_vat_minor else null end) stored" }) orderTotalExclVatMinor?: Opt<number> | null;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true, lazy: true, generated: "(case when type = 'order' then updated_at else null::timestamp with time zone end) stored" }) orderUpdatedAt?: Opt<Date> | null;

  @OneToMany({ entity: () => OrderLine, mappedBy: 'order', orderBy: { id: 'asc' } }) lines = new Collection<OrderLine>(this);

  /** The address goods go to: the billing address unless a separate delivery address was given. */
  shipTo(): Address {
    return this.deliverySameAsBilling ? this.billing : this.delivery;
  }
}

@Check({ name: 'order_lines_custom_fields_check', expression: "jsonb_typeof(custom_fields) = 'object'::text" })
@Check({ name: 'order_lines_discount_minor_check', expression: "discount_minor >= 0" })
@Check({ name: 'order_lines_quantity_check', expression: "(quantity > 0) AND (quantity <= 100000)" })
@Check({ name: 'order_lines_shipped_within_ordered', expression: "(shipped_quantity >= 0) AND (shipped_quantity <= quantity)" })
@Check({ name: 'order_lines_unit_price_minor_check', expression: "unit_price_minor >= 0" })
@Check({ name: 'order_lines_vat_rate_bp_check', expression: "(vat_rate_bp >= 0) AND (vat_rate_bp <= 10000)" })
@Unique({ name: 'order_lines_one_line_per_product', properties: ['order', 'product'] })
@Index({ name: 'order_lines_search_trgm_idx', expression: "create index order_lines_search_trgm_idx on order_lines using gin ((product_number || ' ' || product_name) gin_trgm_ops)" })
@Entity({ tableName: 'order_lines' })
export class OrderLine {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => Order, fieldName: 'order_id', deleteRule: 'cascade' }) order!: Order;
  @ManyToOne({ entity: () => Product, nullable: true, fieldName: 'product_id' }) product?: Product | null;
  @Property({ type: 'text' }) productNumber!: string;
  @Property({ type: 'text' }) productName!: string;
  @Property({ type: 'text' }) unit!: string;
  @Property({ type: 'integer' }) quantity!: number;
  /** Unit price excluding VAT, copied from the catalog when the line was priced. */
  @Property({ type: new BigIntType('number') }) unitPriceMinor!: number;
  @Property({ type: 'integer' }) vatRateBp!: number;
  @Property({ type: new BigIntType('number') }) discountMinor: Opt<number> = 0;
  @ManyToOne({ entity: () => StockLocation, nullable: true, fieldName: 'stock_location_id' }) stockLocation?: StockLocation | null;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'added_by_user_id' }) addedBy?: User | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  /** Kept by shipment.service in SQL (the database refuses over-shipping); never loaded unless asked for. */
  @Property({ type: 'integer', default: 0, lazy: true }) shippedQuantity?: number;
  /** Line fields, written in SQL by order editing; never loaded unless asked for. */
  @Property({ type: 'json', defaultRaw: "'{}'::jsonb", lazy: true }) customFields?: Record<string, string>;
}

export type HistoryActor = 'staff' | 'buyer' | 'customer' | 'system';
export type HistorySource = 'backend' | 'bulk' | 'frontend' | 'system' | 'api' | 'checkout';

/** The order's debugging log: state changes and checkout events, newest last. */
@Index({ name: 'order_state_history_order_idx', properties: ['order', 'id'] })
@Entity({ tableName: 'order_state_history' })
export class OrderHistoryEntry {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => Order, deleteRule: 'cascade', fieldName: 'order_id' }) order!: Order;
  @ManyToOne({ entity: () => FlowState, nullable: true, fieldName: 'from_state_id' }) fromState?: FlowState | null;
  @ManyToOne({ entity: () => FlowState, nullable: true, fieldName: 'to_state_id' }) toState?: FlowState | null;
  @Property({ type: 'text' }) event!: string;
  @Property({ type: 'text' }) message: Opt<string> = '';
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'actor_user_id' }) actor?: User | null;
  @Enum({ items: ['staff', 'buyer', 'customer', 'system'], type: 'text' }) actorKind!: HistoryActor;
  @Enum({ items: ['backend', 'bulk', 'frontend', 'system', 'api', 'checkout'], type: 'text' }) source!: HistorySource;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  /** The writing transaction (default pg_current_xact_id()): the state-change triggers check a history row of the same one. */
  @Property({ type: 'string', columnType: 'xid8', defaultRaw: 'pg_current_xact_id()', lazy: true }) tx?: string;
}

/** A snapshot of a quote after each staff edit, so any version can be shown again. */
@Unique({ name: 'quote_versions_order_id_version_no_key', properties: ['order', 'versionNo'] })
@Check({ name: 'quote_versions_version_no_check', expression: "version_no > 0" })
@Entity({ tableName: 'quote_versions' })
export class QuoteVersion {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => Order, deleteRule: 'cascade', fieldName: 'order_id' }) order!: Order;
  @Property({ type: 'integer' }) versionNo!: number;
  @Property({ type: 'json' }) snapshot!: Record<string, unknown>;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'created_by_user_id' }) createdBy?: User | null;
  @Property({ type: 'text' }) note: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
}
