import { Migration } from '@mikro-orm/migrations';

/**
 * Capturing the shipping fee ahead of the last shipment claims a `shipping_fee_capture` effect (one per order,
 * record_effects_once) and ties it to its payment operation, like a return's refund: two staff at once capture the
 * fee once, and the job that settles an operation whose answer was lost (PaymentService.recoverStale) can tell that
 * the capture it confirmed was the fee's, and mark the fee captured (ShipmentService.completeRecoveredFeeCapture).
 */
export class Migration20261207061000_shipping_fee_capture_effect extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table record_effects drop constraint record_effects_effect_check;
alter table record_effects add constraint record_effects_effect_check
  check (effect in ('void', 'restock', 'return_restock', 'return_refund', 'replacement', 'shipment_capture', 'shipping_fee_capture'));
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
delete from record_effects where effect = 'shipping_fee_capture';
alter table record_effects drop constraint record_effects_effect_check;
alter table record_effects add constraint record_effects_effect_check
  check (effect in ('void', 'restock', 'return_restock', 'return_refund', 'replacement', 'shipment_capture'));
`);
  }
}
