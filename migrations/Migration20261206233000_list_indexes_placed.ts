import { Migration } from '@mikro-orm/migrations';

/**
 * The staff list's sort, state and all-fields (trigram) indexes hold placed orders only (`… and completed`); orders
 * still in checkout get one small covering index of their own (orders_list_open_idx), and the list query reads the two
 * as separate arms (buildListQuery).
 *
 * Why: every step of a checkout updates the order's row and none of those updates can be HOT (each changes an indexed
 * column: the addresses, the total, the state), so each one inserted a new entry into every index whose predicate the
 * row met: 16 of them, the trigram GIN of the all-fields search among them (most of an update's cost, README
 * "The orders table's 22 indexes"). An order in checkout now meets 11 (primary key, number, anonymous token, basket,
 * user, state, type, the exact-search e-mail / name / company indexes, and the open index); it enters the other list
 * indexes once, when it is placed. The exact-search indexes stay on every order: they are small btrees, and with them
 * the customer search finds orders in checkout through an index too.
 *
 * The cost, measured at 1,000,000 orders (README, Performance): an all-fields search reads the orders still in checkout
 * (abandoned checkouts included, 1.5 % in `npm run bench:data`) row by row.
 */
const LIST_INDEXES = `
create index orders_list_created_idx on orders (created_at, id) where type = 'order' and not deleted and completed;
create index orders_list_number_idx on orders (number, id) where type = 'order' and not deleted and completed;
create index orders_list_total_idx on orders (total_minor, id) where type = 'order' and not deleted and completed;
create index orders_list_customer_idx on orders (billing_name, id) where type = 'order' and not deleted and completed;
create index orders_list_state_created_idx on orders (state_id, created_at, id) where type = 'order' and not deleted and completed;
create index orders_list_search_trgm_idx on orders using gin ((
  number || ' ' || billing_name || ' ' || billing_company || ' ' || billing_address || ' ' || billing_address2 || ' ' ||
  billing_zip || ' ' || billing_city || ' ' || billing_phone || ' ' || billing_email || ' ' || delivery_name || ' ' ||
  delivery_company || ' ' || delivery_address || ' ' || delivery_address2 || ' ' || delivery_zip || ' ' || delivery_city || ' ' ||
  delivery_phone || ' ' || delivery_email || ' ' || customer_comment || ' ' || staff_comment || ' ' || coalesce(integration_order_id, '')
) gin_trgm_ops) where type = 'order' and not deleted and completed;
`;
const NAMES = ['created', 'number', 'total', 'customer', 'state_created', 'search_trgm'].map((n) => `orders_list_${n}_idx`);

export class Migration20261206233000_list_indexes_placed extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
drop index ${NAMES.join(', ')};
${LIST_INDEXES}
create index orders_list_open_idx on orders (created_at, id)
  include (number, total_minor, billing_name, state_id, shop_id, company_id, capture_state, imported)
  where type = 'order' and not deleted and not completed;
-- How many rows are orders still in checkout, for the planner: without it, it multiplies the three conditions' separate
-- frequencies (42,943 estimated for 14,730 at 1,000,000 orders) and sorts that arm in parallel workers (~60 ms, not ~7).
create statistics orders_progress_stats (mcv) on type, deleted, completed from orders;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop statistics orders_progress_stats;
drop index orders_list_open_idx;
drop index ${NAMES.join(', ')};
${LIST_INDEXES.replace(/ and completed;/g, ';')}
`);
  }
}
