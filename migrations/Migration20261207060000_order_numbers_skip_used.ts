import { Migration } from '@mikro-orm/migrations';

/**
 * Order numbers are taken by one function, order_numbers_take: the shop's next values of its sequence, formatted
 * with its prefix and padding, skipping any number an order already has. Staff may change the prefix and padding and
 * set the next number (the first number they produce is checked), but later numbers of those settings can belong to
 * orders of an earlier period with the same prefix: the checkout that reached one failed on the unique index instead
 * of taking the next free number. Skipped values are gaps, as a rolled-back checkout's are (README, "Order numbers").
 *
 * order_numbers_hold and order_numbers_restart serve staff's change of the next number: ALTER SEQUENCE blocks every
 * other nextval (and waits for transactions that took one) until the staff transaction ends, and RESTART is undone
 * with it — unlike setval, which let a checkout take a number between staff's check and the change, and stayed when
 * the transaction rolled back. The sequences step by one: holding asserts it.
 */
export class Migration20261207060000_order_numbers_skip_used extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create function order_numbers_take(wanted int, shop text) returns table (number text) language plpgsql volatile as $$
declare
  s record;
  n bigint;
  candidate text;
begin
  select order_numbers, order_prefix, order_number_padding into s from shops where id = shop;
  if not found then return; end if;
  for i in 1 .. wanted loop
    loop
      n := nextval(s.order_numbers);
      candidate := s.order_prefix || lpad(n::text, greatest(length(n::text), s.order_number_padding), '0');
      exit when not exists (select 1 from orders o where o.number = candidate);
    end loop;
    number := candidate;
    return next;
  end loop;
end $$;

create function order_numbers_hold(seq regclass) returns void language plpgsql as $$
begin
  execute format('alter sequence %s increment by 1', seq);
end $$;

create function order_numbers_restart(seq regclass, upcoming bigint) returns void language plpgsql as $$
begin
  execute format('alter sequence %s restart with %s', seq, upcoming);
end $$;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop function order_numbers_restart(regclass, bigint);
drop function order_numbers_hold(regclass);
drop function order_numbers_take(int, text);
`);
  }
}
