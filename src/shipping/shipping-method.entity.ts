import { BigIntType, Entity, type Opt, PrimaryKey, Property } from '@mikro-orm/core';

@Entity({ tableName: 'shipping_methods' })
export class ShippingMethod {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) code!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) description: Opt<string> = '';
  /** Fee excluding VAT, in minor units. */
  @Property({ type: new BigIntType('number') }) feeMinor!: number;
  /** The fee is waived when the goods total (incl. VAT, after discounts) reaches this amount. */
  @Property({ type: new BigIntType('number'), nullable: true }) freeAboveMinor?: number | null;
  @Property({ type: 'integer' }) sortOrder: Opt<number> = 0;
  @Property({ type: 'boolean' }) active: Opt<boolean> = true;
}
