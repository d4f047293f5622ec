import { Migration } from '@mikro-orm/migrations';

/**
 * A payment operation recovers by itself when the process that reserved it died before confirming it.
 *
 * Each operation carries an idempotency key the shop sends with its provider call; a job (PaymentService.recoverStale,
 * on the workers' poller) takes pending captures and refunds older than PAYMENT_OPERATION_STALE_SECONDS, asks the
 * provider what became of that key, and confirms the operation (the provider did it: recorded once on the order) or
 * marks it failed (it did not: staff can try again). `lease_until` keeps two processes from asking at once.
 *
 * sandbox_payment_operations is the sandbox providers' memory of those calls (what a real provider keeps per key).
 */
export class Migration20261206123000_payment_operation_keys extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table payment_operations add column idempotency_key uuid not null default gen_random_uuid();
alter table payment_operations add constraint payment_operations_idempotency_key_unique unique (idempotency_key);
create index payment_operations_pending_since on payment_operations (created_at) where status = 'pending';

create table sandbox_payment_operations (
  provider text not null,
  operation_key text not null,
  reference text not null,
  operation text not null,
  amount_minor bigint not null,
  success boolean not null,
  message text not null,
  created_at timestamptz not null default now(),
  primary key (provider, operation_key)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop table if exists sandbox_payment_operations;
drop index if exists payment_operations_pending_since;
alter table payment_operations drop column idempotency_key;
`);
  }
}
