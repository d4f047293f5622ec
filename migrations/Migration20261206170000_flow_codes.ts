import { Migration } from '@mikro-orm/migrations';

/**
 * A flow the seed made carries the seed's stable code, so the seed recognises it after staff rename it (it looked
 * flows up by name and would have added a second "Standard order flow" next to a renamed one). Flows staff create
 * have none. Existing seeded flows get their code once, here, by the name they were created with.
 */
export class Migration20261206170000_flow_codes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table flows add column code text constraint flows_code_unique unique;
update flows set code = seeded.code
  from (values ('order', 'Standard order flow', 'standard-order'), ('cart', 'Standard cart', 'standard-cart'),
               ('cart', 'B2B cart approval', 'b2b-cart-approval'), ('quote', 'Quote flow', 'standard-quote'),
               ('return', 'Return flow', 'standard-return')) as seeded(type, name, code)
 where flows.type = seeded.type and flows.name = seeded.name;
`);
  }

  override async down(): Promise<void> {
    this.addSql('alter table flows drop column code;');
  }
}
