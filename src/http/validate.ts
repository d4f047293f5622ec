import { z, type ZodError, type ZodType } from 'zod';
import { invalid } from '../shared/errors';
import { parseMoney } from '../shared/money';
import { MAX_LINE_QUANTITY } from '../shared/quantity';

/** How an issue's path names the form field it belongs to. */
export type FieldKey = (path: readonly PropertyKey[]) => string;
/** The path, dotted ("lines.0.quantity"); "_" for the input as a whole. */
export const dottedKey: FieldKey = (path) => path.join('.') || '_';
/** The top-level input name: forms whose inputs are flat. */
export const inputKey: FieldKey = (path) => String(path[0] ?? '_');

/** The one translation of zod's issues into form field errors: the first message per field; unknown keys (strict schemas) each get one. */
export function fieldErrors(error: ZodError, key: FieldKey = dottedKey): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') for (const k of issue.keys) fields[key([...issue.path, k])] ??= 'is not a known field';
    else fields[key(issue.path)] ??= issue.message;
  }
  return fields;
}

export interface ParseOptions {
  key?: FieldKey;
  /** The 422's message, from the field errors; by default it names the first field. */
  message?: (fields: Record<string, string>) => string;
}

/** Parses untrusted input at the edge; a failure becomes a 422 (VALIDATION) with a message per field. */
export function parse<T>(schema: ZodType<T>, input: unknown, options: ParseOptions = {}): T {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const fields = fieldErrors(result.error, options.key);
  throw invalid((options.message ?? firstFieldMessage)(fields), fields);
}

function firstFieldMessage(fields: Record<string, string>): string {
  const first = Object.entries(fields)[0];
  return first ? `Please check ${first[0] === '_' ? 'the form' : labelOf(first[0])}: ${first[1]}` : 'Please check the form.';
}

/** Words a field name holds that people write in capitals. */
const ACRONYMS: Record<string, string> = { vat: 'VAT', url: 'URL', xml: 'XML', xsl: 'XSL', csv: 'CSV', api: 'API', smtp: 'SMTP' };

/** A field's name as words: `vatRate` → "VAT rate", `urlTemplate` → "URL template". */
export function labelOf(field: string): string {
  return field.replace(/([A-Z])/g, ' $1').toLowerCase().split(' ').map((w) => ACRONYMS[w] ?? w).join(' ');
}

/** A positive whole quantity, as typed into a form: decimal notation only (`0x10`, `1e3` or `` are not numbers). */
export const quantity = z.preprocess(
  (v) => (typeof v === 'string' && /^\s*-?\d{1,12}(\.\d+)?\s*$/.test(v) ? Number(v) : v),
  z.number({ error: 'must be a number' })
    .int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' })
    .max(MAX_LINE_QUANTITY, { error: `must be at most ${MAX_LINE_QUANTITY}` }),
);

/** Order, cart and quote numbers as the shop makes them (a staff-chosen prefix of capitals, digits and dashes, then digits). */
export const ORDER_NUMBER = /^[A-Z0-9-]{1,40}$/;
/** An order, cart or quote number in a URL or form; the message names what it should have been. */
export const orderNumber = (error = 'is not an order id') => z.string().regex(ORDER_NUMBER, { error });

export const productNumber = z.string().regex(/^[A-Za-z0-9-]{1,40}$/, { error: 'is not a product number' });

export const idParam = z.coerce.number({ error: 'must be a number' }).int().positive().max(2147483647);

/** PostgreSQL text cannot hold a NUL character: refused here (422) instead of failing in the database (500). */
export const noNul = (s: string) => !s.includes('\u0000');

export const text = (max: number) => z.string().trim().max(max, { error: `must be at most ${max} characters` })
  .refine(noNul, { error: 'contains a character that is not allowed' });
export const requiredText = (max: number) => text(max).min(1, { error: 'is required' });

/** Empty form fields count as "not given". */
export const blank = (v: unknown) => (v === '' ? undefined : v);

function isRealDay(s: string): boolean {
  const [y, m, d] = s.split('-').map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  return y >= 1900 && y <= 9999 && date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

/** A yyyy-mm-dd date field that must be a real calendar day; messages name the field by its label. */
export const day = (label: string) => {
  const msg = `The “${label}” date must be a date written as yyyy-mm-dd, for example 2025-03-31.`;
  return z.string({ error: msg }).regex(/^\d{4}-\d{2}-\d{2}$/, { error: msg }).refine(isRealDay, { error: `The “${label}” date is not a real date.` });
};

/** Largest unit price or discount a form may carry (10,000,000.00): pricing stays on safe integers. */
export const MAX_AMOUNT_MINOR = 1_000_000_000;

/** A missing input is an empty one; anything that is not a single string (e.g. a repeated name) is refused. */
export const str = (max: number) => z.preprocess((v) => (v === undefined ? '' : v), z.string({ error: 'must be text' }).trim().max(max, { error: `must be at most ${max} characters` }));
export const checkbox = z.unknown().optional().transform((v) => v === 'on' || v === 'true' || v === '1');
/** A typed amount ("125.50", "125,5") in minor units; empty is 0, or "is required". */
export const amount = (required: boolean) => str(20).transform((v, ctx) => {
  if (v === '') {
    if (required) ctx.addIssue({ code: 'custom', message: 'is required' });
    return 0;
  }
  const minor = parseMoney(v);
  if (minor == null) ctx.addIssue({ code: 'custom', message: `must be an amount like 125.50 (“${v}” is not)` });
  else if (minor > MAX_AMOUNT_MINOR) ctx.addIssue({ code: 'custom', message: 'must be at most 10,000,000.00' });
  return minor ?? 0;
});
