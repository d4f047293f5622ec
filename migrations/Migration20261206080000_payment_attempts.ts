import { Migration } from '@mikro-orm/migrations';

/**
 * Placing an order without holding any lock while the payment provider answers: reserve → authorize → confirm.
 *
 * A payment attempt is one try to pay for an order. Reserving it takes the order's stock in one short transaction
 * (stock_reservations says from where); the provider is then asked outside any transaction; confirming completes the
 * order in one more short transaction. An attempt is `reserved` until it is `completed` (exactly once: the unique
 * index allows one open attempt per order and the status only moves forward) or `released` (declined, abandoned,
 * expired, or the order changed meanwhile), which gives the stock back. `needs_void` marks a released attempt whose
 * authorization, if the provider made one, must still be cancelled; the expiry job retries that until it worked.
 *
 * sandbox_payments is the ledger of the built-in sandbox providers (it plays the provider's side: what a real
 * gateway would remember), so tests and load tests can prove that nothing is charged without an order.
 */
export class Migration20261206080000_payment_attempts extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create table payment_attempts (
  id bigserial primary key,
  order_id bigint not null references orders(id) on delete cascade,
  order_version integer not null,
  provider text not null,
  amount_minor bigint not null,
  currency_code text not null,
  status text not null default 'reserved',
  provider_reference text not null default '',
  needs_void boolean not null default false,
  outcome_message text not null default '',
  customer_comment text not null default '',
  ip text not null default '',
  actor_user_id integer references users(id) on delete set null,
  expires_at timestamptz not null,
  created_at timestamptz not null default now(),
  finished_at timestamptz,
  constraint payment_attempts_status_check check (status in ('reserved', 'completed', 'released')),
  constraint payment_attempts_amount_check check (amount_minor >= 0),
  constraint payment_attempts_void_check check (not needs_void or status = 'released')
);
create unique index payment_attempts_one_open_per_order on payment_attempts (order_id) where status = 'reserved';
create unique index payment_attempts_one_completed_per_order on payment_attempts (order_id) where status = 'completed';
create index payment_attempts_expiry_idx on payment_attempts (expires_at) where status = 'reserved';
create index payment_attempts_void_idx on payment_attempts (id) where needs_void;
create index payment_attempts_reference_idx on payment_attempts (provider_reference) where provider_reference <> '';

create table stock_reservations (
  attempt_id bigint not null references payment_attempts(id) on delete cascade,
  order_line_id bigint not null,
  product_id integer not null references products(id) on delete cascade,
  location_id integer not null references stock_locations(id),
  quantity integer not null,
  constraint stock_reservations_pkey primary key (attempt_id, order_line_id),
  constraint stock_reservations_quantity_check check (quantity >= 0)
);

alter table payment_methods drop constraint payment_methods_provider_check;
alter table payment_methods add constraint payment_methods_provider_check check (provider in ('invoice', 'sandbox_card', 'sandbox_hosted'));

create table sandbox_payments (
  reference text primary key,
  provider text not null,
  attempt_key text not null,
  amount_minor bigint not null,
  currency_code text not null,
  order_number text not null,
  status text not null,
  card_type text not null default '',
  card_last4 text not null default '',
  return_url text not null default '',
  webhook_url text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint sandbox_payments_attempt_unique unique (provider, attempt_key),
  constraint sandbox_payments_status_check check (status in ('open', 'challenge', 'authorized', 'declined', 'cancelled', 'voided', 'captured'))
);
`);
  }
}
