import { Migration } from '@mikro-orm/migrations';

/**
 * Order numbers come from a sequence per shop instead of the shop row's counter. `update shops set order_next_number
 * = order_next_number + 1` locked the shop's row until the checkout's COMMIT (its WAL flush included), so every
 * checkout of a shop queued behind the one before; nextval takes no row lock and is never rolled back, so nothing
 * waits — and a rolled-back or abandoned checkout leaves a gap (see README, "Order numbers").
 *
 * The shop keeps its sequence as a regclass (`order_numbers`): the app calls `nextval(s.order_numbers)` and never
 * builds a sequence name. A shop inserted without one gets its own (trigger below) — the seed, imports, tests and
 * scripts alike — named from the md5 of its id, so any id makes a valid, distinct identifier; `create sequence if not
 * exists` keeps the seed's `insert … on conflict do nothing` harmless (the trigger runs before the conflict is seen).
 * The sequence is the only holder of the next number: order_next_number is dropped, each shop's sequence starting at
 * its value. Its `minvalue 1` keeps the old check that numbers are positive (setval below 1 is refused).
 */
export class Migration20261206190000_order_number_sequences extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create function shops_order_numbers_sequence(shop_id text, first bigint) returns regclass language plpgsql as $$
declare
  name text := 'order_numbers_' || md5(shop_id);
begin
  execute format('create sequence if not exists %I as bigint minvalue 1 start with %s', name, first);
  return format('%I', name)::regclass;
end $$;

alter table shops add column order_numbers regclass;
update shops set order_numbers = shops_order_numbers_sequence(id, order_next_number);
alter table shops alter column order_numbers set not null,
  add constraint shops_order_numbers_key unique (order_numbers),
  drop column order_next_number;

create function shops_fill_order_numbers() returns trigger language plpgsql as $$
begin
  if new.order_numbers is null then new.order_numbers := shops_order_numbers_sequence(new.id, 1001); end if;
  return new;
end $$;
create trigger shops_fill_order_numbers before insert on shops for each row execute function shops_fill_order_numbers();

-- The next number a checkout will take (what staff see and set in the shop settings): nextval would consume it.
create function order_numbers_next(seq regclass) returns bigint language plpgsql stable as $$
declare
  upcoming bigint;
begin
  execute format('select case when is_called then last_value + 1 else last_value end from %s', seq) into upcoming;
  return upcoming;
end $$;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
alter table shops add column order_next_number integer not null default 1001 check (order_next_number > 0);
update shops set order_next_number = order_numbers_next(order_numbers);
drop trigger shops_fill_order_numbers on shops;
drop function shops_fill_order_numbers();
do $$ declare s regclass; begin
  for s in select order_numbers from shops loop execute format('drop sequence %s', s); end loop;
end $$;
alter table shops drop column order_numbers;
drop function order_numbers_next(regclass);
drop function shops_order_numbers_sequence(text, bigint);
`);
  }
}
