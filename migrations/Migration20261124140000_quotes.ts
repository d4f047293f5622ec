import { Migration } from '@mikro-orm/migrations';

/** Quotes: an offer with an expiry, a message, a staff order discount, the customer's answer, and versions of every edit. */
export class Migration20261124140000_quotes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create sequence quote_number_seq start 1;
alter table orders add column order_discount_minor bigint not null default 0 check (order_discount_minor >= 0);
alter table orders add column quote_expires_on date;
alter table orders add column quote_message text not null default '';
alter table orders add column quote_offered_at timestamptz;
alter table orders add column quote_answer text check (quote_answer in ('accepted', 'rejected'));
alter table orders add column quote_reject_reason text not null default '';
alter table orders add column quote_number text;
create table quote_versions (
  id bigserial primary key,
  order_id bigint not null references orders(id) on delete cascade,
  version_no integer not null check (version_no > 0),
  snapshot jsonb not null,
  created_by_user_id integer references users(id),
  note text not null default '',
  created_at timestamptz not null default now(),
  unique (order_id, version_no)
);
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
drop table quote_versions;
alter table orders drop column quote_number, drop column quote_reject_reason, drop column quote_answer, drop column quote_offered_at,
  drop column quote_message, drop column quote_expires_on, drop column order_discount_minor;
drop sequence quote_number_seq;
`);
  }
}
