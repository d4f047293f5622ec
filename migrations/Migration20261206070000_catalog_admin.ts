import { Migration } from '@mikro-orm/migrations';

/**
 * Catalog staff maintain: dated prices get an end (valid_to, inclusive; null = open-ended) and may not overlap for
 * one product (an exclusion constraint, so two staff saving at once cannot both win); every stock adjustment writes a
 * movement row with its resulting level; a product may have one image, resized at upload and kept in the database.
 */
export class Migration20261206070000_catalog_admin extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create extension if not exists btree_gist;

alter table product_prices add column valid_to date;
-- Dated prices so far ran until the next one began: close each at the day before its successor.
update product_prices p set valid_to = (
  select min(n.valid_from) - 1 from product_prices n where n.product_id = p.product_id and n.valid_from > p.valid_from);
alter table product_prices
  add constraint product_prices_period_check check (valid_to is null or valid_to >= valid_from),
  add constraint product_prices_no_overlap exclude using gist (product_id with =, daterange(valid_from, valid_to, '[]') with &&);

create table stock_movements (
  id bigserial primary key,
  product_id integer not null references products(id) on delete cascade,
  location_id integer not null references stock_locations(id),
  quantity_change integer not null check (quantity_change <> 0),
  resulting_quantity integer not null check (resulting_quantity >= 0),
  reason text not null,
  note text not null default '',
  actor_user_id integer references users(id),
  created_at timestamptz not null default now()
);
create index stock_movements_product_idx on stock_movements (product_id, id desc);

create table product_images (
  id serial primary key,
  product_id integer not null unique references products(id) on delete cascade,
  alt text not null,
  width integer not null check (width > 0),
  height integer not null check (height > 0),
  thumb_width integer not null check (thumb_width > 0),
  thumb_height integer not null check (thumb_height > 0),
  large_webp bytea not null,
  thumb_webp bytea not null,
  created_at timestamptz not null default now()
);
create index products_lower_number_idx on products (lower(number) text_pattern_ops);
`);
  }

  override async down(): Promise<void> {
    this.addSql('drop index if exists products_lower_number_idx;');
    this.addSql('drop table if exists product_images;');
    this.addSql('drop table if exists stock_movements;');
    this.addSql('alter table product_prices drop constraint if exists product_prices_no_overlap, drop constraint if exists product_prices_period_check, drop column if exists valid_to;');
  }
}
