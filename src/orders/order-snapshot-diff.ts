import { formatMoney, formatRate } from '../shared/money';
import type { OrderSnapshot, SnapshotLine } from './order-edit.entities';
import { ADDRESS_LABELS } from './order-edit-form';
import { fieldList, formatFieldValue, type FieldDefs } from './order-fields';
import { ADDRESS_FIELDS, type Address, type Order } from './order.entities';

/** An order version's snapshot, and the diff of two snapshots that the compare page and the history summary show. */
export function snapshotOf(order: Order, lineValues: Map<number, Record<string, string>>): OrderSnapshot {
  return {
    number: order.number,
    currencyCode: order.currencyCode,
    state: order.state?.name ?? null,
    billing: order.billing,
    deliverySameAsBilling: order.deliverySameAsBilling,
    delivery: order.shipTo(),
    lines: order.lines.getItems().map((l) => ({
      lineId: l.id, productNumber: l.productNumber, productName: l.productName, unit: l.unit, quantity: l.quantity,
      unitPriceMinor: Number(l.unitPriceMinor), vatRateBp: l.vatRateBp, discountMinor: Number(l.discountMinor), customFields: { ...(lineValues.get(l.id) ?? {}) },
    })),
    orderDiscountMinor: Number(order.orderDiscountMinor),
    voucherCode: order.voucherCode,
    shippingFeeMinor: Number(order.shippingFeeMinor),
    paymentFeeMinor: Number(order.paymentFeeMinor),
    customFields: { ...(order.customFields ?? {}) },
    totals: order.totals ?? null,
  };
}

export type Change = 'changed' | 'added' | 'removed' | null;
/** `derived`: a value that follows from the others (a line's amount), shown but never counted as a change. */
export interface DiffRow { label: string; old: string; current: string; change: Change; derived?: boolean }
export interface DiffSection { title: string; rows: DiffRow[] }
export interface LineDiff { title: string; productNumber: string; change: Change; rows: DiffRow[] }
export interface SnapshotDiff { sections: DiffSection[]; lines: LineDiff[]; totals: DiffSection; changes: number; summary: string[] }

const row = (label: string, old: string, current: string): DiffRow => ({ label, old, current, change: old === current ? null : 'changed' });

