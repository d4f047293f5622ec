/**
 * RFC 4180 CSV: comma-separated fields, CRLF after every record, a field quoted when it holds a comma, a double
 * quote, CR or LF, and quotes inside doubled.
 *
 * Spreadsheets run a cell that starts with = + - @ (and tab or CR, per OWASP) as a formula, so such a cell gets a
 * leading apostrophe: customer-typed text like `=HYPERLINK(…)` stays text when the file is opened.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export type CsvValue = string | number | null | undefined;

export function csvCell(value: CsvValue): string {
  let s = value == null ? '' : String(value);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: readonly (readonly CsvValue[])[]): string {
  return rows.map((r) => r.map(csvCell).join(',') + '\r\n').join('');
}
