/**
 * The staff order list's query language: the filter (query string, remembered filter), date presets, columns, keyset
 * paging and the SQL built from them. Pure: OrderAdminService runs what buildListQuery returns.
 */
import { z } from 'zod';
import { idParam } from '../http/validate';
import { decodeCursor, isExactTimestamp, type Cursor } from '../shared/cursor';
import { invalid } from '../shared/errors';
import type { OrderListKind } from './order-list.entities';

export const ADMIN_PAGE_SIZE = 50;

// The list filter: one validated shape for the query string, the remembered filter and the SQL.

export const DATE_PRESETS = ['today', 'yesterday', 'this-week', 'last-7-days', 'this-month', 'last-month', 'this-year'] as const;
export type DatePreset = (typeof DATE_PRESETS)[number];
export const PRESET_LABELS: Record<DatePreset, string> = {
  'today': 'Today', 'yesterday': 'Yesterday', 'this-week': 'This week', 'last-7-days': 'Last 7 days',
  'this-month': 'This month', 'last-month': 'Last month', 'this-year': 'This year',
};

export const CAPTURE_STATES = ['not_captured', 'split_captured', 'captured', 'not_supported'] as const;
export const SEARCH_MODES = ['id', 'customer', 'all'] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];
/** All-fields search needs three characters: trigram indexes cannot narrow down anything shorter. */
export const MIN_ALL_FIELDS_SEARCH = 3;

