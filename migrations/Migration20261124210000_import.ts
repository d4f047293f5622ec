import { Migration } from '@mikro-orm/migrations';

/** Order import: import runs and their row reports. */
export class Migration20261124210000_import extends Migration {
  override async up(): Promise<void> {
    this.addSql('select 1');
  }

  override async down(): Promise<void> {
    this.addSql('select 1');
  }
}
