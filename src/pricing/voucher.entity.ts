import { BigIntType, Check, Entity, Enum, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';

export type VoucherKind = 'percent' | 'amount';

@Check({ name: 'vouchers_check', expression: "(kind <> 'percent'::text) OR (value <= 100)" })
@Check({ name: 'vouchers_value_check', expression: "value > 0" })
@Unique({ name: 'vouchers_code_unique', expression: 'create unique index vouchers_code_unique on vouchers (upper(code))' })
@Entity({ tableName: 'vouchers' })
export class Voucher {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) code!: string;
  /** percent: value is 1–100; amount: value is minor units off the total incl. VAT. */
  @Enum({ items: ['percent', 'amount'], type: 'text' }) kind!: VoucherKind;
  @Property({ type: new BigIntType('number') }) value!: number;
  @Property({ type: 'boolean' }) active: Opt<boolean> = true;
}
