import { Migration } from '@mikro-orm/migrations';

/** Mail templates staff write in the admin; flow states refer to them as `db:<id>` (src/mail/mail-templates.ts). */
export class Migration20261206121300_mail_templates extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
create table mail_templates (
  id serial primary key,
  name text not null,
  body text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint mail_templates_name_check check (length(trim(name)) > 0)
);
create unique index mail_templates_name_unique on mail_templates (lower(name));
`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists mail_templates;');
  }
}
