import { Readable, type TransformOptions } from 'node:stream';
import { CsvError, parse, type Info, type Options } from 'csv-parse';
import { ADDRESS_FIELDS, Address } from '../orders/order.entities';

/** One order read from a file, before it is priced and stored. Money is integer minor units. */
export interface ImportLine { productNumber: string; productName: string; quantity: number; unit?: string; unitPriceMinor: number; vatRateBp: number; discountMinor: number }
export interface ImportOrder {
  /** The line of the file the order starts on (CSV: its first row). */
  line: number;
  channel: string;
  externalId: string;
  createdAt: Date;
  completedAt: Date;
  shopId?: string;
  stateName?: string;
  stateFlow?: string;
  /** The flow's stable code (XML `flowCode`), tried before its name. */
  stateFlowCode?: string;
  billing: Address;
  /** null: delivered to the billing address. */
  delivery: Address | null;
  userEmail?: string;
  customerNumber?: string;
  shippingMethodCode?: string;
  paymentMethodCode?: string;
  transactionNumber: string;
  voucherCode: string;
  customerComment: string;
  currencyCode: string;
  lines: ImportLine[];
  /** CSV gives fees excl. VAT; the XML export gives them incl. VAT (at the shop's standard rate). */
  fees: { inclVat: boolean; shippingMinor: number; paymentMinor: number };
  /** XML: the order-level discount incl. VAT (voucher and staff discounts), applied as an amount off the goods. */
  discountInclVatMinor: number;
  /** XML: the total the exporting shop charged; the import refuses an order whose recomputed total differs. */
  expectedTotalMinor?: number;
}
export type ImportItem = { kind: 'order'; order: ImportOrder } | { kind: 'error'; line: number; externalId: string; reason: string };

export function emptyAddress(): Address {
  return new Address();
}

/** "1234.5" / "-12.50" / "25" → minor units (×100), integers only; null when it is not such a number. */
export function parseDecimalMinor(s: string): number | null {
  const m = /^\s*(-?)(\d{1,13})(?:\.(\d{1,2}))?\s*$/.exec(s);
  if (!m) return null;
  const v = Number(m[2]) * 100 + Number((m[3] ?? '0').padEnd(2, '0'));
  return m[1] ? -v : v;
}

// ------------------------------------------------------------------------------------------------------------
// RFC 4180 records through csv-parse (streaming): quoted fields with commas, doubled quotes and line breaks; CRLF,
// LF or CR, mixed too. Each record carries the line it starts on, counted here from what csv-parse reads (its own
// counter counts a quoted CRLF as two lines): the line after the previous record, plus skipped blank lines.

export interface CsvRecord { line: number; fields: string[] }

const LINE_BREAK = /\r\n|\r|\n/g;

export async function* readCsvRecords(source: AsyncIterable<Buffer | string>): AsyncGenerator<CsvRecord> {
  // autoDestroy off: a syntax error near the end must not throw away the records csv-parse has already read.
  const options: Options & TransformOptions = {
    bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, info: true,
    record_delimiter: ['\r\n', '\n', '\r'], autoDestroy: false,
  };
  const parser = Readable.from(source, { objectMode: false }).pipe(parse(options));
  let next = 1; // the line the next record starts on, before blank lines
  let blanks = 0; // csv-parse's count of skipped blank lines so far
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: Info }>) {
      const line = next + info.empty_lines - blanks;
      blanks = info.empty_lines;
      next = line + 1 + record.reduce((n, f) => n + (f.match(LINE_BREAK)?.length ?? 0), 0);
      yield { line, fields: record };
    }
  } catch (e) {
    if (!(e instanceof CsvError)) throw e;
    const line = next + (e as CsvError & { empty_lines: number }).empty_lines - blanks;
    throw new CsvSyntaxError(line, e.code === 'CSV_QUOTE_NOT_CLOSED' ? 'the file ends inside a quoted field' : `malformed CSV: ${e.message}`);
  } finally {
    parser.destroy();
  }
}

export class CsvSyntaxError extends Error {
  constructor(readonly line: number, message: string) { super(message); }
}

// ------------------------------------------------------------------------------------------------------------
// The order CSV: one row per order line, rows of one order one after another.

export const CSV_REQUIRED = ['channel', 'external_id', 'created_at', 'customer_email', 'billing_name', 'billing_address', 'billing_zip', 'billing_city',
  'billing_country', 'product_number', 'product_name', 'quantity', 'unit_price_minor', 'vat_rate_bp', 'shipping_fee_minor', 'payment_fee_minor', 'currency_code'] as const;
const ADDRESS_COLUMNS = ADDRESS_FIELDS.flatMap((f) => [`billing_${f}`, `delivery_${f}`]);
export const CSV_OPTIONAL = [...ADDRESS_COLUMNS.filter((c) => !(CSV_REQUIRED as readonly string[]).includes(c)), 'state_name', 'unit', 'discount_minor', 'customer_comment'];
/** Order-level columns: every row of an order must repeat the same values. */
const ORDER_COLUMNS = ['channel', 'external_id', 'created_at', 'customer_email', ...ADDRESS_COLUMNS, 'state_name', 'shipping_fee_minor', 'payment_fee_minor', 'currency_code', 'customer_comment'];

const INT = /^\s*\d{1,15}\s*$/;

