import { Migration } from '@mikro-orm/migrations';

/** Order editing: versions, custom order fields and order line fields, and the staff "may edit orders" permission. */
export class Migration20261124170000_order_editing extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table users add column can_edit_orders boolean not null default true;
alter table order_lines add column custom_fields jsonb not null default '{}'::jsonb check (jsonb_typeof(custom_fields) = 'object');

create table order_field_definitions (
  id serial primary key,
  system_name text not null unique check (system_name ~ '^[a-z][a-z0-9_]{1,40}$'),
  name text not null check (length(name) between 1 and 120),
  type text not null check (type in ('text', 'number', 'date', 'boolean', 'email')),
  applies_to text not null check (applies_to in ('order', 'line')),
  sort_order integer not null default 0,
  created_at timestamptz not null default now()
);

-- Version 1 is the order as it was before its first edit; every save adds the next one.
create table order_versions (
  id bigserial primary key,
  order_id bigint not null references orders(id) on delete cascade,
  version_no integer not null check (version_no > 0),
  snapshot jsonb not null,
  created_by integer references users(id),
  note text not null default '',
  created_at timestamptz not null default now(),
  unique (order_id, version_no)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop table order_versions;
drop table order_field_definitions;
alter table order_lines drop column custom_fields;
alter table users drop column can_edit_orders;
`);
  }
}
