import { Migration } from '@mikro-orm/migrations';

/**
 * Export settings staff change in the admin (/admin/settings/export): one row. An empty folder means EXPORT_DIR, no
 * stored stylesheet means EXPORT_XSL (if set) — the environment stays the default. Outbox mails may carry
 * attachments (the exported XML): a JSON array of { filename, contentType, contentBase64 }.
 */
export class Migration20261206121000_export_settings extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create table export_settings (
  id smallint primary key default 1,
  enabled boolean not null default true,
  folder text not null default '',
  xsl_file_name text not null default '',
  xsl_source text,
  notify_email text not null default '',
  updated_at timestamptz not null default now(),
  constraint export_settings_one_row check (id = 1),
  constraint export_settings_xsl_named check ((xsl_source is null) = (xsl_file_name = ''))
);
insert into export_settings (id) values (1);
alter table outbox_messages add column attachments jsonb not null default '[]';
`);
  }

  override async down(): Promise<void> {
    this.addSql('alter table outbox_messages drop column if exists attachments;');
    this.addSql('drop table if exists export_settings;');
  }
}
