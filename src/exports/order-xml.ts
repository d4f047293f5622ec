import type { Address, Order } from '../orders/order.entities';
import { formatDecimal, vatOf } from '../shared/money';
import { el, renderXmlDocument, type XmlElement } from './xml';


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
      el('unitPriceExclVat', formatDecimal(l.unitPriceMinor)), el('vatRatePercent', (l.vatRateBp / 100).toString()),
      el('discountExclVat', formatDecimal(l.discountMinor)), el('amountInclVat', formatDecimal(gross)),
    ], { position: i + 1 });
  });
  return el('order', [
    el('shopId', o.shop.id),
    el('createdAt', iso(o.createdAt)),
    el('completed', o.completed),
    el('completedAt', iso(o.completedAt)),
    // The flow's stable code beside its name (seeded flows have one): an import finds the flow after staff renamed it.
    o.state ? el('state', o.state.name, { flow: o.state.flow?.name, flowCode: o.state.flow?.code }) : null,
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
      el('subtotalInclVat', formatDecimal(t?.subtotalMinor ?? o.subtotalMinor)),
      el('discountInclVat', formatDecimal(t?.discountMinor ?? o.discountMinor)),
      el('shippingFeeInclVat', formatDecimal(t?.shippingFeeInclVatMinor ?? o.shippingFeeMinor)),
      el('paymentFeeInclVat', formatDecimal(t?.paymentFeeInclVatMinor ?? o.paymentFeeMinor)),
      el('totalExclVat', formatDecimal(o.totalExclVatMinor)),
      el('vat', formatDecimal(o.vatMinor)),
      el('totalInclVat', formatDecimal(o.totalMinor)),
    ], { currency: o.currencyCode }),
  ], { id: o.number });
}

/** One XML document for the selected orders: header fields, addresses, lines and totals per order. */
export function ordersXml(orders: readonly Order[], exportedAt: Date): string {
  return renderXmlDocument(el('orders', orders.map(orderElement), { exportedAt: exportedAt.toISOString(), count: orders.length }));
}
