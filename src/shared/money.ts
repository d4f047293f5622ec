/**
 * Money is integer minor units (øre, cents) end to end. VAT rates are basis points: 2500 = 25 %.
 * All rounding happens here, half away from zero, on integers only.
 */

/** Rounds numerator/denominator to the nearest integer, halves away from zero, without floats. */
export function divRound(numerator: number, denominator: number): number {
  if (!Number.isSafeInteger(numerator) || !Number.isSafeInteger(denominator) || denominator === 0) {
    throw new RangeError(`divRound needs safe integers, got ${numerator}/${denominator}`);
  }
  const sign = Math.sign(numerator) * Math.sign(denominator);
  const n = Math.abs(numerator);
  const d = Math.abs(denominator);
  const q = Math.floor(n / d);
  const r = n - q * d;
  return sign * (2 * r >= d ? q + 1 : q);
}

/** VAT on a net amount at a rate in basis points. */
export function vatOf(netMinor: number, rateBp: number): number {
  return divRound(netMinor * rateBp, 10000);
}

/** The net part of a gross amount at a rate in basis points. */
export function netOfGross(grossMinor: number, rateBp: number): number {
  return divRound(grossMinor * 10000, 10000 + rateBp);
}

export function withVat(netMinor: number, rateBp: number): number {
  return netMinor + vatOf(netMinor, rateBp);
}

/** The one money formatter: minor units as a decimal with a point, integers only; `grouping` separates thousands. */
function formatMinor(minor: number, grouping: string): string {
  const sign = minor < 0 ? '-' : '';
  const abs = Math.abs(minor);
  const major = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, grouping);
  const cents = String(abs % 100).padStart(2, '0');
  return `${sign}${major}.${cents}`;
}

/** Formats minor units for display, e.g. 123450 DKK → "1,234.50 DKK". */
export function formatMoney(minor: number, currencyCode = 'DKK'): string {
  return `${formatMinor(minor, ',')} ${currencyCode}`;
}

/** Minor units as a plain decimal, never a thousands separator: 123450 → "1234.50" (form inputs, CSV, XML, history texts). */
export function formatDecimal(minor: number): string {
  return formatMinor(minor, '');
}

/** Parses a user-typed amount ("12", "12.5", "12,50") into minor units; null when it is not money. */
export function parseMoney(input: string): number | null {
  const m = /^\s*(\d{1,12})(?:[.,](\d{1,2}))?\s*$/.exec(input);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0'));
}

export function formatRate(rateBp: number): string {
  return `${rateBp / 100}%`;
}
