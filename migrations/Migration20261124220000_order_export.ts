import { Migration } from '@mikro-orm/migrations';

/**
 * Automatic XML export of completed orders: one export job per order, queued in the transaction that completes
 * the order (so a committed order always has its job), worked off by the export worker with
 * `for update skip locked` and retried with backoff. `order_id` is unique: an order is exported by one job, and
 * queuing it again (on demand) only makes that job due again.
 */
export class Migration20261124220000_order_export extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create table order_export_jobs (
  id bigserial primary key,
  order_id bigint not null references orders(id) on delete cascade,
  status text not null default 'queued',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_error text not null default '',
  file_name text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  exported_at timestamptz,
  constraint order_export_jobs_order_unique unique (order_id),
  constraint order_export_jobs_status_check check (status in ('queued', 'done', 'failed')),
  constraint order_export_jobs_attempts_check check (attempts >= 0),
  constraint order_export_jobs_done_check check (status <> 'done' or exported_at is not null)
);
create index order_export_jobs_due_idx on order_export_jobs (next_attempt_at) where status = 'queued';
`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists order_export_jobs;');
  }
}
