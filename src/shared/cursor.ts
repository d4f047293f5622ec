/**
 * The one keyset cursor codec (the staff order list and the API's order feed): a cursor is the sort value and id of
 * the row next to the page wanted, as base64url JSON, opaque to whoever holds it.
 */
export interface Cursor { key: string; id: string }

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.key, c.id])).toString('base64url');
}

/** The cursor, or null when `raw` is not one or its key is not of the sort column's shape (`validKey`). */
export function decodeCursor(raw: string, validKey: (key: string) => boolean): Cursor | null {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string' || typeof value[1] !== 'string'
    || !/^\d{1,18}$/.test(value[1]) || !validKey(value[0])) return null;
  return { key: value[0], id: value[1] };
}

/**
 * A timestamp key written to the microsecond (2026-03-01T10:00:00.123456Z), and a real moment: Date.parse rolls
 * 2026-02-30 over to March, PostgreSQL refuses it (and has no year 0000).
 */
export function isExactTimestamp(key: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(key) && !key.startsWith('0000')
    && !Number.isNaN(Date.parse(key)) && new Date(key).toISOString().slice(0, 19) === key.slice(0, 19);
}
