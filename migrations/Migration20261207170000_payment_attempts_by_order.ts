import { Migration } from '@mikro-orm/migrations';

/**
 * A payment attempt found by its order: the review step shows the comment typed with the last attempt that did not
 * go through (a hosted payment declined, cancelled or abandoned leaves it there, not on the order), and deleting an
 * order cascades to its attempts — both scanned the whole table without this index (only partial ones by status).
 */
export class Migration20261207170000_payment_attempts_by_order extends Migration {
  override async up(): Promise<void> {
    this.addSql('create index payment_attempts_order_idx on payment_attempts (order_id, id);');
  }

  override async down(): Promise<void> {
    this.addSql('drop index payment_attempts_order_idx;');
  }
}
