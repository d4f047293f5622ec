import type { Address, Order } from '../orders/order.entities';
import { vatOf } from '../shared/money';
import { el, renderXmlDocument, type XmlElement } from './xml';

/** Minor units as a plain decimal ("1234.50"), the way integrations read amounts; integers only, no floats. */
export function decimal(minor: number): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

function address(name: string, a: Address): XmlElement {
  return el(name, [
    el('name', a.name), el('company', a.company), el('address', a.address), el('address2', a.address2), el('zip', a.zip),
    el('city', a.city), el('region', a.region), el('countryCode', a.country), el('phone', a.phone), el('email', a.email),
  ]);
}

function orderElement(o: Order): XmlElement {
  const t = o.totals;
  const lines = o.lines.getItems().map((l, i) => {
    const net = Math.max(0, l.quantity * l.unitPriceMinor - l.discountMinor);
    const gross = t?.lines?.[i]?.grossMinor ?? net + vatOf(net, l.vatRateBp);
    return el('line', [
      el('productNumber', l.productNumber), el('productName', l.productName), el('quantity', l.quantity), el('unit', l.unit),
      el('unitPriceExclVat', decimal(l.unitPriceMinor)), el('vatRatePercent', (l.vatRateBp / 100).toString()),
      el('discountExclVat', decimal(l.discountMinor)), el('amountInclVat', decimal(gross)),
    ], { position: i + 1 });
  });
  return el('order', [
    el('shopId', o.shop.id),
    el('createdAt', iso(o.createdAt)),
    el('completed', o.completed),
    el('completedAt', iso(o.completedAt)),
    o.state ? el('state', o.state.name, { flow: o.state.flow?.name }) : null,
    el('customer', [
      el('userEmail', o.user?.email), el('customerNumber', o.company?.customerNumber), el('companyName', o.company?.name),
    ]),
    address('billingAddress', o.billing),
    address('deliveryAddress', o.shipTo()),
    o.shippingMethod ? el('shippingMethod', o.shippingMethod.name, { code: o.shippingMethod.code }) : null,
    o.paymentMethod ? el('paymentMethod', o.paymentMethod.name, { code: o.paymentMethod.code }) : null,
    el('captureState', o.captureState),
    el('transactionNumber', o.transactionNumber),
    el('voucherCode', o.voucherCode),
    el('customerComment', o.customerComment),
    el('integration', undefined, { imported: o.imported, channel: o.channel, integrationOrderId: o.integrationOrderId }),
    el('lines', lines, { count: lines.length }),
    el('totals', [
      el('subtotalInclVat', decimal(t?.subtotalMinor ?? o.subtotalMinor)),
      el('discountInclVat', decimal(t?.discountMinor ?? o.discountMinor)),
      el('shippingFeeInclVat', decimal(t?.shippingFeeInclVatMinor ?? o.shippingFeeMinor)),
      el('paymentFeeInclVat', decimal(t?.paymentFeeInclVatMinor ?? o.paymentFeeMinor)),
      el('totalExclVat', decimal(o.totalExclVatMinor)),
      el('vat', decimal(o.vatMinor)),
      el('totalInclVat', decimal(o.totalMinor)),
    ], { currency: o.currencyCode }),
  ], { id: o.number });
}

/** One XML document for the selected orders: header fields, addresses, lines and totals per order. */
export function ordersXml(orders: readonly Order[], exportedAt: Date): string {
  return renderXmlDocument(el('orders', orders.map(orderElement), { exportedAt: exportedAt.toISOString(), count: orders.length }));
}
