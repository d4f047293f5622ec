import { Migration } from '@mikro-orm/migrations';

/**
 * A recurring run is `placing` while its order is reserved and the payment provider is asked outside any transaction
 * (src/recurring/scheduler.ts): created or failed once it is confirmed or released.
 */
export class Migration20261206163000_recurring_placing extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
alter table recurring_runs drop constraint recurring_runs_status_check,
  add constraint recurring_runs_status_check check (status in ('created', 'failed', 'skipped', 'placing'));
`);
  }

  override async down(): Promise<void> {
    this.addSql(`
alter table recurring_runs drop constraint recurring_runs_status_check,
  add constraint recurring_runs_status_check check (status in ('created', 'failed', 'skipped'));
`);
  }
}