/** Everything order editing can change, old beside current; `changes` counts changed values outside the totals. */
export function diffSnapshots(old: OrderSnapshot, cur: OrderSnapshot, defs: FieldDefs): SnapshotDiff {
  const c = cur.currencyCode || old.currencyCode;
  const m = (minor: number | undefined | null) => (minor == null ? '—' : formatMoney(Number(minor), c));
  const text = (s: string | undefined) => (s ? s : '—');
  const summary: string[] = [];

  const address = (title: string, a: Address, b: Address, extra: DiffRow[] = []): DiffSection => ({
    title, rows: [...extra, ...ADDRESS_FIELDS.map((f) => row(ADDRESS_LABELS[f], text(a[f]), text(b[f])))],
  });
  const orderFieldList = fieldList(defs.order, old.customFields, cur.customFields);
  const sections: DiffSection[] = [
    address('Customer (billing address)', old.billing, cur.billing),
    address('Delivery address', old.delivery, cur.delivery, [row('Deliver to the billing address', old.deliverySameAsBilling ? 'Yes' : 'No', cur.deliverySameAsBilling ? 'Yes' : 'No')]),
    { title: 'Discounts and fees', rows: [
      row('Order discount excl. VAT', m(old.orderDiscountMinor), m(cur.orderDiscountMinor)),
      row('Voucher', text(old.voucherCode), text(cur.voucherCode)),
      row('Shipping fee excl. VAT', m(old.shippingFeeMinor), m(cur.shippingFeeMinor)),
      row('Payment fee excl. VAT', m(old.paymentFeeMinor), m(cur.paymentFeeMinor)),
    ] },
    { title: 'Additional information', rows: orderFieldList.map((f) => row(f.name, formatFieldValue(f.type, old.customFields[f.systemName]), formatFieldValue(f.type, cur.customFields[f.systemName]))) },
  ];
  for (const s of sections) for (const r of s.rows) if (r.change) summary.push(`${r.label} ${r.old} → ${r.current}`);

  const lineFieldList = fieldList(defs.line, ...old.lines.map((l) => l.customFields), ...cur.lines.map((l) => l.customFields));
  const gross = (snap: OrderSnapshot, i: number) => snap.totals?.lines?.[i]?.grossMinor;
  const lineRows = (a: SnapshotLine | null, ai: number, b: SnapshotLine | null, bi: number): DiffRow[] => {
    const v = (l: SnapshotLine | null, f: (l: SnapshotLine) => string) => (l ? f(l) : '—');
    const rows = [
      row('Quantity', v(a, (l) => `${l.quantity} ${l.unit}`), v(b, (l) => `${l.quantity} ${l.unit}`)),
      row('Unit price excl. VAT', v(a, (l) => m(l.unitPriceMinor)), v(b, (l) => m(l.unitPriceMinor))),
      row('Line discount', v(a, (l) => m(l.discountMinor)), v(b, (l) => m(l.discountMinor))),
      row('VAT', v(a, (l) => formatRate(l.vatRateBp)), v(b, (l) => formatRate(l.vatRateBp))),
      { ...row('Amount incl. VAT', v(a, () => m(gross(old, ai))), v(b, () => m(gross(cur, bi)))), derived: true },
      ...lineFieldList.map((f) => row(f.name, v(a, (l) => formatFieldValue(f.type, l.customFields[f.systemName])), v(b, (l) => formatFieldValue(f.type, l.customFields[f.systemName])))),
    ];
    return rows.filter((r) => !(r.old === '—' && r.current === '—'));
  };
  const lines: LineDiff[] = [];
  const curIndex = new Map(cur.lines.map((l, i) => [l.lineId, i]));
  old.lines.forEach((a, ai) => {
    const bi = curIndex.get(a.lineId);
    const b = bi == null ? null : cur.lines[bi];
    const rows = lineRows(a, ai, b, bi ?? -1);
    if (!b) {
      for (const r of rows) r.change = 'removed';
      lines.push({ title: a.productName, productNumber: a.productNumber, change: 'removed', rows });
      summary.push(`removed ${a.productName}`);
      return;
    }
    // The amount follows from the other values; only the values staff typed count as changes of the line (told apart
    // by the flag, not the label: a line field staff named "Amount incl. VAT" is typed too).
    const typed = rows.filter((r) => !r.derived && r.change);
    lines.push({ title: b.productName, productNumber: b.productNumber, change: typed.length ? 'changed' : null, rows });
    for (const r of typed) summary.push(`${b.productName}: ${r.label.toLowerCase()} ${r.old} → ${r.current}`);
  });
  const oldIds = new Set(old.lines.map((l) => l.lineId));
  cur.lines.forEach((b, bi) => {
    if (oldIds.has(b.lineId)) return;
    const rows = lineRows(null, -1, b, bi);
    for (const r of rows) r.change = 'added';
    lines.push({ title: b.productName, productNumber: b.productNumber, change: 'added', rows });
    summary.push(`added ${b.quantity} × ${b.productName}`);
  });

  const t = (snap: OrderSnapshot) => snap.totals;
  const totals: DiffSection = { title: 'Totals', rows: [
    row('Subtotal', m(t(old)?.subtotalMinor), m(t(cur)?.subtotalMinor)),
    row('Discount', m(t(old)?.discountMinor), m(t(cur)?.discountMinor)),
    row('Shipping', m(t(old)?.shippingFeeInclVatMinor), m(t(cur)?.shippingFeeInclVatMinor)),
    row('Payment fee', m(t(old)?.paymentFeeInclVatMinor), m(t(cur)?.paymentFeeInclVatMinor)),
    row('Total excl. VAT', m(t(old)?.totalExclVatMinor), m(t(cur)?.totalExclVatMinor)),
    row('VAT', m(t(old)?.vatMinor), m(t(cur)?.vatMinor)),
    row('Total incl. VAT', m(t(old)?.totalMinor), m(t(cur)?.totalMinor)),
  ] };
  if (summary.length) {
    const total = totals.rows[totals.rows.length - 1];
    if (total.change) summary.push(`total ${total.old} → ${total.current}`);
  }
  const changes = summary.length;
  return { sections, lines, totals, changes, summary };
}
