import { Migration } from '@mikro-orm/migrations';

/**
 * Payment operations outside any lock (issue 12): reserve → call the provider → confirm.
 *
 * A payment operation is one call the shop makes to the provider for a placed order — capture, cancel (void) or
 * refund. It is reserved `pending` in a short transaction under the order's row lock (at most one pending operation
 * per order, so two staff, a shipment and a cancel never call the provider for the same order at once), the provider
 * is called with no transaction open, and a second short transaction confirms it (`done`, with its effect on the
 * order) or marks it `failed` (nothing changes). A pending cancel is the void an order owes after entering its
 * cancelled-role state by any path; it is retried by a job until the provider confirms (`lease_until` keeps two
 * processes from calling at once).
 *
 * record_effects also guards capture-on-ship: one `shipment_capture` row per shipment (line_id = the shipment's number).
 */
export class Migration20261206122000_payment_operations extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table record_effects drop constraint record_effects_effect_check;
alter table record_effects add constraint record_effects_effect_check
  check (effect in ('void', 'restock', 'return_restock', 'return_refund', 'replacement', 'shipment_capture'));

create table payment_operations (
  id bigserial primary key,
  order_id bigint not null references orders(id) on delete cascade,
  operation text not null,
  amount_minor bigint not null,
  status text not null default 'pending',
  effect_id bigint references record_effects(id) on delete set null,
  actor_user_id integer references users(id) on delete set null,
  actor_kind text not null default 'staff',
  source text not null default 'backend',
  tries integer not null default 0,
  lease_until timestamptz,
  message text not null default '',
  created_at timestamptz not null default now(),
  finished_at timestamptz,
  constraint payment_operations_operation_check check (operation in ('capture', 'cancel', 'refund')),
  constraint payment_operations_status_check check (status in ('pending', 'done', 'failed')),
  constraint payment_operations_amount_check check (amount_minor >= 0)
);
create unique index payment_operations_one_pending_per_order on payment_operations (order_id) where status = 'pending';
create index payment_operations_pending_voids on payment_operations (id) where status = 'pending' and operation = 'cancel';
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop table if exists payment_operations;
alter table record_effects drop constraint record_effects_effect_check;
alter table record_effects add constraint record_effects_effect_check
  check (effect in ('void', 'restock', 'return_restock', 'return_refund', 'replacement'));
`);
  }
}
