import { BigIntType, Entity, type Opt, PrimaryKey, Property } from '@mikro-orm/core';

export type VoucherKind = 'percent' | 'amount';

@Entity({ tableName: 'vouchers' })
export class Voucher {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) code!: string;
  /** percent: value is 1–100; amount: value is minor units off the total incl. VAT. */
  @Property({ type: 'text' }) kind!: VoucherKind;
  @Property({ type: new BigIntType('number') }) value!: number;
  @Property({ type: 'boolean' }) active: Opt<boolean> = true;
}
