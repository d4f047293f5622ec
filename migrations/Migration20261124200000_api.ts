import { Migration } from '@mikro-orm/migrations';

/**
 * The JSON API: API keys (stored hashed, scoped, revocable) and idempotency records for writes.
 *
 * A key's secret is never stored: only the SHA-256 of it (the secret is 32 random bytes, so a slow hash adds
 * nothing) and a short prefix that lets staff recognise a key in the list. Writes that carry an Idempotency-Key
 * insert (api_key_id, idempotency_key) first, in the same transaction as the change; the unique constraint makes a
 * concurrent second request with the same key wait for the first and then replay its stored answer.
 */
export class Migration20261124200000_api extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create table api_keys (
  id serial primary key,
  name text not null,
  prefix text not null,
  secret_hash text not null,
  scopes text[] not null,
  created_by_user_id integer references users(id) on delete set null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  revoked_by_user_id integer references users(id) on delete set null,
  constraint api_keys_name_check check (length(trim(name)) between 1 and 100),
  constraint api_keys_prefix_check check (prefix ~ '^of_live_[A-Za-z0-9_-]{8}$'),
  constraint api_keys_secret_hash_check check (secret_hash ~ '^[0-9a-f]{64}$'),
  constraint api_keys_scopes_check check (
    cardinality(scopes) between 1 and 3 and scopes <@ array['orders:read', 'orders:write', 'payments:capture']::text[]),
  constraint api_keys_revoked_check check (revoked_by_user_id is null or revoked_at is not null)
);
create unique index api_keys_secret_hash_unique on api_keys (secret_hash);
-- Names identify keys in the order history, so two active keys never share one.
create unique index api_keys_active_name_unique on api_keys (lower(trim(name))) where revoked_at is null;

create table api_idempotency_keys (
  id bigserial primary key,
  api_key_id integer not null references api_keys(id) on delete cascade,
  idempotency_key text not null,
  -- SHA-256 of method, path and body: the same key with another request is refused.
  request_hash text not null,
  response_status integer,
  -- The JSON text exactly as sent, so a replay is byte for byte the same answer.
  response_body text,
  created_at timestamptz not null default now(),
  constraint api_idempotency_keys_unique unique (api_key_id, idempotency_key),
  constraint api_idempotency_keys_key_check check (length(idempotency_key) between 1 and 255),
  constraint api_idempotency_keys_status_check check (response_status is null or response_status between 100 and 599)
);
create index api_idempotency_keys_created_idx on api_idempotency_keys (created_at);

-- The tracking number a fulfilment system reported (the link goes to orders.tracking_url).
alter table orders add column api_tracking_number text;
alter table orders add constraint orders_api_tracking_number_check check (api_tracking_number is null or length(api_tracking_number) between 1 and 100);

-- orders.exported belongs to the order list migration; only add it here when that migration did not.
do $$
begin
  if not exists (select 1 from information_schema.columns
                 where table_schema = current_schema() and table_name = 'orders' and column_name = 'exported') then
    alter table orders add column if not exists exported boolean not null default false;
  end if;
end
$$;

-- "Orders changed since", paged on (updated_at, id): placed orders only.
create index orders_api_changed_idx on orders (updated_at, id) where type = 'order' and completed and not deleted;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop index if exists orders_api_changed_idx;
alter table orders drop constraint if exists orders_api_tracking_number_check;
alter table orders drop column if exists api_tracking_number;
drop table if exists api_idempotency_keys;
drop table if exists api_keys;
`);
  }
}
