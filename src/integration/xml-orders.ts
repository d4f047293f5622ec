import { ADDRESS_FIELDS, type Address } from '../orders/order.entities';
import { XmlReader, type XmlNode } from '../shared/xml-read';
import { emptyAddress, parseDecimalMinor, type ImportItem, type ImportOrder, type ImportLine } from './csv-orders';

/**
 * Reads the XML order export (src/exports/order-xml.ts) as a stream through the SAX parser (src/shared/xml-read.ts):
 * each `<order>` element under the `<orders>` root is built as a small tree and turned into an order when it closes,
 * so memory stays at one order whatever the file's size. Each order is reported with the line its `<order` tag starts
 * on. XML that is not well-formed stops the reading at the first error (its line and column are reported; the orders
 * before it are imported).
 */
export async function* readXmlOrders(source: AsyncIterable<Buffer | string>, opts: { channel?: string } = {}): AsyncGenerator<ImportItem> {
  const done: ImportItem[] = [];
  let root: string | null = null;
  let current: { node: XmlNode; line: number } | null = null;
  const reader = new XmlReader(1, {
    open: (node, depth, line) => {
      if (depth === 0) root = node.name;
      else if (depth === 1 && node.name === 'order' && root === 'orders') current = { node, line };
    },
    close: (node) => {
      if (current?.node !== node) return;
      done.push(toItem(node, current.line, opts.channel));
      current = null;
    },
  });
  const notAnExport = (): ImportItem => ({ kind: 'error', line: 1, externalId: '', reason: 'not an order export: no <orders> element' });
  const malformed = (atEnd: boolean): ImportItem => {
    const e = reader.error!;
    return { kind: 'error', line: current?.line ?? e.line, externalId: current?.node.attrs.id ?? '',
      reason: `malformed XML at line ${e.line}, column ${e.column}: ${e.reason}${atEnd ? '' : '; the rest of the file was not read'}` };
  };
  for await (const text of decodeText(source)) {
    reader.write(text);
    yield* done.splice(0);
    if (root !== null && root !== 'orders') { yield notAnExport(); return; }
    if (reader.error) { yield malformed(false); return; }
  }
  const open = current as { node: XmlNode; line: number } | null;
  if (open) { yield { kind: 'error', line: open.line, externalId: open.node.attrs.id ?? '', reason: 'the file ends inside an <order> element' }; return; }
  reader.close();
  yield* done.splice(0);
  if (root !== 'orders') yield notAnExport();
  else if (reader.error) yield malformed(true);
}

/** Decodes UTF-8 chunks as they come (characters split across chunks included) and drops a leading BOM. */
async function* decodeText(source: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8');
  let first = true;
  for await (const chunk of source) {
    let s = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    if (first && s) { s = s.replace(/^\uFEFF/, ''); first = false; }
    if (s) yield s;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}

function toItem(node: XmlNode, line: number, channelOption?: string): ImportItem {
  try {
    return { kind: 'order', order: orderFromNode(node, line, channelOption) };
  } catch (e) {
    return { kind: 'error', line, externalId: node.attrs.id ?? '', reason: (e as Error).message };
  }
}

const child = (n: XmlNode | undefined, name: string) => n?.children.find((c) => c.name === name);
const textOf = (n: XmlNode | undefined, name: string) => child(n, name)?.text.trim() ?? '';

function address(n: XmlNode | undefined): Address {
  const a = emptyAddress();
  if (!n) return a;
  for (const f of ADDRESS_FIELDS) a[f] = textOf(n, f === 'country' ? 'countryCode' : f);
  return a;
}

function money(n: XmlNode | undefined, name: string, what: string): number {
  const v = parseDecimalMinor(textOf(n, name) || '0.00');
  if (v == null) throw new Error(`${what} is not an amount like 12.50`);
  return v;
}

function date(s: string, what: string): Date {
  const d = new Date(s);
  if (!s || Number.isNaN(d.getTime())) throw new Error(`${what} is not a date`);
  return d;
}

export function orderFromNode(o: XmlNode, line: number, channelOption?: string): ImportOrder {
  if (o.name !== 'order') throw new Error('not an <order> element');
  const number = o.attrs.id ?? '';
  const integration = child(o, 'integration');
  const wasImported = integration?.attrs.imported === 'true';
  // An order that was itself imported keeps its original source, so re-exports never duplicate it.
  const channel = (wasImported && integration?.attrs.channel) || channelOption || `shop:${textOf(o, 'shopId') || 'unknown'}`;
  const externalId = (wasImported && integration?.attrs.integrationOrderId) || number;
  if (!externalId) throw new Error('the order has no id');
  const lines: ImportLine[] = (child(o, 'lines')?.children ?? []).filter((l) => l.name === 'line').map((l, i) => {
    const what = `line ${l.attrs.position ?? i + 1}`;
    const quantity = Number(textOf(l, 'quantity'));
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > 100000) throw new Error(`${what}: quantity must be a whole number from 1 to 100000`);
    const vat = parseDecimalMinor(textOf(l, 'vatRatePercent'));
    if (vat == null || vat > 10000) throw new Error(`${what}: VAT rate is not a percentage`);
    return {
      productNumber: textOf(l, 'productNumber'), productName: textOf(l, 'productName'), quantity, unit: textOf(l, 'unit') || undefined,
      unitPriceMinor: money(l, 'unitPriceExclVat', `${what}: unit price`), vatRateBp: vat, discountMinor: money(l, 'discountExclVat', `${what}: discount`),
    };
  });
  if (!lines.length) throw new Error('the order has no lines');
  for (const [i, l] of lines.entries()) if (!l.productNumber || !l.productName) throw new Error(`line ${i + 1}: product number and name are required`);
  const totals = child(o, 'totals');
  const billing = address(child(o, 'billingAddress'));
  const delivery = address(child(o, 'deliveryAddress'));
  const state = child(o, 'state');
  const customer = child(o, 'customer');
  const createdAt = date(textOf(o, 'createdAt'), 'createdAt');
  return {
    line, channel, externalId, createdAt,
    completedAt: textOf(o, 'completedAt') ? date(textOf(o, 'completedAt'), 'completedAt') : createdAt,
    shopId: textOf(o, 'shopId') || undefined,
    stateName: state?.text.trim() || undefined, stateFlow: state?.attrs.flow, stateFlowCode: state?.attrs.flowCode,
    billing, delivery: ADDRESS_FIELDS.every((f) => delivery[f] === billing[f]) ? null : delivery,
    userEmail: textOf(customer, 'userEmail') || undefined, customerNumber: textOf(customer, 'customerNumber') || undefined,
    shippingMethodCode: child(o, 'shippingMethod')?.attrs.code, paymentMethodCode: child(o, 'paymentMethod')?.attrs.code,
    transactionNumber: textOf(o, 'transactionNumber'), voucherCode: textOf(o, 'voucherCode'), customerComment: child(o, 'customerComment')?.text ?? '',
    currencyCode: totals?.attrs.currency ?? '',
    lines,
    fees: { inclVat: true, shippingMinor: money(totals, 'shippingFeeInclVat', 'shipping fee'), paymentMinor: money(totals, 'paymentFeeInclVat', 'payment fee') },
    discountInclVatMinor: money(totals, 'discountInclVat', 'discount'),
    expectedTotalMinor: money(totals, 'totalInclVat', 'total'),
  };
}
