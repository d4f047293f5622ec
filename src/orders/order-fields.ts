import { z } from 'zod';
import type { FieldTarget, FieldType, OrderFieldDefinition } from './order-edit.entities';

/** Custom order and order line fields: their definitions' shapes and the rules for typed values. */
export interface FieldInput { systemName: string; name: string; type: FieldType; appliesTo: FieldTarget; sortOrder: number }
export interface FieldDefs { order: OrderFieldDefinition[]; line: OrderFieldDefinition[] }

const isEmail = (v: string) => z.email().safeParse(v).success;

/** Checks one typed value against its field type; returns the value to store ('' = none) or an error message. */
export function normalizeFieldValue(type: FieldType, raw: string): { value: string } | { error: string } {
  const v = raw.trim();
  if (v === '') return { value: '' };
  switch (type) {
    case 'text':
      return v.length > 1000 ? { error: 'must be at most 1000 characters' } : { value: v };
    case 'number':
      return /^[+-]?\d{1,15}(?:[.,]\d{1,6})?$/.test(v) ? { value: v.replace(',', '.').replace(/^\+/, '') } : { error: `must be a number, e.g. 12.5 (“${v.slice(0, 30)}” is not)` };
    case 'date': {
      const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
      const d = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
      return d && d.toISOString().slice(0, 10) === v ? { value: v } : { error: `must be a date like 2026-12-24 (“${v.slice(0, 30)}” is not)` };
    }
    case 'boolean':
      return v === 'yes' || v === 'no' ? { value: v } : { error: 'must be yes or no' };
    case 'email':
      return v.length <= 200 && isEmail(v) ? { value: v } : { error: `must be an e-mail address, e.g. name@example.com (“${v.slice(0, 40)}” is not)` };
  }
}

/** Applies typed values for the defined fields; values of fields no longer defined are kept as they are. */
export function mergeValues(current: Record<string, string>, typed: Record<string, string>, defs: OrderFieldDefinition[], key: (name: string) => string, errors: Record<string, string>): Record<string, string> {
  const out = { ...current };
  for (const def of defs) {
    if (!(def.systemName in typed)) continue;
    const r = normalizeFieldValue(def.type, typed[def.systemName]);
    if ('error' in r) errors[key(def.systemName)] = r.error;
    else if (r.value === '') delete out[def.systemName];
    else out[def.systemName] = r.value;
  }
  return out;
}

export function sameValues(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** Defined fields first (in their order), then any stored values of fields no longer defined, by system name. */
export function fieldList(defs: OrderFieldDefinition[], ...values: Record<string, string>[]): { systemName: string; name: string; type: FieldType | null }[] {
  const out: { systemName: string; name: string; type: FieldType | null }[] = defs.map((d) => ({ systemName: d.systemName, name: d.name, type: d.type }));
  const known = new Set(out.map((f) => f.systemName));
  for (const v of values) for (const k of Object.keys(v)) if (!known.has(k)) { known.add(k); out.push({ systemName: k, name: k, type: null }); }
  return out;
}

export function formatFieldValue(type: FieldType | null | undefined, value: string | undefined): string {
  if (value == null || value === '') return '—';
  if (type === 'boolean') return value === 'yes' ? 'Yes' : value === 'no' ? 'No' : value;
  return value;
}
