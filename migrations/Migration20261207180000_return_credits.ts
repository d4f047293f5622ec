import { Migration } from '@mikro-orm/migrations';

/**
 * A return on an order nothing was captured on (an invoice, an authorization not yet captured) cannot be refunded
 * through the provider: its refund step credits the returned goods' value against what the customer owes instead.
 * The order keeps the credits (`credited_minor`; never captured, and never more than is left uncaptured), the return
 * what it credited (`credited_minor`, within the goods' value plus the fee staff entered, as a refund is).
 */
export class Migration20261207180000_return_credits extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table orders add column credited_minor bigint not null default 0;
alter table orders add constraint orders_credited_minor_check check (credited_minor >= 0);
alter table orders add constraint orders_credit_within_uncaptured check (captured_minor + credited_minor <= total_minor);
alter table returns add column credited_minor bigint not null default 0;
alter table returns add constraint returns_credited_minor_check check (credited_minor >= 0);
alter table returns drop constraint returns_refund_within_value;
alter table returns add constraint returns_refund_within_value check (refunded_minor + credited_minor <= goods_value_minor + refund_fee_minor);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
alter table returns drop constraint returns_refund_within_value;
alter table returns add constraint returns_refund_within_value check (refunded_minor <= goods_value_minor + refund_fee_minor);
alter table returns drop column credited_minor;
alter table orders drop column credited_minor;
`);
  }
}
