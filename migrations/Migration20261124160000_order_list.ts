import { Migration } from '@mikro-orm/migrations';

/**
 * Order list at scale: search and filter indexes, staff list preferences, export and integration flags.
 *
 * Every list index is partial on `type = 'order' and not deleted` (the order list's fixed condition): carts, which
 * change on every add-to-cart, are never inserted into them, so the storefront pays nothing for the order desk.
 * Keyset paging walks (sort value, id) indexes in either direction; nothing is ever skipped with OFFSET.
 *
 * The two trigram expressions must stay byte-for-byte the same as ORDER_SEARCH_TEXT / LINE_SEARCH_TEXT in
 * src/orders/order-admin.service.ts, or the planner cannot use them (test/orders/order-list.test.ts checks the plan).
 */
export class Migration20261124160000_order_list extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create extension if not exists pg_trgm;

alter table orders
  add column imported boolean not null default false,
  add column integration_order_id text,
  add column channel text,
  add column exported boolean not null default false;

-- Keyset paging per sortable column: (value, id), walked forwards for first/next and backwards for prev/last.
create index orders_list_created_idx on orders (created_at, id) where type = 'order' and not deleted;
create index orders_list_number_idx on orders (number, id) where type = 'order' and not deleted;
create index orders_list_total_idx on orders (total_minor, id) where type = 'order' and not deleted;
create index orders_list_customer_idx on orders (billing_name, id) where type = 'order' and not deleted;
-- State (several) + date range: one range scan per chosen state.
create index orders_list_state_created_idx on orders (state_id, created_at, id) where type = 'order' and not deleted;
-- Imported from an integration: few orders, so "imported = yes" reads only those.
create index orders_list_imported_idx on orders (created_at, id) where type = 'order' and not deleted and imported;

-- Exact search: order id (number has its unique index), integration order id, customer e-mail, billing name, customer number.
create index orders_integration_order_id_idx on orders (integration_order_id) where integration_order_id is not null;
create index orders_list_email_idx on orders (lower(billing_email)) where type = 'order' and not deleted;
create index orders_list_name_idx on orders (lower(billing_name)) where type = 'order' and not deleted;
create index orders_list_company_idx on orders (company_id, created_at) where type = 'order' and not deleted;

-- "All fields": substring search over customer, addresses, e-mails and comments, and over product names and numbers.
create index orders_list_search_trgm_idx on orders using gin ((
  number || ' ' || billing_name || ' ' || billing_company || ' ' || billing_address || ' ' || billing_address2 || ' ' ||
  billing_zip || ' ' || billing_city || ' ' || billing_phone || ' ' || billing_email || ' ' || delivery_name || ' ' ||
  delivery_company || ' ' || delivery_address || ' ' || delivery_address2 || ' ' || delivery_zip || ' ' || delivery_city || ' ' ||
  delivery_phone || ' ' || delivery_email || ' ' || customer_comment || ' ' || staff_comment || ' ' || coalesce(integration_order_id, '')
) gin_trgm_ops) where type = 'order' and not deleted;
create index order_lines_search_trgm_idx on order_lines using gin ((product_number || ' ' || product_name) gin_trgm_ops);

-- The planner ignores statistics of partial expression indexes, so the searched expressions get statistics of their own:
-- without them an exact e-mail search is estimated at 1 % of all orders and walks the whole date index instead.
create statistics orders_list_email_stats on (lower(billing_email)) from orders;
create statistics orders_list_name_stats on (lower(billing_name)) from orders;
create statistics orders_list_search_stats on ((
  number || ' ' || billing_name || ' ' || billing_company || ' ' || billing_address || ' ' || billing_address2 || ' ' ||
  billing_zip || ' ' || billing_city || ' ' || billing_phone || ' ' || billing_email || ' ' || delivery_name || ' ' ||
  delivery_company || ' ' || delivery_address || ' ' || delivery_address2 || ' ' || delivery_zip || ' ' || delivery_city || ' ' ||
  delivery_phone || ' ' || delivery_email || ' ' || customer_comment || ' ' || staff_comment || ' ' || coalesce(integration_order_id, '')
)) from orders;
create statistics order_lines_search_stats on ((product_number || ' ' || product_name)) from order_lines;

-- What each staff user last filtered on, and which columns they show, per list (orders, carts).
create table order_list_preferences (
  user_id integer not null references users(id) on delete cascade,
  list text not null check (list in ('order', 'cart')),
  filter jsonb,
  columns jsonb check (columns is null or jsonb_typeof(columns) = 'array'),
  updated_at timestamptz not null default now(),
  primary key (user_id, list)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop table if exists order_list_preferences;
drop statistics if exists order_lines_search_stats, orders_list_search_stats, orders_list_name_stats, orders_list_email_stats;
drop index if exists order_lines_search_trgm_idx;
drop index if exists orders_list_search_trgm_idx;
drop index if exists orders_list_company_idx;
drop index if exists orders_list_name_idx;
drop index if exists orders_list_email_idx;
drop index if exists orders_integration_order_id_idx;
drop index if exists orders_list_imported_idx;
drop index if exists orders_list_state_created_idx;
drop index if exists orders_list_customer_idx;
drop index if exists orders_list_total_idx;
drop index if exists orders_list_number_idx;
drop index if exists orders_list_created_idx;
alter table orders drop column exported, drop column channel, drop column integration_order_id, drop column imported;
`);
  }
}
