import { BigIntType, Check, Entity, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';

@Unique({ name: 'shipping_methods_code_key', properties: ['code'] })
@Check({ name: 'shipping_methods_fee_minor_check', expression: "fee_minor >= 0" })
@Check({ name: 'shipping_methods_free_above_minor_check', expression: "free_above_minor >= 0" })
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
