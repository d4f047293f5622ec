import { BigIntType, Check, Entity, Index, ManyToOne, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';

@Check({ name: 'shops_currency_rate_check', expression: "currency_rate > (0)::numeric" })
@Check({ name: 'shops_default_vat_rate_bp_check', expression: "(default_vat_rate_bp >= 0) AND (default_vat_rate_bp <= 10000)" })
@Check({ name: 'shops_order_number_padding_check', expression: "(order_number_padding >= 0) AND (order_number_padding <= 20)" })
@Entity({ tableName: 'shops' })
export class Shop {
  @PrimaryKey({ type: 'text' }) id!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'string', columnType: 'char(3)' }) currencyCode!: string;
  @Property({ type: 'text' }) currencyName!: string;
  @Property({ type: 'string', columnType: 'numeric(12,6)', default: 1 }) currencyRate!: string;
  @Property({ type: 'text', default: 'ORDER' }) orderPrefix!: string;
  /**
   * The shop's order number sequence (its next number lives there, not on this row: nextval never waits for another
   * checkout). A database trigger makes one for every new shop; read and set it with order-numbers.ts.
   */
  @Property({ type: 'string', columnType: 'regclass', unique: 'shops_order_numbers_key', hidden: true }) orderNumbers!: Opt<string>;
  @Property({ type: 'integer', default: 0 }) orderNumberPadding!: number;
  @Property({ type: 'text', default: 'CART' }) cartPrefix!: string;
  @Property({ type: 'text', default: 'QUOTE' }) quotePrefix!: string;
  @Property({ type: 'boolean', default: false }) allowOutOfStockOrders!: boolean;
  @Property({ type: 'integer', default: 2500 }) defaultVatRateBp!: number;
  /** Staff may price storefront carts as of another date with `?OrderTime=MM/dd/yyyy`. */
  @Property({ type: 'boolean' }) allowContextDates: Opt<boolean> = false;
  /** "Taxes in backend": VAT as one line (the sum) on order details, print and mails, instead of one per rate. */
  @Property({ type: 'boolean' }) vatOnOneLine: Opt<boolean> = false;
}

@Unique({ name: 'product_groups_slug_key', properties: ['slug'] })
@Entity({ tableName: 'product_groups' })
export class ProductGroup {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) slug!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'integer' }) sortOrder: Opt<number> = 0;
}

@Unique({ name: 'products_number_key', properties: ['number'] })
@Check({ name: 'products_price_minor_check', expression: "price_minor >= 0" })
@Check({ name: 'products_vat_rate_bp_check', expression: "(vat_rate_bp >= 0) AND (vat_rate_bp <= 10000)" })
@Index({ name: 'products_group_idx', properties: ['group', 'name'] })
@Index({ name: 'products_lower_name_idx', expression: 'create index products_lower_name_idx on products (lower(name) text_pattern_ops)' })
@Index({ name: 'products_lower_number_idx', expression: 'create index products_lower_number_idx on products (lower(number) text_pattern_ops)' })
@Entity({ tableName: 'products' })
export class Product {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) number!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) description: Opt<string> = '';
  @ManyToOne({ entity: () => ProductGroup, fieldName: 'group_id' }) group!: ProductGroup;
  /** Unit price excluding VAT, in minor units. */
  @Property({ type: new BigIntType('number') }) priceMinor!: number;
  @Property({ type: 'integer' }) vatRateBp!: number;
  @Property({ type: 'text' }) unit: Opt<string> = 'pcs';
  @Property({ type: 'boolean' }) active: Opt<boolean> = true;
}

@Unique({ name: 'stock_locations_name_key', properties: ['name'] })
@Unique({ name: 'stock_locations_code_unique', properties: ['code'] })
@Entity({ tableName: 'stock_locations' })
export class StockLocation {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) name!: string;
  /** The demo seed's stable code for a location it made (null for staff's own): the seed finds it by this, never by name. */
  @Property({ type: 'text', nullable: true }) code?: string | null;
}

@Check({ name: 'stock_levels_quantity_check', expression: "quantity >= 0" })
@Entity({ tableName: 'stock_levels' })
export class StockLevel {
  @ManyToOne({ entity: () => Product, primary: true, deleteRule: 'cascade', fieldName: 'product_id' }) product!: Product;
  @ManyToOne({ entity: () => StockLocation, primary: true, fieldName: 'location_id' }) location!: StockLocation;
  @Property({ type: 'integer' }) quantity!: number;
}