export async function* readCsvOrders(source: AsyncIterable<Buffer | string>, opts: { channel?: string } = {}): AsyncGenerator<ImportItem> {
  let columns: Map<string, number> | null = null;
  let current: { key: string; rows: { line: number; get: (c: string) => string }[]; errors: { line: number; reason: string }[] } | null = null;

  function* finish(): Generator<ImportItem> {
    if (!current) return;
    const c = current;
    current = null;
    if (c.errors.length) {
      const externalId = c.rows[0]?.get('external_id') ?? '';
      for (const e of c.errors) yield { kind: 'error', line: e.line, externalId, reason: e.reason };
      return;
    }
    yield { kind: 'order', order: toOrder(c.rows, opts.channel) };
  }

  try {
    for await (const rec of readCsvRecords(source)) {
      if (!columns) {
        columns = new Map(rec.fields.map((h, i) => [h.trim().toLowerCase(), i]));
        const missing = CSV_REQUIRED.filter((c) => !columns!.has(c));
        if (missing.length) {
          yield { kind: 'error', line: rec.line, externalId: '', reason: `the header row lacks the column(s) ${missing.join(', ')}; no order was read` };
          return;
        }
        continue;
      }
      const cols = columns;
      const fields = rec.fields;
      const get = (c: string) => { const i = cols.get(c); return i == null ? '' : (fields[i] ?? '').trim(); };
      const channel = get('channel') || opts.channel || '';
      const key = `${channel}\u0000${get('external_id')}`;
      if (!current || current.key !== key) {
        yield* finish();
        current = { key, rows: [], errors: [] };
      }
      const row = { line: rec.line, get };
      const reason = rowProblem(row.get, channel, fields.length, cols.size) ?? (current.rows[0] ? differsFrom(current.rows[0], row) : null);
      current.rows.push(row);
      if (reason) current.errors.push({ line: rec.line, reason });
    }
  } catch (e) {
    if (e instanceof CsvSyntaxError) {
      yield* finish();
      yield { kind: 'error', line: e.line, externalId: '', reason: e.message };
      return;
    }
    throw e;
  }
  if (!columns) { yield { kind: 'error', line: 1, externalId: '', reason: 'the file is empty: a header row is needed' }; return; }
  yield* finish();
}

function rowProblem(get: (c: string) => string, channel: string, width: number, headerWidth: number): string | null {
  if (width !== headerWidth) return `the row has ${width} fields, the header ${headerWidth}`;
  if (!channel) return 'channel is empty (give the column or --channel)';
  if (!get('external_id')) return 'external_id is empty';
  if (get('external_id').length > 200) return 'external_id is longer than 200 characters';
  if (Number.isNaN(parseDate(get('created_at')).getTime())) return 'created_at is not a date like 2026-11-24 or 2026-11-24T10:30:00Z';
  for (const c of ['billing_name', 'billing_address', 'billing_zip', 'billing_city', 'billing_country', 'product_number', 'product_name']) if (!get(c)) return `${c} is empty`;
  if (!/^[^\s@]+@[^\s@]+$/.test(get('customer_email'))) return 'customer_email is not an e-mail address';
  const q = get('quantity');
  if (!INT.test(q) || Number(q) < 1 || Number(q) > 100000) return 'quantity must be a whole number from 1 to 100000';
  for (const c of ['unit_price_minor', 'shipping_fee_minor', 'payment_fee_minor']) if (!INT.test(get(c)) || !Number.isSafeInteger(Number(get(c)))) return `${c} must be a whole number of minor units (øre, cents), not negative`;
  if (get('discount_minor') && !INT.test(get('discount_minor'))) return 'discount_minor must be a whole number of minor units';
  if (!INT.test(get('vat_rate_bp')) || Number(get('vat_rate_bp')) > 10000) return 'vat_rate_bp must be basis points from 0 to 10000 (2500 = 25 %)';
  if (!/^[A-Za-z]{3}$/.test(get('currency_code'))) return 'currency_code must be a 3-letter code';
  return null;
}

function differsFrom(first: { line: number; get: (c: string) => string }, row: { get: (c: string) => string }): string | null {
  const c = ORDER_COLUMNS.find((col) => first.get(col) !== row.get(col));
  return c ? `${c} differs from line ${first.line} of the same order (order-level columns must repeat on every line)` : null;
}

/** ISO 8601; a date alone is midnight UTC. */
function parseDate(s: string): Date {
  return /^\d{4}-\d{2}-\d{2}$/.test(s) ? new Date(`${s}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(s) ? new Date(s) : new Date(NaN);
}

function toOrder(rows: { line: number; get: (c: string) => string }[], channelOption?: string): ImportOrder {
  const g = rows[0].get;
  const billing = emptyAddress();
  const delivery = emptyAddress();
  for (const f of ADDRESS_FIELDS) { billing[f] = g(`billing_${f}`); delivery[f] = g(`delivery_${f}`); }
  if (!billing.email) billing.email = g('customer_email');
  const hasDelivery = ADDRESS_FIELDS.some((f) => f !== 'email' && delivery[f] !== '');
  const createdAt = parseDate(g('created_at'));
  return {
    line: rows[0].line,
    channel: g('channel') || channelOption || '',
    externalId: g('external_id'),
    createdAt, completedAt: createdAt,
    stateName: g('state_name') || undefined,
    billing, delivery: hasDelivery ? delivery : null,
    transactionNumber: '', voucherCode: '', customerComment: g('customer_comment'),
    currencyCode: g('currency_code').toUpperCase(),
    lines: rows.map((r) => ({
      productNumber: r.get('product_number'), productName: r.get('product_name'), quantity: Number(r.get('quantity')), unit: r.get('unit') || undefined,
      unitPriceMinor: Number(r.get('unit_price_minor')), vatRateBp: Number(r.get('vat_rate_bp')), discountMinor: Number(r.get('discount_minor') || 0),
    })),
    fees: { inclVat: false, shippingMinor: Number(g('shipping_fee_minor')), paymentMinor: Number(g('payment_fee_minor')) },
    discountInclVatMinor: 0,
  };
}
