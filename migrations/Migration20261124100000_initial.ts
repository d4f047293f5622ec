import { Migration } from '@mikro-orm/migrations';

/**
 * The storefront's schema: shop settings, catalog with stock per location, accounts and companies,
 * carts and orders as one table, configurable flows, payments, the mail outbox and sessions.
 * Money is integer minor units (bigint); VAT rates are basis points (2500 = 25 %).
 */
export class Migration20261124100000_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create table shops (
  id text primary key,
  name text not null,
  currency_code char(3) not null,
  currency_name text not null,
  currency_rate numeric(12,6) not null default 1 check (currency_rate > 0),
  order_prefix text not null default 'ORDER',
  order_next_number integer not null default 1001 check (order_next_number > 0),
  order_number_padding integer not null default 0 check (order_number_padding between 0 and 20),
  cart_prefix text not null default 'CART',
  quote_prefix text not null default 'QUOTE',
  allow_out_of_stock_orders boolean not null default false,
  default_vat_rate_bp integer not null default 2500 check (default_vat_rate_bp between 0 and 10000)
);

create table companies (
  id serial primary key,
  name text not null,
  customer_number text not null unique
);

create table users (
  id serial primary key,
  email text not null,
  password_hash text not null,
  name text not null,
  role text not null check (role in ('shopper', 'buyer', 'staff')),
  company_id integer references companies(id),
  created_at timestamptz not null default now(),
  check ((role = 'buyer') = (company_id is not null))
);
create unique index users_email_unique on users (lower(email));

create table product_groups (
  id serial primary key,
  slug text not null unique,
  name text not null,
  sort_order integer not null default 0
);

create table products (
  id serial primary key,
  number text not null unique,
  name text not null,
  description text not null default '',
  group_id integer not null references product_groups(id),
  price_minor bigint not null check (price_minor >= 0),
  vat_rate_bp integer not null check (vat_rate_bp between 0 and 10000),
  unit text not null default 'pcs',
  active boolean not null default true
);
create index products_group_idx on products (group_id, name);
create index products_lower_name_idx on products (lower(name) text_pattern_ops);

create table stock_locations (
  id serial primary key,
  name text not null unique
);

create table stock_levels (
  product_id integer not null references products(id) on delete cascade,
  location_id integer not null references stock_locations(id),
  quantity integer not null check (quantity >= 0),
  primary key (product_id, location_id)
);

create table shipping_methods (
  id serial primary key,
  code text not null unique,
  name text not null,
  description text not null default '',
  fee_minor bigint not null check (fee_minor >= 0),
  free_above_minor bigint check (free_above_minor >= 0),
  sort_order integer not null default 0,
  active boolean not null default true
);

create table payment_methods (
  id serial primary key,
  code text not null unique,
  name text not null,
  description text not null default '',
  provider text not null check (provider in ('invoice', 'sandbox_card')),
  fee_minor bigint not null default 0 check (fee_minor >= 0),
  sort_order integer not null default 0,
  active boolean not null default true
);

create table vouchers (
  id serial primary key,
  code text not null,
  kind text not null check (kind in ('percent', 'amount')),
  value bigint not null check (value > 0),
  active boolean not null default true,
  check (kind <> 'percent' or value <= 100)
);
create unique index vouchers_code_unique on vouchers (upper(code));

create table flows (
  id serial primary key,
  type text not null check (type in ('cart', 'order', 'quote', 'return')),
  name text not null,
  description text not null default '',
  is_default boolean not null default false
);
create unique index flows_one_default_per_type on flows (type) where is_default;

create table flow_states (
  id serial primary key,
  flow_id integer not null references flows(id) on delete cascade,
  name text not null,
  description text not null default '',
  is_default boolean not null default false,
  exclude_from_statistics boolean not null default false,
  sort_order integer not null default 0,
  color text not null default '#6b7280' check (color ~ '^#[0-9a-fA-F]{6}$'),
  allow_edit boolean not null default false,
  allow_order boolean not null default true,
  deleted boolean not null default false,
  mail_subject text not null default '',
  mail_sender_name text not null default '',
  mail_sender_email text not null default '',
  mail_template text not null default '',
  send_to_billing_email boolean not null default false,
  send_to_delivery_email boolean not null default false,
  send_to_field boolean not null default false,
  custom_recipient_field text not null default '',
  others_recipients text not null default '',
  others_template text not null default ''
);
create unique index flow_states_one_default_per_flow on flow_states (flow_id) where is_default;

create table flow_state_rules (
  from_state_id integer not null references flow_states(id) on delete cascade,
  to_state_id integer not null references flow_states(id) on delete cascade,
  primary key (from_state_id, to_state_id),
  check (from_state_id <> to_state_id)
);

create sequence cart_number_seq start 1;

