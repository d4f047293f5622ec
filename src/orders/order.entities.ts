import { BigIntType, Collection, Embeddable, Embedded, Entity, ManyToOne, OneToMany, type Opt, PrimaryKey, Property } from '@mikro-orm/core';
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

@Entity({ tableName: 'orders' })
export class Order {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  /** The public id: CART… while a cart, ORDER… once checkout has started (seeds' OrderId). */
  @Property({ type: 'text' }) number!: string;
  @ManyToOne({ entity: () => Shop, fieldName: 'shop_id' }) shop!: Shop;
  @Property({ type: 'text' }) type!: OrderType;
  @Property({ type: 'text', nullable: true }) basketStatus?: BasketStatus | null;
  @Property({ type: 'text' }) name: Opt<string> = '';
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'user_id' }) user?: User | null;
  @ManyToOne({ entity: () => Company, nullable: true, fieldName: 'company_id' }) company?: Company | null;
  @Property({ type: 'uuid', nullable: true }) anonymousToken?: string | null;
  @ManyToOne({ entity: () => FlowState, nullable: true, fieldName: 'state_id' }) state?: FlowState | null;
  /** Who last submitted this cart for approval: that person may never approve it. */
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'submitted_by_user_id' }) submittedBy?: User | null;
  /** Reached the confirmation step (seeds: OrderComplete); not-completed orders show red. */
  @Property({ type: 'boolean' }) completed: Opt<boolean> = false;
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) completedAt?: Date | null;
  @Property({ type: 'text' }) checkoutStep: Opt<CheckoutStep> = 'cart';
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
  @Property({ type: 'text', nullable: true }) quoteAnswer?: 'accepted' | 'rejected' | null;
  @Property({ type: 'text' }) quoteRejectReason: Opt<string> = '';
  /** The quote id this order was accepted from (the record keeps its history, its id changes to ORDER…). */
  @Property({ type: 'text', nullable: true }) quoteNumber?: string | null;
  /** Values of staff-defined custom order fields, by system name. */
  @Property({ type: 'json', defaultRaw: "'{}'::jsonb" }) customFields: Opt<Record<string, string>> = {};
  /** The newest carrier tracking link (shipments and the API set it). */
  @Property({ type: 'text', nullable: true }) trackingUrl?: string | null;
  /** System-controlled, separate from the flow state: not_shipped / partly_shipped / shipped. */
  @Property({ type: 'text' }) shipmentStatus: Opt<'not_shipped' | 'partly_shipped' | 'shipped'> = 'not_shipped';
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
  @Property({ type: new BigIntType('number'), nullable: true }) recurringSeriesId?: number | null;

  @Property({ type: 'text', nullable: true }) captureState?: CaptureState | null;
  @Property({ type: 'text' }) paymentStatus: Opt<PaymentStatus> = 'none';
  @Property({ type: new BigIntType('number') }) capturedMinor: Opt<number> = 0;
  @Property({ type: new BigIntType('number') }) refundedMinor: Opt<number> = 0;
  @Property({ type: 'text' }) transactionNumber: Opt<string> = '';
  @Property({ type: 'text' }) cardType: Opt<string> = '';
  /** Never more than the last four digits of a card are stored. */
  @Property({ type: 'text' }) cardLast4: Opt<string> = '';
  @Property({ type: 'boolean' }) stockReserved: Opt<boolean> = false;
  @Property({ type: 'text' }) ip: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', nullable: true }) priceCalculationDate?: Date | null;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
  @Property({ type: 'Date', columnType: 'timestamptz', onUpdate: () => new Date(), defaultRaw: 'now()' }) updatedAt: Opt<Date> = new Date();

  @OneToMany({ entity: () => OrderLine, mappedBy: 'order', orderBy: { id: 'asc' } }) lines = new Collection<OrderLine>(this);

  /** The address goods go to: the billing address unless a separate delivery address was given. */
  shipTo(): Address {
    return this.deliverySameAsBilling ? this.billing : this.delivery;
  }
}

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
}

export type HistoryActor = 'staff' | 'buyer' | 'customer' | 'system';
export type HistorySource = 'backend' | 'bulk' | 'frontend' | 'system' | 'api' | 'checkout';

/** The order's debugging log: state changes and checkout events, newest last. */
@Entity({ tableName: 'order_state_history' })
export class OrderHistoryEntry {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => Order, fieldName: 'order_id' }) order!: Order;
  @ManyToOne({ entity: () => FlowState, nullable: true, fieldName: 'from_state_id' }) fromState?: FlowState | null;
  @ManyToOne({ entity: () => FlowState, nullable: true, fieldName: 'to_state_id' }) toState?: FlowState | null;
  @Property({ type: 'text' }) event!: string;
  @Property({ type: 'text' }) message: Opt<string> = '';
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'actor_user_id' }) actor?: User | null;
  @Property({ type: 'text' }) actorKind!: HistoryActor;
  @Property({ type: 'text' }) source!: HistorySource;
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
}

/** A snapshot of a quote after each staff edit, so any version can be shown again. */
@Entity({ tableName: 'quote_versions' })
export class QuoteVersion {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: () => Order, fieldName: 'order_id' }) order!: Order;
  @Property({ type: 'integer' }) versionNo!: number;
  @Property({ type: 'json' }) snapshot!: Record<string, unknown>;
  @ManyToOne({ entity: () => User, nullable: true, fieldName: 'created_by_user_id' }) createdBy?: User | null;
  @Property({ type: 'text' }) note: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
}
