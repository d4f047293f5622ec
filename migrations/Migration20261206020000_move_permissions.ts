import { Migration } from '@mikro-orm/migrations';

/**
 * Who may make each move. Company users get company roles (buyer, approver, company admin) and an optional spend
 * limit; each transition rule lists the customers who may make it (staff may make every move the rules allow);
 * a cart remembers who submitted it for approval, so that person can never approve it.
 *
 * Defaults for existing rules, keyed on the allow-order flag, never on names: rules of cart and quote flows stay open
 * to the record's owner and the company's buyers and approvers (as before); rules leaving a cart state that waits for
 * approval (it does not allow ordering but a rule leads from it to one that does) are the approver's; order and
 * return rules are staff-only.
 */
export class Migration20261206020000_move_permissions extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table users
  add column company_roles text[] not null default '{}',
  add column spend_limit_minor bigint,
  add constraint users_company_roles_check check (company_roles <@ array['buyer', 'approver', 'admin']::text[]),
  add constraint users_company_roles_company_check check (cardinality(company_roles) = 0 or company_id is not null),
  add constraint users_spend_limit_check check (spend_limit_minor is null or (spend_limit_minor >= 0 and company_id is not null));
update users set company_roles = '{buyer}' where role = 'buyer' and company_id is not null;

alter table flow_state_rules
  add column actors text[] not null default '{}',
  add constraint flow_state_rules_actors_check check (actors <@ array['owner', 'buyer', 'approver']::text[]);
update flow_state_rules r set actors = '{owner,buyer,approver}'
  from flow_states s join flows f on f.id = s.flow_id
  where s.id = r.from_state_id and f.type in ('cart', 'quote');
update flow_state_rules set actors = '{approver}' where from_state_id in (
  select r.from_state_id from flow_state_rules r
  join flow_states a on a.id = r.from_state_id join flow_states b on b.id = r.to_state_id join flows f on f.id = a.flow_id
  where f.type = 'cart' and not a.allow_order and b.allow_order);

alter table orders add column submitted_by_user_id integer references users(id) on delete set null;
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
alter table orders drop column if exists submitted_by_user_id;
alter table flow_state_rules drop column if exists actors;
alter table users drop column if exists company_roles, drop column if exists spend_limit_minor;
`);
  }
}
