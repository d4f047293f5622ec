import type { Address } from '../orders/order.entities';
import { toCsv } from './csv';

/** One parcel to label: the order number is the parcel reference the carrier prints and reports back. */
export interface ShipmentInput { number: string; delivery: Address }

/**
 * Columns of the GLS-style import file (GLS Interline reads one shipment per row). The weight is a placeholder of
 * 1 kg: products carry no weight yet, so staff correct heavy parcels in the carrier's tool.
 */
export const GLS_COLUMNS = ['Reference', 'Name', 'Company', 'Address 1', 'Address 2', 'Zip', 'City', 'Country code', 'Phone', 'E-mail', 'Weight (kg)'] as const;
export const PLACEHOLDER_WEIGHT_KG = '1.0';

/** The shipping documents file for the selected orders: a header row, then one row per order. */
export function glsShippingCsv(orders: readonly ShipmentInput[]): string {
  const rows = orders.map(({ number, delivery: d }) => [
    number, d.name, d.company, d.address, d.address2, d.zip, d.city, d.country.trim().toUpperCase(), d.phone, d.email, PLACEHOLDER_WEIGHT_KG,
  ]);
  return toCsv([[...GLS_COLUMNS], ...rows]);
}
