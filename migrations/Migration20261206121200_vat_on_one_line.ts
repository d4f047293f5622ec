import { Migration } from '@mikro-orm/migrations';

/** "Taxes in backend": the shop may show VAT as one line (the sum) instead of one line per rate. */
export class Migration20261206121200_vat_on_one_line extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table shops add column vat_on_one_line boolean not null default false;');
  }

  override async down(): Promise<void> {
    this.addSql('alter table shops drop column if exists vat_on_one_line;');
  }
}
