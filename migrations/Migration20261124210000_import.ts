import { Migration } from '@mikro-orm/migrations';

/**
 * Order import: import runs and their row reports, and idempotency per (channel, external id).
 *
 * The partial unique index is what makes a re-import change nothing: an order imported from a channel under its
 * external id exists at most once, even when two imports of the same file run at the same time.
 */
export class Migration20261124210000_import extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table orders add constraint orders_imported_has_source check (not imported or (channel is not null and integration_order_id is not null)) not valid;
create unique index orders_imported_channel_external_id on orders (channel, integration_order_id) where imported;

create table import_runs (
  id bigserial primary key,
  filename text not null default '',
  format text not null check (format in ('csv', 'xml')),
  source text not null check (source in ('upload', 'paste', 'cli')),
  status text not null default 'running' check (status in ('running', 'finished', 'failed')),
  user_id integer references users(id) on delete set null,
  orders_seen integer not null default 0 check (orders_seen >= 0),
  imported_count integer not null default 0 check (imported_count >= 0),
  already_imported_count integer not null default 0 check (already_imported_count >= 0),
  failed_count integer not null default 0 check (failed_count >= 0),
  message text not null default '',
  started_at timestamptz not null default now(),
  finished_at timestamptz
);
create index import_runs_started_idx on import_runs (started_at desc, id desc);

-- Every bad row of a run: its line number in the file and why it was refused.
create table import_run_errors (
  id bigserial primary key,
  run_id bigint not null references import_runs(id) on delete cascade,
  line integer not null check (line >= 0),
  external_id text not null default '',
  reason text not null
);
create index import_run_errors_run_idx on import_run_errors (run_id, line, id);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop table if exists import_run_errors;
drop table if exists import_runs;
drop index if exists orders_imported_channel_external_id;
alter table orders drop constraint if exists orders_imported_has_source;
`);
  }
}
