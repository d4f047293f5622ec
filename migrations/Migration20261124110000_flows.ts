import { Migration } from '@mikro-orm/migrations';

/** Flows in use: custom order field values (for "send to order field e-mail"), resend bookkeeping, state lookups. */
export class Migration20261124110000_flows extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table orders add column custom_fields jsonb not null default '{}'::jsonb;
create index orders_state_idx on orders (state_id);
alter table flow_states add constraint flow_states_name_not_blank check (length(trim(name)) > 0);
alter table flows add constraint flows_name_not_blank check (length(trim(name)) > 0);
alter table outbox_messages add column state_history_id bigint references order_state_history(id) on delete set null;
create index flow_state_rules_to_idx on flow_state_rules (to_state_id);
-- A company's carts can run through their own cart flow (e.g. an approval flow); others use the default.
alter table companies add column cart_flow_id integer references flows(id) on delete set null;
alter table flows add constraint flows_name_unique_per_type unique (type, name);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
alter table flows drop constraint flows_name_unique_per_type;
alter table companies drop column cart_flow_id;
alter table outbox_messages drop column state_history_id;
drop index if exists flow_state_rules_to_idx;
alter table flows drop constraint flows_name_not_blank;
alter table flow_states drop constraint flow_states_name_not_blank;
drop index if exists orders_state_idx;
alter table orders drop column custom_fields;
`);
  }
}
