import { Migration } from '@mikro-orm/migrations';

/**
 * Recurring order series and their runs. A series repeats a placed (template) order every N days, weeks or
 * months. Each scheduled occurrence has at most one run row — unique (series_id, due_at) — so an occurrence
 * can only ever produce one order, however many schedulers run; the scheduler also locks the series row
 * (FOR UPDATE SKIP LOCKED) while it works on it.
 */
export class Migration20261124180000_recurring extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create table recurring_series (
  id bigserial primary key,
  template_order_id bigint not null references orders(id),
  shop_id text not null references shops(id),
  user_id integer references users(id),
  company_id integer references companies(id),
  interval_unit text not null check (interval_unit in ('day', 'week', 'month')),
  interval_count integer not null check (interval_count between 1 and 365),
  start_date date not null,
  end_date date,
  max_occurrences integer check (max_occurrences between 1 and 1000),
  status text not null default 'active' check (status in ('active', 'paused', 'cancelled', 'finished')),
  -- The next occurrence to create (0 = the start date) and when it is due; null once the series has ended.
  next_occurrence integer not null default 0 check (next_occurrence >= 0),
  next_due_at timestamptz,
  -- A failing occurrence is retried with backoff: failed attempts so far and when to try again.
  attempts integer not null default 0 check (attempts >= 0),
  retry_at timestamptz,
  last_error text not null default '',
  orders_created integer not null default 0 check (orders_created >= 0),
  created_by_user_id integer references users(id),
  created_by_kind text not null check (created_by_kind in ('staff', 'customer')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (end_date is null or end_date >= start_date),
  check (end_date is null or max_occurrences is null),
  check ((status in ('active', 'paused')) = (next_due_at is not null))
);
-- The scheduler's query: active series that are due.
create index recurring_series_due_idx on recurring_series (next_due_at) where status = 'active';
create index recurring_series_user_idx on recurring_series (user_id, id desc);
-- A template order repeats in at most one running series (a double submit never makes two).
create unique index recurring_series_one_open_per_template on recurring_series (template_order_id) where status in ('active', 'paused');

create table recurring_runs (
  id bigserial primary key,
  series_id bigint not null references recurring_series(id) on delete cascade,
  occurrence integer not null check (occurrence >= 0),
  due_at timestamptz not null,
  status text not null check (status in ('created', 'failed', 'skipped')),
  order_id bigint references orders(id) on delete set null,
  attempts integer not null default 0 check (attempts >= 0),
  last_error text not null default '',
  next_attempt_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (series_id, due_at),
  unique (series_id, occurrence)
);
create unique index recurring_runs_one_per_order on recurring_runs (order_id) where order_id is not null;

alter table orders add column recurring_series_id bigint references recurring_series(id) on delete set null;
create index orders_recurring_series_idx on orders (recurring_series_id) where recurring_series_id is not null;

-- Statistics (/admin/statistics) read placed orders of a shop by the time they were placed.
create index orders_statistics_idx on orders (shop_id, completed_at) include (state_id, total_minor, total_excl_vat_minor)
  where type = 'order' and completed and not deleted;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop index if exists orders_statistics_idx;
drop index if exists orders_recurring_series_idx;
alter table orders drop column if exists recurring_series_id;
drop table if exists recurring_runs;
drop table if exists recurring_series;
`);
  }
}
