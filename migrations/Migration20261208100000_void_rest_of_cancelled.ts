import { Migration } from '@mikro-orm/migrations';

/**
 * Entering a cancelled-role state voided only an untouched authorization: an order whose captures had been refunded in
 * full kept the rest of its authorization open, and capturable. Each such order already cancelled gets the void it
 * owes (VOID_OPEN_REST_OF_CANCELLED), and its payment status becomes cancelled, so nothing can be captured any more.
 */
export class Migration20261208100000_void_rest_of_cancelled extends Migration {
  override async up(): Promise<void> {
    this.addSql(VOID_OPEN_REST_OF_CANCELLED);
  }

  override async down(): Promise<void> {
    // The voids may have been made at the provider: nothing to undo.
  }
}

/** The void each such order owes, claimed once (record_effects) and left pending for the void job to make. */
export const VOID_OPEN_REST_OF_CANCELLED = `
with owed as (
  select o.id, o.authorized_minor - o.captured_minor as amount_minor from orders o join flow_states s on s.id = o.state_id
  where s.role = 'cancelled' and o.completed and o.payment_method_id is not null and o.authorized_minor > o.captured_minor
    and o.payment_status in ('partly_captured', 'partly_refunded', 'refunded')
    and not exists (select 1 from payment_operations p where p.order_id = o.id and p.status = 'pending')
), claimed as (
  insert into record_effects (order_id, effect, amount_minor) select id, 'void', amount_minor from owed
  on conflict on constraint record_effects_once do nothing returning id, order_id, amount_minor
), voids as (
  insert into payment_operations (order_id, operation, amount_minor, effect_id, actor_kind, source)
  select order_id, 'cancel', amount_minor, id, 'system', 'system' from claimed
)
update orders o set payment_status = 'cancelled' from claimed c where c.order_id = o.id;`;
