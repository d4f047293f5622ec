/**
 * RFC 4180 CSV: comma-separated fields, CRLF after every record, a field quoted when it holds a comma, a double
 * quote, CR or LF, and quotes inside doubled.
 *
 * Spreadsheets run a cell that starts with = + - @ (and tab or CR, per OWASP) as a formula, so such a cell gets a
 * leading apostrophe: customer-typed text like `=HYPERLINK(…)` stays text when the file is opened.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/** A number we formatted ourselves (e.g. "1234.50"): written as it is, never guarded as text. */
export interface CsvNumber { decimal: string }
export type CsvValue = string | number | CsvNumber | null | undefined;

/** One field: text is guarded against formulas, numbers are written as they are. */
export function csvCell(value: CsvValue): string {
  let s: string;
  if (value == null) s = '';
  else if (typeof value === 'number') s = String(value);
  else if (typeof value === 'object') s = value.decimal;
  else s = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: readonly (readonly CsvValue[])[]): string {
  return rows.map((r) => r.map(csvCell).join(',') + '\r\n').join('');
}
