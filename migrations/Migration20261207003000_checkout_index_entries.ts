import { Migration } from '@mikro-orm/migrations';

/**
 * Four indexes of `orders` leave the rows no query of theirs can ask for, so a guest's order in checkout (no user, no
 * company) meets 7 indexes instead of 11 and a logged-in buyer's without a company 9:
 * - orders_user_idx and orders_one_basket_per_user: `user_id is not null`. Every reader asks `user_id = ?` (the
 *   buyer's basket, the customer center, the customer search, the users FK); guests are found by their anonymous
 *   token (orders_anonymous_token_key). NULLs never conflicted in the unique index, so it guards the same fact.
 * - orders_list_company_idx: `company_id is not null` (readers: `company_id = ?` in the staff list's company filter,
 *   the customer search and a B2B buyer's order history).
 * - orders_type_created_idx: `type <> 'order'`. Its readers are the cart and quote lists, the dashboard's cart count
 *   and quote expiry (literal type, so the predicate is provable); orders have the list indexes of their own.
 * Plans of those readers at 1,000,000 orders: unchanged (README Performance).
 */
const INDEXES = (user: string, company: string, type: string) => `
create index orders_user_idx_new on orders (user_id, created_at desc)${user};
create unique index orders_one_basket_per_user_new on orders (user_id) where basket_status = 'basket' and not deleted${user.replace(' where', ' and')};
create index orders_list_company_idx_new on orders (company_id, created_at) where type = 'order' and not deleted${company};
create index orders_type_created_idx_new on orders (type, created_at desc)${type};
drop index orders_user_idx, orders_one_basket_per_user, orders_list_company_idx, orders_type_created_idx;
alter index orders_user_idx_new rename to orders_user_idx;
alter index orders_one_basket_per_user_new rename to orders_one_basket_per_user;
alter index orders_list_company_idx_new rename to orders_list_company_idx;
alter index orders_type_created_idx_new rename to orders_type_created_idx;
`;

export class Migration20261207003000_checkout_index_entries extends Migration {
  override async up(): Promise<void> {
    this.addSql(INDEXES(' where user_id is not null', ' and company_id is not null', " where type <> 'order'"));
  }

  override async down(): Promise<void> {
    this.addSql(INDEXES('', '', ''));
  }
}
