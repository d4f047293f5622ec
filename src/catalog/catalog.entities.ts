import { BigIntType, Entity, ManyToOne, type Opt, PrimaryKey, Property } from '@mikro-orm/core';

@Entity({ tableName: 'shops' })
export class Shop {
  @PrimaryKey({ type: 'text' }) id!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'string', columnType: 'char(3)' }) currencyCode!: string;
  @Property({ type: 'text' }) currencyName!: string;
  @Property({ type: 'string', columnType: 'numeric(12,6)', default: 1 }) currencyRate!: string;
  @Property({ type: 'text', default: 'ORDER' }) orderPrefix!: string;
  @Property({ type: 'integer', default: 1001 }) orderNextNumber!: number;
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

@Entity({ tableName: 'product_groups' })
export class ProductGroup {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) slug!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'integer' }) sortOrder: Opt<number> = 0;
}

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

@Entity({ tableName: 'stock_locations' })
export class StockLocation {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) name!: string;
}

@Entity({ tableName: 'stock_levels' })
export class StockLevel {
  @ManyToOne({ entity: () => Product, primary: true, fieldName: 'product_id' }) product!: Product;
  @ManyToOne({ entity: () => StockLocation, primary: true, fieldName: 'location_id' }) location!: StockLocation;
  @Property({ type: 'integer' }) quantity!: number;
}
