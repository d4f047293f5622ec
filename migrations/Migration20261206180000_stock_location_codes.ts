import { Migration } from '@mikro-orm/migrations';

/**
 * A stock location the seed made carries the seed's stable code, so the seed recognises it after staff rename it: it
 * looked locations up by name, so a renamed "Main warehouse" got a second one next to it at the next start, and every
 * product its opening stock there once more. Locations staff create have none. Existing seeded locations get their
 * code once, here, by the name they were created with.
 */
export class Migration20261206180000_stock_location_codes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table stock_locations add column code text constraint stock_locations_code_unique unique;
update stock_locations set code = seeded.code
  from (values ('Main warehouse', 'main'), ('Store Copenhagen', 'store-copenhagen')) as seeded(name, code)
 where stock_locations.name = seeded.name;
`);
  }

  override async down(): Promise<void> {
    this.addSql('alter table stock_locations drop column code;');
  }
}
