import { Migration } from '@mikro-orm/migrations';

/**
 * A basket's add rewrites its order row's totals and updated_at. Four indexes held those columns (the staff list by
 * total, the statistics' index-only sums, the open-orders list, the API's change feed), so no basket update was a HOT
 * update: each wrote a new entry into every index of `orders` and left them to vacuum (bench: 0 % HOT). Those indexes
 * now hold generated copies that are null for carts and quotes — `order_total_minor`, `order_total_excl_vat_minor`,
 * `order_updated_at`, equal to the originals on every order (type 'order', the only rows the four indexes hold) — so
 * a cart's add changes no indexed column and PostgreSQL updates it in place (pgbench of the add's two statements,
 * three interleaved pairs: +8 %, +8 %, +17 % tps; ~95 % of the updates HOT).
 *
 * Adding stored generated columns rewrites `orders` and its indexes under an exclusive lock: 11.6 s for 212,000
 * orders (an 845 MB `bench:data` database), so plan about a minute per million orders of downtime for this deploy.
 */
export class Migration20261207130000_basket_updates_hot extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table orders
  add column order_total_minor bigint generated always as (case when type = 'order' then total_minor end) stored,
  add column order_total_excl_vat_minor bigint generated always as (case when type = 'order' then total_excl_vat_minor end) stored,
  add column order_updated_at timestamptz generated always as (case when type = 'order' then updated_at end) stored;
${indexes('order_total_minor', 'order_total_excl_vat_minor', 'order_updated_at')}`);
  }

  override async down(): Promise<void> {
    this.addSql(`${indexes('total_minor', 'total_excl_vat_minor', 'updated_at')}
alter table orders drop column order_total_minor, drop column order_total_excl_vat_minor, drop column order_updated_at;`);
  }
}

function indexes(total: string, totalExclVat: string, updatedAt: string): string {
  return `
create index orders_list_total_idx_new on orders (${total}, id) where type = 'order' and not deleted and completed;
create index orders_statistics_idx_new on orders (shop_id, completed_at) include (state_id, ${total}, ${totalExclVat}) where type = 'order' and completed and not deleted;
create index orders_list_open_idx_new on orders (created_at, id) include (number, ${total}, billing_name, state_id, shop_id, company_id, capture_state, imported) where type = 'order' and not deleted and not completed;
create index orders_api_changed_idx_new on orders (${updatedAt}, id) where type = 'order' and completed and not deleted;
drop index orders_list_total_idx, orders_statistics_idx, orders_list_open_idx, orders_api_changed_idx;
alter index orders_list_total_idx_new rename to orders_list_total_idx;
alter index orders_statistics_idx_new rename to orders_statistics_idx;
alter index orders_list_open_idx_new rename to orders_list_open_idx;
alter index orders_api_changed_idx_new rename to orders_api_changed_idx;`;
}
