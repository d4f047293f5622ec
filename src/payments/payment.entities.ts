import { BigIntType, Entity, type Opt, PrimaryKey, Property } from '@mikro-orm/core';

export type PaymentProviderCode = 'invoice' | 'sandbox_card' | 'sandbox_hosted';
export type PaymentOperation = 'authorize' | 'capture' | 'cancel' | 'refund';

@Entity({ tableName: 'payment_methods' })
export class PaymentMethod {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) code!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) description: Opt<string> = '';
  @Property({ type: 'text' }) provider!: PaymentProviderCode;
  @Property({ type: new BigIntType('number') }) feeMinor: Opt<number> = 0;
  @Property({ type: 'integer' }) sortOrder: Opt<number> = 0;
  @Property({ type: 'boolean' }) active: Opt<boolean> = true;
}

/** Every call to a payment provider, successful or not, with its amount and answer. */
@Entity({ tableName: 'payment_transactions' })
export class PaymentTransaction {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @Property({ type: new BigIntType('number'), fieldName: 'order_id' }) orderId!: number;
  @Property({ type: 'text' }) operation!: PaymentOperation;
  @Property({ type: new BigIntType('number') }) amountMinor!: number;
  @Property({ type: 'boolean' }) success!: boolean;
  @Property({ type: 'text' }) message: Opt<string> = '';
  @Property({ type: 'text' }) providerReference: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
}
