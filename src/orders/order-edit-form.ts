import { formatDecimal } from '../shared/money';
import type { FieldDefs } from './order-fields';
import { ADDRESS_FIELDS, type Address, type AddressField, type Order, type OrderLine } from './order.entities';

/** The staff edit form's values and labels, by input name. */
export const ADDRESS_LABELS: Record<AddressField, string> = {
  name: 'Full name', company: 'Company', address: 'Street address', address2: 'Address line 2', zip: 'Postal code',
  city: 'City', country: 'Country', region: 'Region', phone: 'Phone', email: 'E-mail',
};

const asInput = formatDecimal;

/** The edit form's values by input name, as the order is now. */
export function editFormValues(order: Order, lineValues: Map<number, Record<string, string>>): Record<string, string> {
  const v: Record<string, string> = { version: String(order.version) };
  for (const l of order.lines.getItems()) {
    v[`line_${l.id}_quantity`] = String(l.quantity);
    v[`line_${l.id}_unitPrice`] = asInput(l.unitPriceMinor);
    v[`line_${l.id}_discount`] = asInput(l.discountMinor);
  }
  const billing = order.billing;
  const delivery = order.deliverySameAsBilling ? ({} as Partial<Address>) : order.delivery;
  for (const f of ADDRESS_FIELDS) {
    v[`billing_${f}`] = billing[f];
    v[`delivery_${f}`] = delivery[f] ?? '';
  }
  v.deliverySameAsBilling = order.deliverySameAsBilling ? 'on' : '';
  v.orderDiscount = asInput(order.orderDiscountMinor);
  return { ...v, ...fieldFormValues(order, lineValues) };
}

export function fieldFormValues(order: Order, lineValues: Map<number, Record<string, string>>): Record<string, string> {
  const v: Record<string, string> = { version: String(order.version) };
  for (const [k, val] of Object.entries(order.customFields ?? {})) v[`order_field_${k}`] = val;
  for (const [id, fields] of lineValues) for (const [k, val] of Object.entries(fields)) v[`line_${id}_field_${k}`] = val;
  return v;
}

/** What each input is called on the page, so a message names the field the way the form does. */
export function editFormLabels(lines: OrderLine[], defs: FieldDefs): Record<string, string> {
  const labels: Record<string, string> = {
    addProductNumber: 'Product number to add', addQuantity: 'Quantity to add', addUnitPrice: 'Unit price of the added product',
    addDiscount: 'Line discount on the added product', orderDiscount: 'Order discount', version: 'Version', note: 'Note', lines: 'Lines', _: 'The order',
  };
  for (const l of lines) {
    labels[`line_${l.id}_quantity`] = `Quantity of ${l.productName}`;
    labels[`line_${l.id}_unitPrice`] = `Unit price of ${l.productName}`;
    labels[`line_${l.id}_discount`] = `Line discount on ${l.productName}`;
    for (const d of defs.line) labels[`line_${l.id}_field_${d.systemName}`] = `${d.name} (${l.productName})`;
  }
  for (const f of ADDRESS_FIELDS) {
    labels[`billing_${f}`] = `Billing ${ADDRESS_LABELS[f].toLowerCase()}`;
    labels[`delivery_${f}`] = `Delivery ${ADDRESS_LABELS[f].toLowerCase()}`;
  }
  for (const d of defs.order) labels[`order_field_${d.systemName}`] = d.name;
  return labels;
}
