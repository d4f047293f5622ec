import { ADDRESS_FIELDS, type Address } from '../orders/order.entities';
import { decodeText, emptyAddress, parseDecimalMinor, type ImportItem, type ImportOrder, type ImportLine } from './csv-orders';

/**
 * Reads the XML order export (src/exports/order-xml.ts) as a stream: the text is cut into one `<order>…</order>`
 * element at a time, and only that element is parsed (a small tokenizer: elements, attributes, text, entities,
 * comments, CDATA). Memory stays at one order, whatever the file's size. Each order is reported with the line its
 * `<order` tag starts on.
 */
export interface XmlNode { name: string; attrs: Record<string, string>; children: XmlNode[]; text: string }

const ORDER_OPEN = /<order[\s>/]/g;

export async function* readXmlOrders(source: AsyncIterable<Buffer | string>, opts: { channel?: string } = {}): AsyncGenerator<ImportItem> {
  let buf = '';
  let line = 1; // line number of buf[0]
  let sawRoot = false;
  for await (const text of decodeText(source)) {
    buf += text;
    for (;;) {
      ORDER_OPEN.lastIndex = 0;
      const open = ORDER_OPEN.exec(buf);
      if (!open) break;
      if (!sawRoot) sawRoot = /<orders[\s>]/.test(buf.slice(0, open.index));
      const close = buf.indexOf('</order>', open.index);
      if (close < 0) break;
      const startLine = line + countNewlines(buf, 0, open.index);
      const end = close + '</order>'.length;
      const chunk = buf.slice(open.index, end);
      line = startLine + countNewlines(chunk, 0, chunk.length);
      buf = buf.slice(end);
      yield toItem(chunk, startLine, opts.channel);
    }
    // Keep only what may still start an order; count the lines of what is dropped.
    const keepFrom = Math.max(0, buf.lastIndexOf('<'));
    if (keepFrom > 0 && !/<order[\s>/]/.test(buf)) {
      line += countNewlines(buf, 0, keepFrom);
      if (!sawRoot) sawRoot = /<orders[\s>]/.test(buf.slice(0, keepFrom));
      buf = buf.slice(keepFrom);
    }
  }
  ORDER_OPEN.lastIndex = 0;
  const open = ORDER_OPEN.exec(buf);
  if (open) yield { kind: 'error', line: line + countNewlines(buf, 0, open.index), externalId: '', reason: 'the file ends inside an <order> element' };
  else if (!sawRoot && !/<orders[\s>/]/.test(buf)) yield { kind: 'error', line: 1, externalId: '', reason: 'not an order export: no <orders> element' };
}

function countNewlines(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = s.indexOf('\n', from); i >= 0 && i < to; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

function toItem(chunk: string, line: number, channelOption?: string): ImportItem {
  let node: XmlNode;
  try {
    node = parseElement(chunk);
  } catch (e) {
    return { kind: 'error', line, externalId: /id="([^"]*)"/.exec(chunk)?.[1] ?? '', reason: `malformed XML: ${(e as Error).message}` };
  }
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
    stateName: state?.text.trim() || undefined, stateFlow: state?.attrs.flow,
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

// ------------------------------------------------------------------------------------------------------------
// A small XML element parser for one order: enough for what renderXmlDocument writes, and strict about nesting.

const ENTITY: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return cp <= 0x10ffff ? String.fromCodePoint(cp) : m;
    }
    if (e in ENTITY) return ENTITY[e];
    throw new Error(`unknown entity ${m}`);
  });
}

const TAG = /<(\/?)([A-Za-z_][A-Za-z0-9_.-]*)((?:\s+[A-Za-z_][A-Za-z0-9_.-]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/y;
const ATTR = /([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

export function parseElement(xml: string): XmlNode {
  const stack: XmlNode[] = [];
  let root: XmlNode | null = null;
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const textEnd = lt < 0 ? xml.length : lt;
    if (textEnd > i) {
      const raw = xml.slice(i, textEnd);
      if (stack.length) stack[stack.length - 1].text += decodeEntities(raw);
      else if (raw.trim()) throw new Error('text outside the element');
    }
    if (lt < 0) break;
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt);
      if (end < 0) throw new Error('unclosed comment');
      i = end + 3;
      continue;
    }
    if (xml.startsWith('<![CDATA[', lt)) {
      const end = xml.indexOf(']]>', lt);
      if (end < 0 || !stack.length) throw new Error('bad CDATA section');
      stack[stack.length - 1].text += xml.slice(lt + 9, end);
      i = end + 3;
      continue;
    }
    TAG.lastIndex = lt;
    const m = TAG.exec(xml);
    if (!m) throw new Error(`bad tag near "${xml.slice(lt, lt + 30)}"`);
    i = TAG.lastIndex;
    const [, closing, name, attrText, selfClosing] = m;
    if (closing) {
      const top = stack.pop();
      if (!top || top.name !== name || attrText) throw new Error(`</${name}> does not close <${top?.name ?? 'nothing'}>`);
      if (!stack.length) root = top;
      continue;
    }
    const node: XmlNode = { name, attrs: {}, children: [], text: '' };
    for (const a of attrText.matchAll(ATTR)) node.attrs[a[1]] = decodeEntities(a[2] ?? a[3] ?? '');
    if (stack.length) stack[stack.length - 1].children.push(node);
    else if (root) throw new Error('more than one root element');
    if (selfClosing) { if (!stack.length) root = node; } else stack.push(node);
  }
  if (stack.length) throw new Error(`<${stack[stack.length - 1].name}> is not closed`);
  if (!root) throw new Error('no element');
  return root;
}
