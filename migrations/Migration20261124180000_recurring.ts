import { Migration } from '@mikro-orm/migrations';

/** Recurring order series and their runs. */
export class Migration20261124180000_recurring extends Migration {
  override async up(): Promise<void> {
    this.addSql('select 1');
  }

  override async down(): Promise<void> {
    this.addSql('select 1');
  }
}
