import { Migration } from '@mikro-orm/migrations';

/**
 * "Refund first, then edit": an order's total may go below what was captured once the difference is refunded. Only
 * the money still kept (captured − refunded) and what returns credited must fit in the total; the captures
 * themselves may be higher. One check for both (it replaces orders_check3 and orders_credit_within_uncaptured).
 */
export class Migration20261208080000_kept_within_total extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table orders drop constraint orders_check3;
alter table orders drop constraint orders_credit_within_uncaptured;
alter table orders add constraint orders_kept_within_total check (captured_minor - refunded_minor + credited_minor <= total_minor);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
alter table orders drop constraint orders_kept_within_total;
alter table orders add constraint orders_check3 check (captured_minor <= total_minor);
alter table orders add constraint orders_credit_within_uncaptured check (captured_minor + credited_minor <= total_minor);
`);
  }
}
