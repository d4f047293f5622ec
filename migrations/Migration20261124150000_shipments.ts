import { Migration } from '@mikro-orm/migrations';

/**
 * Shipments, shipment lines and track & trace configurations.
 *
 * Over-shipping is refused by the database too, without triggers: every order line keeps the quantity shipped so
 * far (`shipped_quantity`), raised by `update … set shipped_quantity = shipped_quantity + n` in the same transaction
 * that inserts the shipment line, and a check constraint keeps it between 0 and the ordered quantity. The same
 * constraint stops an order edit from lowering a line's quantity below what has already left the warehouse.
 *
 * The order's shipment status is system-controlled and separate from its flow state; the shipping fee is captured
 * once (with the last shipment, or earlier by staff), which `shipping_fee_captured` records.
 */
export class Migration20261124150000_shipments extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create table track_and_trace_configs (
  id serial primary key,
  name text not null,
  url_template text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint track_and_trace_configs_name_check check (length(trim(name)) between 1 and 100),
  constraint track_and_trace_configs_url_check check (url_template ~* '^https?://[^[:space:]]+$' and length(url_template) <= 2000)
);
create unique index track_and_trace_configs_name_unique on track_and_trace_configs (lower(trim(name)));

alter table order_lines add column shipped_quantity integer not null default 0;
alter table order_lines add constraint order_lines_shipped_within_ordered check (shipped_quantity >= 0 and shipped_quantity <= quantity);

alter table orders add column shipment_status text not null default 'not_shipped';
alter table orders add constraint orders_shipment_status_check check (shipment_status in ('not_shipped', 'partly_shipped', 'shipped'));
alter table orders add column shipping_fee_captured boolean not null default false;
-- The latest shipment's track & trace link (shown to the customer); only http(s) links are stored.
alter table orders add column tracking_url text;
alter table orders add constraint orders_tracking_url_check check (tracking_url is null or (tracking_url ~* '^https?://' and length(tracking_url) <= 4000));

create table shipments (
  id bigserial primary key,
  order_id bigint not null references orders(id) on delete cascade,
  -- 1, 2, 3 … within the order (taken under the order row lock).
  shipment_no integer not null check (shipment_no > 0),
  tracking_number text not null default '' check (length(tracking_number) <= 60),
  track_and_trace_id integer references track_and_trace_configs(id) on delete set null,
  -- The link as built when the tracking number was given (the mail sent then has the same link).
  tracking_url text check (tracking_url is null or (tracking_url ~* '^https?://' and length(tracking_url) <= 4000)),
  -- The value of the shipped goods (incl. VAT, after order discounts) and what was captured with this shipment.
  items_value_minor bigint not null check (items_value_minor >= 0),
  captured_minor bigint not null default 0 check (captured_minor >= 0),
  includes_shipping_fee boolean not null default false,
  -- This shipment left nothing to ship (at the time; an order edit may add lines later).
  is_last boolean not null default false,
  created_by_user_id integer references users(id),
  created_at timestamptz not null default now(),
  constraint shipments_no_unique unique (order_id, shipment_no),
  check (tracking_url is null or tracking_number <> '')
);

create table shipment_lines (
  id bigserial primary key,
  shipment_id bigint not null references shipments(id) on delete cascade,
  -- No action (checked at the end of the statement): a shipped line cannot be deleted on its own, but deleting
  -- the whole order removes its lines and its shipments together.
  order_line_id bigint not null references order_lines(id),
  quantity integer not null check (quantity > 0 and quantity <= 100000),
  value_minor bigint not null check (value_minor >= 0),
  constraint shipment_lines_line_once unique (shipment_id, order_line_id)
);
create index shipment_lines_order_line_idx on shipment_lines (order_line_id);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop table if exists shipment_lines;
drop table if exists shipments;
alter table orders drop constraint if exists orders_tracking_url_check;
alter table orders drop column if exists tracking_url;
alter table orders drop column if exists shipping_fee_captured;
alter table orders drop constraint if exists orders_shipment_status_check;
alter table orders drop column if exists shipment_status;
alter table order_lines drop constraint if exists order_lines_shipped_within_ordered;
alter table order_lines drop column if exists shipped_quantity;
drop table if exists track_and_trace_configs;
`);
  }
}