create table orders (
  id bigserial primary key,
  number text not null unique,
  shop_id text not null references shops(id),
  type text not null check (type in ('cart', 'order', 'quote')),
  basket_status text check (basket_status in ('basket', 'saved')),
  name text not null default '',
  user_id integer references users(id),
  company_id integer references companies(id),
  anonymous_token uuid unique,
  state_id integer references flow_states(id),
  completed boolean not null default false,
  completed_at timestamptz,
  checkout_step text not null default 'cart' check (checkout_step in ('cart', 'addresses', 'methods', 'review', 'placing', 'confirmation')),
  deleted boolean not null default false,
  version integer not null default 1,
  billing_name text not null default '',
  billing_company text not null default '',
  billing_address text not null default '',
  billing_address2 text not null default '',
  billing_zip text not null default '',
  billing_city text not null default '',
  billing_country text not null default '',
  billing_region text not null default '',
  billing_phone text not null default '',
  billing_email text not null default '',
  delivery_same_as_billing boolean not null default true,
  delivery_name text not null default '',
  delivery_company text not null default '',
  delivery_address text not null default '',
  delivery_address2 text not null default '',
  delivery_zip text not null default '',
  delivery_city text not null default '',
  delivery_country text not null default '',
  delivery_region text not null default '',
  delivery_phone text not null default '',
  delivery_email text not null default '',
  shipping_method_id integer references shipping_methods(id),
  payment_method_id integer references payment_methods(id),
  voucher_code text not null default '',
  customer_comment text not null default '',
  staff_comment text not null default '',
  currency_code char(3) not null,
  currency_name text not null,
  currency_rate numeric(12,6) not null,
  -- Fees and discounts are stored excluding VAT; fees are taxed at the shop's standard rate.
  shipping_fee_minor bigint not null default 0 check (shipping_fee_minor >= 0),
  payment_fee_minor bigint not null default 0 check (payment_fee_minor >= 0),
  discount_minor bigint not null default 0 check (discount_minor >= 0),
  subtotal_minor bigint not null default 0,
  total_excl_vat_minor bigint not null default 0,
  vat_minor bigint not null default 0,
  total_minor bigint not null default 0 check (total_minor >= 0),
  -- The full pricing result (lines, VAT per rate, fees) as last computed, so pages show exactly what was charged.
  totals jsonb,
  capture_state text check (capture_state in ('not_supported', 'not_captured', 'split_captured', 'captured')),
  payment_status text not null default 'none' check (payment_status in ('none', 'authorized', 'declined', 'cancelled', 'refunded', 'partly_refunded')),
  captured_minor bigint not null default 0 check (captured_minor >= 0),
  refunded_minor bigint not null default 0 check (refunded_minor >= 0 and refunded_minor <= captured_minor),
  transaction_number text not null default '',
  card_type text not null default '',
  card_last4 text not null default '' check (card_last4 ~ '^[0-9]{0,4}$'),
  stock_reserved boolean not null default false,
  ip text not null default '',
  price_calculation_date timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- A basket stays the shopper's basket through checkout (even once converted to an order) until it is placed.
  check (not (completed and basket_status is not null)),
  check (type <> 'quote' or basket_status is null),
  check (captured_minor <= total_minor)
);
-- A user has at most one active basket; an anonymous basket belongs to no user.
create unique index orders_one_basket_per_user on orders (user_id) where basket_status = 'basket' and not deleted;
create index orders_user_idx on orders (user_id, created_at desc);
create index orders_type_created_idx on orders (type, created_at desc);

create table order_lines (
  id bigserial primary key,
  order_id bigint not null references orders(id) on delete cascade,
  product_id integer references products(id),
  product_number text not null,
  product_name text not null,
  unit text not null,
  quantity integer not null check (quantity > 0 and quantity <= 100000),
  unit_price_minor bigint not null check (unit_price_minor >= 0),
  vat_rate_bp integer not null check (vat_rate_bp between 0 and 10000),
  discount_minor bigint not null default 0 check (discount_minor >= 0),
  stock_location_id integer references stock_locations(id),
  added_by_user_id integer references users(id),
  created_at timestamptz not null default now()
);
create unique index order_lines_one_line_per_product on order_lines (order_id, product_id);

create table order_state_history (
  id bigserial primary key,
  order_id bigint not null references orders(id) on delete cascade,
  from_state_id integer references flow_states(id),
  to_state_id integer references flow_states(id),
  event text not null,
  message text not null default '',
  actor_user_id integer references users(id),
  actor_kind text not null check (actor_kind in ('staff', 'buyer', 'customer', 'system')),
  source text not null check (source in ('backend', 'bulk', 'frontend', 'system', 'api', 'checkout')),
  created_at timestamptz not null default now()
);
create index order_state_history_order_idx on order_state_history (order_id, id);

create table payment_transactions (
  id bigserial primary key,
  order_id bigint not null references orders(id) on delete cascade,
  operation text not null check (operation in ('authorize', 'capture', 'cancel', 'refund')),
  amount_minor bigint not null check (amount_minor >= 0),
  success boolean not null,
  message text not null default '',
  provider_reference text not null default '',
  created_at timestamptz not null default now()
);
create index payment_transactions_order_idx on payment_transactions (order_id, id);

create table outbox_messages (
  id bigserial primary key,
  kind text not null default 'email',
  dedupe_key text unique,
  from_address text not null,
  to_address text not null,
  subject text not null,
  html text not null,
  text text not null,
  status text not null default 'queued' check (status in ('queued', 'sent', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text not null default '',
  order_id bigint references orders(id) on delete set null,
  created_at timestamptz not null default now(),
  sent_at timestamptz
);
create index outbox_due_idx on outbox_messages (next_attempt_at) where status = 'queued';

create table caught_mails (
  id bigserial primary key,
  from_address text not null,
  to_address text not null,
  subject text not null,
  html text not null default '',
  text text not null default '',
  received_at timestamptz not null default now()
);

create table "session" (
  "sid" varchar not null primary key,
  "sess" json not null,
  "expire" timestamp(6) not null
);
create index "IDX_session_expire" on "session" ("expire");
`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "session", caught_mails, outbox_messages, payment_transactions, order_state_history,
      order_lines, orders, flow_state_rules, flow_states, flows, vouchers, payment_methods, shipping_methods, stock_levels,
      stock_locations, products, product_groups, users, companies, shops cascade; drop sequence if exists cart_number_seq;`);
  }
}
