import { Migration } from '@mikro-orm/migrations';

/**
 * Flows with integrity (issue 12):
 * - every state may carry a stable role the code keys on (names, colours and order stay free); the allowed roles
 *   depend on the flow type, and a flow has at most one state per role (except "processing");
 * - a final state is never left (the seeded end states are final);
 * - side effects (void, restock, return refund/restock, replacement) are rows with a unique key, so a second
 *   attempt hits the constraint; a return never refunds more than its goods' value plus an explicitly entered fee;
 * - a record's state never changes without a history row of the same transaction (deferred constraint triggers).
 */
export class Migration20261206010000_flow_integrity extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
-- Roles: the state's flow type is copied onto the state (kept honest by a composite foreign key), so one check
-- constraint can say which roles each type allows.
alter table flows add constraint flows_id_type_unique unique (id, type);
alter table flow_states add column flow_type text;
update flow_states s set flow_type = f.type from flows f where f.id = s.flow_id;
alter table flow_states alter column flow_type set not null;
alter table flow_states add constraint flow_states_flow_type_fk foreign key (flow_id, flow_type) references flows (id, type) on update cascade on delete cascade;
create function flow_states_fill_type() returns trigger language plpgsql as $$
begin
  new.flow_type := (select type from flows where id = new.flow_id);
  return new;
end $$;
create trigger flow_states_fill_type before insert or update of flow_id on flow_states for each row execute function flow_states_fill_type();

alter table flow_states add column role text;
alter table flow_states add constraint flow_states_role_allowed check (role is null or role = any (case flow_type
  when 'order' then array['new', 'processing', 'shipped', 'completed', 'cancelled']
  when 'cart' then array['open', 'submitted', 'approved', 'rejected']
  when 'quote' then array['requested', 'in_review', 'offered', 'accepted', 'rejected', 'expired']
  when 'return' then array['requested', 'approved', 'received', 'refunded', 'replaced', 'rejected'] end));
create unique index flow_states_one_per_role on flow_states (flow_id, role) where role is not null and role <> 'processing' and not deleted;

alter table flow_states add column final boolean not null default false;
alter table flow_states add constraint flow_states_default_not_final check (not (final and is_default));

-- Existing data: the seeded states get their roles by type and name (the lowest id wins a duplicate); end states become final.
with names (flow_type, name, role) as (values
  ('order', 'New', 'new'), ('order', 'Received', 'processing'), ('order', 'Picked', 'processing'), ('order', 'Shipped', 'shipped'),
  ('order', 'Completed', 'completed'), ('order', 'Cancelled', 'cancelled'),
  ('cart', 'Open', 'open'), ('cart', 'New', 'open'), ('cart', 'Submitted for approval', 'submitted'), ('cart', 'Approved', 'approved'), ('cart', 'Rejected', 'rejected'),
  ('quote', 'Requested', 'requested'), ('quote', 'In review', 'in_review'), ('quote', 'Offered', 'offered'), ('quote', 'Accepted', 'accepted'),
  ('quote', 'Rejected', 'rejected'), ('quote', 'Expired', 'expired'),
  ('return', 'Requested', 'requested'), ('return', 'Approved', 'approved'), ('return', 'Goods received', 'received'), ('return', 'Refunded', 'refunded'),
  ('return', 'Replaced', 'replaced'), ('return', 'Rejected', 'rejected')
), matched as (
  select distinct on (s.flow_id, n.role, case when n.role = 'processing' then s.id end) s.id, n.role
  from flow_states s join names n on n.flow_type = s.flow_type and n.name = s.name
  where not s.deleted
  order by s.flow_id, n.role, case when n.role = 'processing' then s.id end, s.id
)
update flow_states s set role = m.role from matched m where m.id = s.id;
update flow_states set final = true where not is_default and (
  (flow_type = 'order' and role in ('completed', 'cancelled')) or
  (flow_type = 'quote' and role in ('accepted', 'rejected', 'expired')) or
  (flow_type = 'return' and role in ('refunded', 'replaced', 'rejected')));

-- Quotes past their validity date expire by themselves (a job); the customer hears of it unless staff set up other mails.
update flow_states set mail_subject = 'Your quote {OrderID} has expired', send_to_billing_email = true, mail_template = 'mail/flow/state-changed.njk'
  where flow_type = 'quote' and role = 'expired' and mail_subject = '' and not send_to_billing_email and not send_to_delivery_email and others_recipients = '';

