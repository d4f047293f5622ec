import { Migration } from '@mikro-orm/migrations';

/** Returns (RMA): which lines and how many come back, why, the wished resolution, and the return's own history. */
export class Migration20261124190000_returns extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create sequence return_number_seq start 1;
create table returns (
  id bigserial primary key,
  number text not null unique,
  order_id bigint not null references orders(id),
  user_id integer references users(id),
  company_id integer references companies(id),
  state_id integer not null references flow_states(id),
  reason text not null check (length(reason) between 1 and 60),
  comment text not null default '',
  resolution text not null check (resolution in ('refund', 'replacement')),
  refunded_minor bigint not null default 0 check (refunded_minor >= 0),
  replacement_order_id bigint references orders(id),
  goods_received boolean not null default false,
  version integer not null default 1,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index returns_order_idx on returns (order_id);
create index returns_user_idx on returns (user_id, created_at desc);
create table return_lines (
  id bigserial primary key,
  return_id bigint not null references returns(id) on delete cascade,
  order_line_id bigint not null references order_lines(id),
  quantity integer not null check (quantity > 0),
  restocked_location_id integer references stock_locations(id),
  unique (return_id, order_line_id)
);
create index return_lines_order_line_idx on return_lines (order_line_id);
create table return_history (
  id bigserial primary key,
  return_id bigint not null references returns(id) on delete cascade,
  event text not null,
  from_state_id integer references flow_states(id),
  to_state_id integer references flow_states(id),
  message text not null default '',
  actor_user_id integer references users(id),
  actor_kind text not null check (actor_kind in ('staff', 'buyer', 'customer', 'system')),
  created_at timestamptz not null default now()
);
create index return_history_return_idx on return_history (return_id, id);
`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table return_history, return_lines, returns; drop sequence return_number_seq;');
  }
}
