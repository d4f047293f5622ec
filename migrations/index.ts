import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261124100000_initial } from './Migration20261124100000_initial';
import { Migration20261124110000_flows } from './Migration20261124110000_flows';
import { Migration20261124140000_quotes } from './Migration20261124140000_quotes';
import { Migration20261124150000_shipments } from './Migration20261124150000_shipments';
import { Migration20261124160000_order_list } from './Migration20261124160000_order_list';
import { Migration20261124170000_order_editing } from './Migration20261124170000_order_editing';
import { Migration20261124180000_recurring } from './Migration20261124180000_recurring';
import { Migration20261124190000_returns } from './Migration20261124190000_returns';
import { Migration20261124200000_api } from './Migration20261124200000_api';
import { Migration20261124210000_import } from './Migration20261124210000_import';
import { Migration20261124220000_order_export } from './Migration20261124220000_order_export';
import { Migration20261124230000_context_date } from './Migration20261124230000_context_date';
import { Migration20261206010000_flow_integrity } from './Migration20261206010000_flow_integrity';
import { Migration20261206020000_move_permissions } from './Migration20261206020000_move_permissions';
import { Migration20261206121000_export_settings } from './Migration20261206121000_export_settings';
import { Migration20261206121100_staff_roles } from './Migration20261206121100_staff_roles';
import { Migration20261206121200_vat_on_one_line } from './Migration20261206121200_vat_on_one_line';
import { Migration20261206121300_mail_templates } from './Migration20261206121300_mail_templates';
import { Migration20261206070000_catalog_admin } from './Migration20261206070000_catalog_admin';
import { Migration20261206080000_payment_attempts } from './Migration20261206080000_payment_attempts';
import { Migration20261206050000_payment_status_captured } from './Migration20261206050000_payment_status_captured';

/** Migrations are listed explicitly so they load the same way under tsx, jest and plain node. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261124100000_initial', class: Migration20261124100000_initial },
  { name: 'Migration20261124110000_flows', class: Migration20261124110000_flows },
  { name: 'Migration20261124140000_quotes', class: Migration20261124140000_quotes },
  { name: 'Migration20261124150000_shipments', class: Migration20261124150000_shipments },
  { name: 'Migration20261124160000_order_list', class: Migration20261124160000_order_list },
  { name: 'Migration20261124170000_order_editing', class: Migration20261124170000_order_editing },
  { name: 'Migration20261124180000_recurring', class: Migration20261124180000_recurring },
  { name: 'Migration20261124190000_returns', class: Migration20261124190000_returns },
  { name: 'Migration20261124200000_api', class: Migration20261124200000_api },
  { name: 'Migration20261124210000_import', class: Migration20261124210000_import },
  { name: 'Migration20261124220000_order_export', class: Migration20261124220000_order_export },
  { name: 'Migration20261124230000_context_date', class: Migration20261124230000_context_date },
  { name: 'Migration20261206010000_flow_integrity', class: Migration20261206010000_flow_integrity },
  { name: 'Migration20261206020000_move_permissions', class: Migration20261206020000_move_permissions },
  { name: 'Migration20261206070000_catalog_admin', class: Migration20261206070000_catalog_admin },
  { name: 'Migration20261206080000_payment_attempts', class: Migration20261206080000_payment_attempts },
  { name: 'Migration20261206050000_payment_status_captured', class: Migration20261206050000_payment_status_captured },
  { name: 'Migration20261206121000_export_settings', class: Migration20261206121000_export_settings },
  { name: 'Migration20261206121100_staff_roles', class: Migration20261206121100_staff_roles },
  { name: 'Migration20261206121200_vat_on_one_line', class: Migration20261206121200_vat_on_one_line },
  { name: 'Migration20261206121300_mail_templates', class: Migration20261206121300_mail_templates },
];
