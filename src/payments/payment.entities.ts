import { BigIntType, Check, Entity, Enum, Index, ManyToOne, type Opt, PrimaryKey, Property, Unique } from '@mikro-orm/core';

export type PaymentProviderCode = 'invoice' | 'sandbox_card' | 'sandbox_hosted';
export type PaymentOperation = 'authorize' | 'capture' | 'cancel' | 'refund';

@Unique({ name: 'payment_methods_code_key', properties: ['code'] })
@Check({ name: 'payment_methods_fee_minor_check', expression: "fee_minor >= 0" })
@Entity({ tableName: 'payment_methods' })
export class PaymentMethod {
  @PrimaryKey({ type: 'integer' }) id!: number;
  @Property({ type: 'text' }) code!: string;
  @Property({ type: 'text' }) name!: string;
  @Property({ type: 'text' }) description: Opt<string> = '';
  @Enum({ items: ['invoice', 'sandbox_card', 'sandbox_hosted'], type: 'text' }) provider!: PaymentProviderCode;
  @Property({ type: new BigIntType('number') }) feeMinor: Opt<number> = 0;
  @Property({ type: 'integer' }) sortOrder: Opt<number> = 0;
  @Property({ type: 'boolean' }) active: Opt<boolean> = true;
}

/** Every call to a payment provider, successful or not, with its amount and answer. */
@Check({ name: 'payment_transactions_amount_minor_check', expression: "amount_minor >= 0" })
@Index({ name: 'payment_transactions_order_idx', properties: ['orderId', 'id'] })
@Entity({ tableName: 'payment_transactions' })
export class PaymentTransaction {
  @PrimaryKey({ type: new BigIntType('number') }) id!: number;
  @ManyToOne({ entity: 'Order', mapToPk: true, deleteRule: 'cascade', fieldName: 'order_id' }) orderId!: number;
  @Enum({ items: ['authorize', 'capture', 'cancel', 'refund'], type: 'text' }) operation!: PaymentOperation;
  @Property({ type: new BigIntType('number') }) amountMinor!: number;
  @Property({ type: 'boolean' }) success!: boolean;
  @Property({ type: 'text' }) message: Opt<string> = '';
  @Property({ type: 'text' }) providerReference: Opt<string> = '';
  @Property({ type: 'Date', columnType: 'timestamptz', defaultRaw: 'now()' }) createdAt: Opt<Date> = new Date();
}
