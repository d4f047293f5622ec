import { Migration } from '@mikro-orm/migrations';

/**
 * A return ends in money back or in goods again, never both: one refund or one replacement per return. Each was
 * claimed once already (record_effects_once), but a return reopened after its refund could still be replaced, and
 * one reopened after its replacement refunded — the customer kept the goods and the money.
 */
export class Migration20261207171000_return_one_outcome extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create unique index record_effects_one_return_outcome on record_effects (return_id) where effect in ('return_refund', 'replacement');`);
  }

  override async down(): Promise<void> {
    this.addSql('drop index record_effects_one_return_outcome;');
  }
}
