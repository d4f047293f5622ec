import { Migration } from '@mikro-orm/migrations';

/**
 * Context date: staff may price a storefront cart as of another date (`?OrderTime=MM/dd/yyyy`) when the shop allows
 * it. `product_prices` holds dated prices; a product's own `price_minor` stays its price when no dated price applies.
 */
export class Migration20261124230000_context_date extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table shops add column allow_context_dates boolean not null default false;
create table product_prices (
  product_id integer not null references products(id) on delete cascade,
  valid_from date not null,
  price_minor bigint not null,
  constraint product_prices_pkey primary key (product_id, valid_from),
  constraint product_prices_price_check check (price_minor >= 0)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists product_prices;');
    this.addSql('alter table shops drop column if exists allow_context_dates;');
  }
}
