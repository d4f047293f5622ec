import { Migration } from '@mikro-orm/migrations';

/** Shipments, shipment lines and track & trace configurations. */
export class Migration20261124150000_shipments extends Migration {
  override async up(): Promise<void> {
    this.addSql('select 1');
  }

  override async down(): Promise<void> {
    this.addSql('select 1');
  }
}
