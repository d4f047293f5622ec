import { Migration } from '@mikro-orm/migrations';

/**
 * The payment status says what is true after a capture: `partly_captured` after a split capture, `captured` once the
 * whole total is captured (it used to stay `authorized`). Existing orders are brought in line with their capture state.
 */
export class Migration20261206050000_payment_status_captured extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table orders drop constraint if exists orders_payment_status_check;
alter table orders add constraint orders_payment_status_check
  check (payment_status in ('none', 'authorized', 'partly_captured', 'captured', 'declined', 'cancelled', 'refunded', 'partly_refunded'));
update orders set payment_status = case capture_state when 'captured' then 'captured' else 'partly_captured' end
 where payment_status = 'authorized' and capture_state in ('captured', 'split_captured');
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
update orders set payment_status = 'authorized' where payment_status in ('captured', 'partly_captured');
alter table orders drop constraint if exists orders_payment_status_check;
alter table orders add constraint orders_payment_status_check
  check (payment_status in ('none', 'authorized', 'declined', 'cancelled', 'refunded', 'partly_refunded'));
`);
  }
}
