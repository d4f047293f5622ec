import { Migration } from '@mikro-orm/migrations';

/**
 * Every stock change leaves a movement (src/stock/stock.ts, the one writer of stock_levels): who made it (a staff
 * user, the customer, a system job), why (a known reason code) and the order or return it belongs to. Movements are
 * history: a trigger refuses to update or delete them (only the cascade from a deleted product may).
 */
export class Migration20261206150000_stock_movements extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table stock_movements
  add column actor_kind text not null default 'staff',
  add column order_id bigint references orders(id) on delete cascade,
  add column return_id bigint references returns(id) on delete cascade;
alter table stock_movements alter column actor_kind drop default;
alter table stock_movements add constraint stock_movements_actor_kind_check check (actor_kind in ('staff', 'customer', 'system'));
alter table stock_movements add constraint stock_movements_reason_check
  check (reason in ('received', 'counted', 'damaged', 'correction', 'order', 'release', 'cancel', 'return', 'edit', 'opening'));
create index stock_movements_order_idx on stock_movements (order_id) where order_id is not null;
create index stock_movements_return_idx on stock_movements (return_id) where return_id is not null;

create function stock_movements_append_only() returns trigger language plpgsql as $$
begin
  -- A cascade (depth > 1: the foreign key's own trigger deletes) removes the history of a deleted product.
  if tg_op = 'DELETE' and pg_trigger_depth() > 1 then return old; end if;
  raise exception 'stock movements are append-only (% refused)', tg_op using errcode = 'restrict_violation';
end $$;
create trigger stock_movements_append_only before update or delete on stock_movements
  for each row execute function stock_movements_append_only();
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop trigger if exists stock_movements_append_only on stock_movements;
drop function if exists stock_movements_append_only();
alter table stock_movements drop constraint if exists stock_movements_reason_check, drop constraint if exists stock_movements_actor_kind_check,
  drop column if exists return_id, drop column if exists order_id, drop column if exists actor_kind;
`);
  }
}