/** Sortable columns (a whitelist): the SQL expression, its cursor value as text and the cast back. */
export const SORTS = {
  created: { expr: 'o.created_at', key: `to_char(o.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, cast: 'timestamptz', kind: 'time', defaultDir: 'desc' },
  number: { expr: 'o.number', key: 'o.number', cast: 'text', kind: 'text', defaultDir: 'desc' },
  total: { expr: 'o.total_minor', key: 'o.total_minor::text', cast: 'bigint', kind: 'int', defaultDir: 'desc' },
  customer: { expr: 'o.billing_name', key: 'o.billing_name', cast: 'text', kind: 'text', defaultDir: 'asc' },
} as const;
export type SortKey = keyof typeof SORTS;

/**
 * A list's sort column: orders are sorted by total on order_total_minor, the copy of total_minor that
 * orders_list_total_idx and orders_list_open_idx hold (null for carts, so a basket's add leaves those indexes alone).
 */
function sortColumn(type: OrderListKind, key: SortKey): { expr: string; key: string; cast: string } {
  return key === 'total' && type === 'order' ? { ...SORTS.total, expr: 'o.order_total_minor', key: 'o.order_total_minor::text' } : SORTS[key];
}
export const SORT_KEYS = Object.keys(SORTS) as [SortKey, ...SortKey[]];

const blankToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(blankToUndefined, schema.optional());
const toArray = (v: unknown) => (v == null || v === '' ? [] : Array.isArray(v) ? v.filter((x) => x !== '') : [v]);
const noNul = (s: string) => !s.includes('\u0000');

const isoDate = z.string({ error: 'must be a date like 2026-11-24' })
  .regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'must be a date like 2026-11-24' })
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
  }, { error: 'is not a real date' })
  .refine((s) => s >= '1900-01-01' && s <= '2999-12-31', { error: 'must be between 1900 and 2999' });

const filterShape = {
  dateFrom: optional(isoDate),
  dateTo: optional(isoDate),
  preset: optional(z.enum(DATE_PRESETS, { error: 'is not a known period' })),
  shop: optional(z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, { error: 'is not a shop id' })),
  state: z.preprocess(toArray, z.array(idParam, { error: 'must be state ids' }).max(50, { error: 'has too many states' })),
  company: optional(idParam),
  progress: optional(z.enum(['completed', 'not_completed'], { error: 'must be completed or not completed' })),
  capture: optional(z.enum(CAPTURE_STATES, { error: 'is not a capture state' })),
  imported: optional(z.enum(['yes', 'no'], { error: 'must be yes or no' })),
  search: optional(z.string({ error: 'must be text' }).trim().max(200, { error: 'must be at most 200 characters' })
    .refine(noNul, { error: 'contains a character that is not allowed' })),
  searchIn: z.preprocess(blankToUndefined, z.enum(SEARCH_MODES, { error: 'must be order id, customer fields or all fields' }).default('id')),
  sort: z.preprocess(blankToUndefined, z.enum(SORT_KEYS, { error: 'is not a column you can sort by' }).default('created')),
  dir: z.preprocess(blankToUndefined, z.enum(['asc', 'desc'], { error: 'must be asc or desc' }).optional()),
};

function checkFilter(f: { dateFrom?: string; dateTo?: string; search?: string; searchIn: SearchMode; preset?: DatePreset }, ctx: z.RefinementCtx) {
  if (!f.preset && f.dateFrom && f.dateTo && f.dateFrom > f.dateTo) {
    ctx.addIssue({ code: 'custom', path: ['dateTo'], message: 'must not be before the start date' });
  }
  if (f.search && f.searchIn === 'all' && f.search.length < MIN_ALL_FIELDS_SEARCH) {
    ctx.addIssue({ code: 'custom', path: ['search'], message: `needs at least ${MIN_ALL_FIELDS_SEARCH} characters to search all fields` });
  }
}

export const listFilterSchema = z.object(filterShape).superRefine(checkFilter);
export type ListFilter = z.infer<typeof listFilterSchema>;

const cursorText = z.string().max(2000).regex(/^[A-Za-z0-9_-]+$/, { error: 'is not a valid page link' });
/** GET /admin/orders: the filter (when `apply` is set), plus where to page to. */
export const listQuerySchema = z.object({
  ...filterShape,
  apply: optional(z.literal('1', { error: 'must be 1' })),
  after: optional(cursorText),
  before: optional(cursorText),
  last: optional(z.literal('1', { error: 'must be 1' })),
}).superRefine(checkFilter);
export type ListQuery = z.infer<typeof listQuerySchema>;

export const DEFAULT_FILTER: ListFilter = listFilterSchema.parse({});

export function pickFilter(q: ListQuery): ListFilter {
  const f: Record<string, unknown> = {};
  for (const k of Object.keys(filterShape)) if ((q as Record<string, unknown>)[k] !== undefined) f[k] = (q as Record<string, unknown>)[k];
  return f as ListFilter;
}

/** A stable form of a filter: undefined and empty parts dropped, so equal filters compare equal. */
export function normalized(f: ListFilter): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(filterShape)) {
    const v = (f as Record<string, unknown>)[k];
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
  }
  if (out.searchIn === 'id' && !out.search) delete out.searchIn;
  if (out.sort === 'created') delete out.sort;
  return out;
}

export const sameFilter = (a: ListFilter, b: ListFilter) => JSON.stringify(normalized(a)) === JSON.stringify(normalized(b));

export const sortDir = (f: ListFilter): 'asc' | 'desc' => f.dir ?? SORTS[f.sort].defaultDir;

// ---------------------------------------------------------------------------------------------------------
// Date presets: pure, in UTC, so they are tested with a fixed clock.

const day = (d: Date) => d.toISOString().slice(0, 10);
const utcDay = (y: number, m: number, d: number) => new Date(Date.UTC(y, m, d));
export function addDays(isoDay: string, n: number): string {
  const d = new Date(`${isoDay}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return day(d);
}

/** The dates (inclusive, YYYY-MM-DD, UTC) a preset stands for at `now`. Weeks start on Monday. */
export function presetRange(preset: DatePreset, now: Date): { from: string; to: string } {
  const today = day(now);
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  switch (preset) {
    case 'today': return { from: today, to: today };
    case 'yesterday': return { from: addDays(today, -1), to: addDays(today, -1) };
    case 'this-week': return { from: addDays(today, -((now.getUTCDay() + 6) % 7)), to: today };
    case 'last-7-days': return { from: addDays(today, -6), to: today };
    case 'this-month': return { from: day(utcDay(y, m, 1)), to: today };
    case 'last-month': return { from: day(utcDay(y, m - 1, 1)), to: day(utcDay(y, m, 0)) };
    case 'this-year': return { from: day(utcDay(y, 0, 1)), to: today };
  }
}

/** The date range a filter selects: the preset's dates when a preset is chosen, else the typed dates. */
export function effectiveDates(f: ListFilter, now: Date): { from?: string; to?: string } {
  return f.preset ? presetRange(f.preset, now) : { from: f.dateFrom, to: f.dateTo };
}

// ---------------------------------------------------------------------------------------------------------
// Columns staff can show, in display order. The order id is always shown.

export const LIST_COLUMNS = {
  created: { label: 'Created', sort: 'created' },
  completedAt: { label: 'Completed' },
  state: { label: 'State' },
  company: { label: 'Company' },
  customer: { label: 'Customer', sort: 'customer' },
  email: { label: 'E-mail' },
  customerNumber: { label: 'Customer number' },
  total: { label: 'Total', sort: 'total', num: true },
  payment: { label: 'Payment method', ordersOnly: true },
  capture: { label: 'Capture state', ordersOnly: true },
  shipping: { label: 'Shipping method' },
  country: { label: 'Delivery country' },
  channel: { label: 'Channel', ordersOnly: true },
  exported: { label: 'Exported', ordersOnly: true },
} as const satisfies Record<string, { label: string; sort?: SortKey; num?: boolean; ordersOnly?: boolean }>;
export type ColumnKey = keyof typeof LIST_COLUMNS;
export const COLUMN_KEYS = Object.keys(LIST_COLUMNS) as [ColumnKey, ...ColumnKey[]];
export const DEFAULT_COLUMNS: Record<OrderListKind, ColumnKey[]> = {
  order: ['created', 'state', 'company', 'customer', 'total', 'payment', 'capture'],
  cart: ['created', 'state', 'company', 'customer', 'total'],
};
export const columnsSchema = z.preprocess(toArray, z.array(z.enum(COLUMN_KEYS, { error: 'is not a column of the list' })).max(COLUMN_KEYS.length));

export const columnsFor = (list: OrderListKind) => COLUMN_KEYS.filter((k) => list === 'order' || !('ordersOnly' in LIST_COLUMNS[k]));

// ---------------------------------------------------------------------------------------------------------
// Keyset paging (shared/cursor.ts): the cursor's key is the sort column's value.

const CURSOR_KEY: Record<(typeof SORTS)[SortKey]['kind'], (key: string) => boolean> = {
  time: isExactTimestamp,
  int: (key) => /^-?\d{1,18}$/.test(key),
  text: (key) => /^[^\u0000]{0,1000}$/.test(key),
};

export function pageCursor(raw: string, sort: SortKey): Cursor {
  const cursor = decodeCursor(raw, CURSOR_KEY[SORTS[sort].kind]);
  if (!cursor) throw invalid('This page link is not valid for the current sort order. Go back to the first page.', { after: 'is not a valid page link' });
  return cursor;
}

// ---------------------------------------------------------------------------------------------------------
// The list query. Parameterized only: every value typed by staff is a bind parameter, never SQL text.

/**
 * The text "all fields" searches in. It must stay the same expression as the trigram index
 * orders_list_search_trgm_idx in migrations/Migration20261124160000_order_list.ts.
 */
export const orderSearchText = (a: string) => `(${[
  'number', 'billing_name', 'billing_company', 'billing_address', 'billing_address2', 'billing_zip', 'billing_city', 'billing_phone',
  'billing_email', 'delivery_name', 'delivery_company', 'delivery_address', 'delivery_address2', 'delivery_zip', 'delivery_city',
  'delivery_phone', 'delivery_email', 'customer_comment', 'staff_comment',
].map((c) => `${a}.${c}`).join(` || ' ' || `)} || ' ' || coalesce(${a}.integration_order_id, ''))`;
/** Same as order_lines_search_trgm_idx. */
export const lineSearchText = (a: string) => `(${a}.product_number || ' ' || ${a}.product_name)`;

/** A LIKE pattern matching `text` anywhere, with % _ and \ taken literally. */
export const containsPattern = (text: string) => `%${text.replace(/[\\%_]/g, '\\$&')}%`;

export const marks = (n: number) => Array.from({ length: n }, () => '?').join(', ');

export interface ListQueryInput {
  type: OrderListKind;
  filter: ListFilter;
  now: Date;
  /** Where to page: after / before a cursor, the last page, or (none) the first page. */
  after?: Cursor;
  before?: Cursor;
  last?: boolean;
  pageSize?: number;
}

/**
 * The WHERE conditions for a filter (shared by the list and the benchmark). `anyOf`, when present, are alternatives
 * of which a row must meet one (all-fields search: the order's own text, or one of its lines); the list query runs one
 * arm per alternative, so each arm can use its own index or walk the sort index, whichever the planner finds cheaper.
 */
export function filterConditions(type: OrderListKind, f: ListFilter, now: Date): { where: string[]; params: unknown[]; anyOf?: { sql: string; params: unknown[] }[] } {
  // The type is a whitelisted literal, not input, so it is inlined: the partial indexes' predicate must be provable.
  const where = [`o.type = ${type === 'cart' ? `'cart'` : `'order'`}`, 'not o.deleted'];
  const params: unknown[] = [];
  const add = (sql: string, ...p: unknown[]) => {
    where.push(sql);
    params.push(...p);
  };
  const dates = effectiveDates(f, now);
  if (dates.from) add('o.created_at >= ?::timestamptz', `${dates.from}T00:00:00Z`);
  if (dates.to) add('o.created_at < ?::timestamptz', `${addDays(dates.to, 1)}T00:00:00Z`);
  if (f.shop) add('o.shop_id = ?', f.shop);
  if (f.state.length) add(`o.state_id in (${marks(f.state.length)})`, ...f.state);
  if (f.company) add('o.company_id = ?', f.company);
  if (f.progress) where.push(f.progress === 'completed' ? 'o.completed' : 'not o.completed');
  if (f.capture) add('o.capture_state = ?', f.capture);
  if (f.imported) where.push(f.imported === 'yes' ? 'o.imported' : 'not o.imported');
  if (!f.search) return { where, params };
  const s = f.search;
  if (f.searchIn === 'id') {
    add('(o.number = upper(?) or o.integration_order_id = ?)', s, s);
  } else if (f.searchIn === 'customer') {
    // Each arm has its own index (BitmapOr); the subqueries return at most one row (unique keys) and run once.
    add(`(lower(o.billing_email) = lower(?) or lower(o.billing_name) = lower(?)
      or o.company_id = (select c.id from companies c where c.customer_number = ?)
      or o.user_id = (select u.id from users u where lower(u.email) = lower(?)))`, s, s, s, s);
  } else {
    const p = containsPattern(s);
    return { where, params, anyOf: [
      { sql: `${orderSearchText('o')} ilike ?`, params: [p] },
      { sql: `exists (select 1 from order_lines l where l.order_id = o.id and ${lineSearchText('l')} ilike ?)`, params: [p] },
    ] };
  }
  return { where, params };
}

type Condition = { sql: string; params: unknown[] };
/** The list indexes' own condition (placed orders), and the open index's (orders still in checkout). */
const PLACED: Condition = { sql: 'o.completed', params: [] };
const IN_CHECKOUT: Condition = { sql: 'not o.completed', params: [] };
const anyOfCondition = (anyOf: Condition[]): Condition => ({ sql: `(${anyOf.map((a) => a.sql).join('\n      or ')})`, params: anyOf.flatMap((a) => a.params) });

/** Up to this many chosen states, a date-sorted order list runs one keyset arm per state (see buildListQuery). */
const MAX_STATE_ARMS = 10;

export function buildListQuery(input: ListQueryInput): { sql: string; params: unknown[]; backwards: boolean } {
  const { filter: f } = input;
  const size = input.pageSize ?? ADMIN_PAGE_SIZE;
  const sort = sortColumn(input.type, f.sort);
  const dir = sortDir(f);
  const backwards = !!(input.before || input.last);
  const scanDir = backwards ? (dir === 'asc' ? 'desc' : 'asc') : dir;
  // Several states, sorted by date (the default): one arm per state, each walking orders_list_state_created_idx for one
  // page, instead of one scan that reads every order of those states in the date range and sorts them all to keep 50
  // (EXPLAIN at 1,000,000 orders: Received + Picked in the last 90 days read 6,960 index entries for a 51-row page).
  const perState = input.type === 'order' && f.sort === 'created' && !(f.search && f.searchIn === 'all')
    && f.state.length > 1 && f.state.length <= MAX_STATE_ARMS;
  const conditions = filterConditions(input.type, perState ? { ...f, state: [] } : f, input.now);
  const { where, params } = conditions;
  const anyOf = perState ? [...new Set(f.state)].map((id) => ({ sql: 'o.state_id = ?', params: [id] as unknown[] })) : conditions.anyOf;
  const cursor = input.after ?? input.before;
  const keyset = cursor ? { sql: `(${sort.expr}, o.id) ${scanDir === 'desc' ? '<' : '>'} (?::${sort.cast}, ?::bigint)`, params: [cursor.key, cursor.id] } : null;
  const orderBy = `order by ${sort.expr} ${scanDir}, o.id ${scanDir}`;
  const arm = (extras: Condition[]) => {
    const conditions = [...where, ...extras.map((e) => e.sql), ...(keyset ? [keyset.sql] : [])];
    return {
      sql: `select o.id, ${sort.expr} as sort_value, ${sort.key} as sort_key from orders o
    where ${conditions.join('\n      and ')}
    ${orderBy} limit ${size + 1}`,
      params: [...params, ...extras.flatMap((e) => e.params), ...(keyset?.params ?? [])],
    };
  };
  // One arm, or one per alternative: each arm is a complete keyset page, the union's best size + 1 rows are the page.
  // Orders without a progress filter: the sort, state and trigram indexes hold placed orders only (migration
  // 20261206233000_list_indexes_placed: a checkout's updates then skip them), so the placed orders are read in those
  // arms and the orders still in checkout in one more, on orders_list_open_idx, with the alternatives ORed there
  // (those orders are few: that arm filters them row by row).
  const alternatives: Condition[][] = anyOf ? anyOf.map((a) => [a]) : [[]];
  const arms = input.type === 'order' && !f.progress
    ? [...alternatives.map((a) => arm([PLACED, ...a])), arm([IN_CHECKOUT, ...(anyOf ? [anyOfCondition(anyOf)] : [])])]
    : alternatives.map(arm);
  const page = arms.length === 1 ? arms[0].sql : `select id, sort_key from (\n    (${arms.map((a) => a.sql).join(')\n    union\n    (')})\n  ) o
  order by sort_value ${scanDir}, id ${scanDir} limit ${size + 1}`;
    const sql = `with page as (
  ${page}
)
select page.sort_key, o.id::text as id, o.number, o.name, o.created_at, o.completed, o.completed_at, o.total_minor, o.currency_code,
       o.billing_name, o.billing_company, o.billing_email, o.capture_state, o.basket_status, o.imported, o.exported, o.channel,
       case when o.delivery_same_as_billing then o.billing_country else o.delivery_country end as delivery_country,
       o.recurring_series_id is not null as recurring,
       s.name as state_name, s.color as state_color, c.name as company_name, c.customer_number, u.name as user_name, u.email as user_email,
       pm.name as payment_name, sm.name as shipping_name
from page
join orders o on o.id = page.id
left join flow_states s on s.id = o.state_id
left join companies c on c.id = o.company_id
left join users u on u.id = o.user_id
left join payment_methods pm on pm.id = o.payment_method_id
left join shipping_methods sm on sm.id = o.shipping_method_id
${orderBy}`;
  return { sql, params: arms.flatMap((a) => a.params), backwards };
}

/** The query string that reproduces a filter (for paging and sorting links), always with apply=1. */
export function filterQueryString(f: ListFilter, overrides: Partial<ListFilter> = {}): string {
  const merged = { ...f, ...overrides } as ListFilter;
  const qs = new URLSearchParams({ apply: '1' });
  for (const [k, v] of Object.entries(normalized(merged))) {
    if (Array.isArray(v)) for (const x of v) qs.append(k, String(x));
    else qs.append(k, String(v));
  }
  return qs.toString();
}

export interface ListRow {
  sort_key: string; id: string; number: string; name: string; created_at: Date; completed: boolean; completed_at: Date | null;
  total_minor: string; currency_code: string; billing_name: string; billing_company: string; billing_email: string;
  capture_state: string | null; basket_status: string | null; imported: boolean; exported: boolean; channel: string | null;
  delivery_country: string; recurring: boolean; state_name: string | null; state_color: string | null; company_name: string | null;
  customer_number: string | null; user_name: string | null; user_email: string | null; payment_name: string | null; shipping_name: string | null;
}