-- Every state change has its history row: the row records its transaction, and a deferred constraint trigger checks
-- at commit that each changed state_id has a history row of this transaction that entered it.
alter table order_state_history add column tx xid8 not null default pg_current_xact_id();
alter table return_history add column tx xid8 not null default pg_current_xact_id();
create function orders_state_change_has_history() returns trigger language plpgsql as $$
begin
  if not exists (select 1 from order_state_history h where h.order_id = new.id and h.to_state_id is not distinct from new.state_id
                 and h.tx = pg_current_xact_id()) then
    raise exception 'order % moved to state % without a history entry: state changes go through FlowService.changeState', new.number, new.state_id
      using errcode = '23514', constraint = 'orders_state_change_has_history';
  end if;
  return null;
end $$;
create constraint trigger orders_state_change_has_history after update of state_id on orders deferrable initially deferred
  for each row when (old.state_id is distinct from new.state_id) execute function orders_state_change_has_history();
create function returns_state_change_has_history() returns trigger language plpgsql as $$
begin
  if not exists (select 1 from return_history h where h.return_id = new.id and h.to_state_id is not distinct from new.state_id
                 and h.tx = pg_current_xact_id()) then
    raise exception 'return % moved to state % without a history entry: state changes go through FlowService', new.number, new.state_id
      using errcode = '23514', constraint = 'returns_state_change_has_history';
  end if;
  return null;
end $$;
create constraint trigger returns_state_change_has_history after update of state_id on returns deferrable initially deferred
  for each row when (old.state_id is distinct from new.state_id) execute function returns_state_change_has_history();

-- A return refunds at most the value of its goods plus a fee staff enter explicitly (e.g. the shipping paid).
alter table returns add column goods_value_minor bigint not null default 0 check (goods_value_minor >= 0);
alter table returns add column refund_fee_minor bigint not null default 0 check (refund_fee_minor >= 0);
update returns r set goods_value_minor = greatest(r.refunded_minor, coalesce((
  select sum(round(rl.quantity * ol.unit_price_minor * (10000 + ol.vat_rate_bp) / 10000.0))::bigint
  from return_lines rl join order_lines ol on ol.id = rl.order_line_id where rl.return_id = r.id), 0));
alter table returns add constraint returns_refund_within_value check (refunded_minor <= goods_value_minor + refund_fee_minor);

-- Side effects happen once per record (and line): the second attempt is a unique violation, whatever the path.
create table record_effects (
  id bigserial primary key,
  order_id bigint not null references orders(id) on delete cascade,
  return_id bigint references returns(id) on delete cascade,
  effect text not null check (effect in ('void', 'restock', 'return_restock', 'return_refund', 'replacement')),
  line_id bigint,
  amount_minor bigint not null default 0 check (amount_minor >= 0),
  created_at timestamptz not null default now(),
  constraint record_effects_once unique nulls not distinct (order_id, return_id, effect, line_id)
);
insert into record_effects (order_id, effect) select id, 'void' from orders where payment_status = 'cancelled';
insert into record_effects (order_id, return_id, effect, amount_minor) select order_id, id, 'return_refund', refunded_minor from returns where refunded_minor > 0;
insert into record_effects (order_id, return_id, effect) select order_id, id, 'replacement' from returns where replacement_order_id is not null;
insert into record_effects (order_id, return_id, effect, line_id)
  select r.order_id, r.id, 'return_restock', rl.id from return_lines rl join returns r on r.id = rl.return_id where rl.restocked_location_id is not null;
-- Leaving a final state is a separate staff permission (the demo admin has it).
alter table users add column can_reopen_records boolean not null default false;

create unique index returns_replacement_order_once on returns (replacement_order_id) where replacement_order_id is not null;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop index if exists returns_replacement_order_once;
alter table users drop column if exists can_reopen_records;
drop table if exists record_effects;
alter table returns drop constraint if exists returns_refund_within_value;
alter table returns drop column if exists refund_fee_minor;
alter table returns drop column if exists goods_value_minor;
drop trigger if exists returns_state_change_has_history on returns;
drop function if exists returns_state_change_has_history();
drop trigger if exists orders_state_change_has_history on orders;
drop function if exists orders_state_change_has_history();
alter table return_history drop column if exists tx;
alter table order_state_history drop column if exists tx;
alter table flow_states drop constraint if exists flow_states_default_not_final;
alter table flow_states drop column if exists final;
drop index if exists flow_states_one_per_role;
alter table flow_states drop constraint if exists flow_states_role_allowed;
alter table flow_states drop column if exists role;
drop trigger if exists flow_states_fill_type on flow_states;
drop function if exists flow_states_fill_type();
alter table flow_states drop constraint if exists flow_states_flow_type_fk;
alter table flow_states drop column if exists flow_type;
alter table flows drop constraint if exists flows_id_type_unique;
`);
  }
}
