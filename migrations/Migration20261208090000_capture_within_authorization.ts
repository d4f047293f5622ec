import { Migration } from '@mikro-orm/migrations';

/**
 * Captures stay within what the payment provider authorized:
 * - `authorized_minor` is the amount authorized when the order was placed (0 when nothing was), written once by the
 *   placing statement; existing orders take it from their successful authorize transaction. An edit may lower the
 *   total below it, never raise what can be captured above it.
 * - a capture is refused by the database when it would take more than was authorized, or when the authorization has
 *   been voided (payment status cancelled): reserving the provider call (payment_operations) and recording the
 *   capture (orders.captured_minor) are both checked, so no call is made and no capture recorded past the limit.
 */
export class Migration20261208090000_capture_within_authorization extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table orders add column authorized_minor bigint not null default 0;
alter table orders add constraint orders_authorized_minor_check check (authorized_minor >= 0);
update orders o set authorized_minor = a.amount_minor
  from (select distinct on (order_id) order_id, amount_minor from payment_transactions
        where operation = 'authorize' and success order by order_id, id desc) a
 where a.order_id = o.id and o.completed;

create function capture_within_authorization(order_number text, captured bigint, authorized bigint, payment_status text) returns void language plpgsql as $$
begin
  if payment_status = 'cancelled' then
    raise exception 'order %: its authorization has been voided, nothing can be captured', order_number
      using errcode = '23514', constraint = 'capture_within_authorization';
  end if;
  if captured > authorized then
    raise exception 'order %: capturing up to % is more than the % authorized', order_number, captured, authorized
      using errcode = '23514', constraint = 'capture_within_authorization';
  end if;
end $$;

create function orders_capture_within_authorization() returns trigger language plpgsql as $$
begin
  perform capture_within_authorization(new.number, new.captured_minor, new.authorized_minor, old.payment_status);
  return new;
end $$;
create trigger orders_capture_within_authorization before update of captured_minor on orders
  for each row when (new.captured_minor > old.captured_minor) execute function orders_capture_within_authorization();

create function payment_operations_capture_within_authorization() returns trigger language plpgsql as $$
begin
  perform capture_within_authorization(o.number, o.captured_minor + new.amount_minor, o.authorized_minor, o.payment_status)
     from orders o where o.id = new.order_id;
  return new;
end $$;
create trigger payment_operations_capture_within_authorization before insert on payment_operations
  for each row when (new.operation = 'capture') execute function payment_operations_capture_within_authorization();
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop trigger payment_operations_capture_within_authorization on payment_operations;
drop function payment_operations_capture_within_authorization();
drop trigger orders_capture_within_authorization on orders;
drop function orders_capture_within_authorization();
drop function capture_within_authorization(text, bigint, bigint, text);
alter table orders drop column authorized_minor;
`);
  }
}

