import { Migration } from '@mikro-orm/migrations';

/**
 * Staff roles (a staff user's role in the back office; not the company roles of B2B buyers): administrator or order
 * clerk. Existing staff become administrators; a staff user without a role counts as an order clerk (least
 * privilege). Administrators may do everything; what order clerks may do is a setting (`staff_role_permissions`,
 * one row per granted permission). The per-user `can_edit_orders` flag gives way to the role's "edit orders".
 */
export class Migration20261206121100_staff_roles extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table users add column staff_role text;
update users set staff_role = 'administrator' where role = 'staff';
alter table users add constraint users_staff_role_check check (staff_role is null or (role = 'staff' and staff_role in ('administrator', 'order_clerk')));
create table staff_role_permissions (
  staff_role text not null,
  permission text not null,
  constraint staff_role_permissions_pkey primary key (staff_role, permission),
  constraint staff_role_permissions_role_check check (staff_role in ('order_clerk')),
  constraint staff_role_permissions_permission_check check (permission in ('order.edit', 'order.delete', 'payment.capture', 'payment.refund', 'settings.flows', 'settings.shop'))
);
insert into staff_role_permissions (staff_role, permission) values ('order_clerk', 'order.edit'), ('order_clerk', 'payment.capture');
alter table users drop column can_edit_orders;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
alter table users add column can_edit_orders boolean not null default true;
drop table if exists staff_role_permissions;
alter table users drop constraint if exists users_staff_role_check;
alter table users drop column if exists staff_role;
`);
  }
}
