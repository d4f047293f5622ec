import { sqlArray, type Sql } from '../db/sql';
import { DomainError } from '../shared/errors';

/**
 * The stock module: the one writer of `stock_levels`. Every change — an order taking stock, a released reservation, a
 * cancel, an order edit, a received return, a staff adjustment — goes through a function here, in the caller's
 * transaction, and writes a `stock_movements` row in the same statement (product, location, change, resulting level,
 * reason, actor, order/return). The database guards the rest: levels never below zero (check + conditional updates),
 * movements append-only with a known reason (stock_movements_append_only, stock_movements_reason_check); once-only
 * effects (a cancel's or a return's restock) are claimed in record_effects by the caller before it calls here.
 */

/** Why stock changed, by code. Staff pick from STAFF_STOCK_REASONS; the others are written by orders, payments and returns. */
export const STOCK_REASON_LABELS = {
  received: 'Goods received',
  counted: 'Stock count correction',
  damaged: 'Damaged or lost',
  correction: 'Other correction',
  order: 'Order placed',
  release: 'Reservation released',
  cancel: 'Order cancelled',
  return: 'Return received',
  edit: 'Order edited',
  opening: 'Opening stock',
} as const;
export type StockReason = keyof typeof STOCK_REASON_LABELS;
export const STAFF_STOCK_REASONS = ['received', 'counted', 'damaged', 'correction'] as const satisfies readonly StockReason[];
export type StaffStockReason = (typeof STAFF_STOCK_REASONS)[number];

/** Who changed stock: a staff user, the customer (placing an order, paying), or a system job (expiry, recurring orders). */
export type StockActorKind = 'staff' | 'customer' | 'system';
export interface StockActor { userId: number | null; kind: StockActorKind }

/** The stock actor of an order's history actor (a company buyer is the customer). */
export function stockActor(actor: { userId: number | null; kind: 'staff' | 'buyer' | 'customer' | 'system' }): StockActor {
  return { userId: actor.userId, kind: actor.kind === 'buyer' ? 'customer' : actor.kind };
}

/** What every movement records besides the numbers: why, who, and the order or return it belongs to. */
export interface StockCause { reason: StockReason; actor: StockActor; orderId?: number | null; returnId?: number | null; note?: string }

/**
 * The CTE body that records a movement for each row of `source` (columns product_id, location_id, change, resulting);
 * rows that changed nothing are skipped. Kept inside the statement that changes the level, so a hot path pays no extra
 * round trip for its history.
 */
function movementsFrom(source: string, cause: StockCause): { text: string; values: unknown[] } {
  return {
    text: `insert into stock_movements (product_id, location_id, quantity_change, resulting_quantity, reason, note, actor_user_id, actor_kind, order_id, return_id)
       select product_id, location_id, change, resulting, ?::text, ?::text, ?::int, ?::text, ?::bigint, ?::bigint from ${source} where change <> 0`,
    values: [cause.reason, cause.note ?? '', cause.actor.userId, cause.actor.kind, cause.orderId ?? null, cause.returnId ?? null],
  };
}

interface StockLine { quantity: number; productName: string; product?: { id: number } | null }

/**
 * Takes `quantity` of a product from the one location that has the most of it (or from `preferredLocationId` when
 * that one has enough), never below zero, and records the movement; returns the location, or undefined when no
 * location has enough.
 *
 * The location is picked in a MATERIALIZED CTE, which PostgreSQL runs exactly once. Written as `update … from
 * (select … limit 1 for update) pick`, the planner may rescan the subquery for each stock row; the rescan skips the
 * row this statement just updated and picks the next location, so both locations were decremented (seen in tests
 * when two locations held equal stock).
 */
export async function takeFromOneLocation(sql: Sql, productId: number, quantity: number, cause: StockCause, preferredLocationId: number | null = null): Promise<number | undefined> {
  const moved = movementsFrom('taken', cause);
  const [taken] = await sql<{ location_id: number }>(
    `with pick as materialized (
       select location_id from stock_levels where product_id = ? and quantity >= ?
       order by (location_id = ?::int) desc nulls last, quantity desc, location_id limit 1 for update),
     taken as (
       update stock_levels s set quantity = s.quantity - ?
       from pick where s.product_id = ? and s.location_id = pick.location_id and s.quantity >= ?
       returning s.product_id, s.location_id, -?::int as change, s.quantity as resulting),
     moved as (${moved.text})
     select location_id from taken`,
    [productId, quantity, preferredLocationId, quantity, productId, quantity, quantity, ...moved.values],
  );
  return taken?.location_id;
}

/**
 * Out-of-stock ordering: the location with the most of the product goes down by `quantity`, but not below zero.
 * Answers the location and how much it really gave (less than `quantity` when it had less).
 */
export async function takeFromFullestLocation(sql: Sql, productId: number, quantity: number, cause: StockCause): Promise<TakenStock | undefined> {
  const moved = movementsFrom('taken', cause);
  const [taken] = await sql<{ location_id: number; taken: number }>(
    `with pick as materialized (
       select location_id, quantity from stock_levels where product_id = ? order by quantity desc, location_id limit 1 for update),
     taken as (
       update stock_levels s set quantity = greatest(s.quantity - ?, 0)
       from pick where s.product_id = ? and s.location_id = pick.location_id
       returning s.product_id, s.location_id, s.quantity - pick.quantity as change, s.quantity as resulting),
     moved as (${moved.text})
     select location_id, -change as taken from taken`,
    [productId, quantity, productId, ...moved.values],
  );
  return taken && { locationId: taken.location_id, quantity: taken.taken };
}

/** Where a line's stock came from, and how many units that location gave. */
export interface TakenStock { locationId: number; quantity: number }

/**
 * Puts units back where they were taken from (a released reservation, a cancelled order, a lower quantity in an edit,
 * a received return) in one statement, locations in product order — the order takeStockWith locks them in, so a
 * give-back and a placement never deadlock. A location without a level for the product gets one. Answers the units
 * put back.
 */
export async function giveBackStock(sql: Sql, units: { productId: number; locationId: number; quantity: number }[], cause: StockCause): Promise<number> {
  const back = units.filter((u) => u.quantity > 0);
  if (!back.length) return 0;
  const moved = movementsFrom('given', cause);
  const [row] = await sql<{ quantity: number }>(
    `with back as (
       select product_id, location_id, sum(quantity)::int as quantity
       from unnest(?::int[], ?::int[], ?::int[]) t(product_id, location_id, quantity)
       group by product_id, location_id order by product_id, location_id),
     given as (
       insert into stock_levels (product_id, location_id, quantity)
       select product_id, location_id, quantity from back
       on conflict (product_id, location_id) do update set quantity = stock_levels.quantity + excluded.quantity
       returning product_id, location_id, (select b.quantity from back b where b.product_id = stock_levels.product_id and b.location_id = stock_levels.location_id) as change,
         quantity as resulting),
     moved as (${moved.text})
     select coalesce(sum(change), 0)::int as quantity from given`,
    [sqlArray(back.map((u) => u.productId)), sqlArray(back.map((u) => u.locationId)), sqlArray(back.map((u) => u.quantity)), ...moved.values],
  );
  return row?.quantity ?? 0;
}

/** A line to take stock for: its id (the order line's, for the caller's own records), product and quantity. */
export interface StockTake { lineId: number; productId: number; quantity: number }

/**
 * The CTEs that take every line's quantity from one stock location each — all lines or none — inside the caller's
 * statement, so a placement takes its stock and records what it took (and commits) in one round trip. Each line's
 * location is the one with the most of the product that has enough; the candidate rows are locked (FOR UPDATE) in
 * product order, as takeStockWith does, so concurrent placements cannot deadlock, and the conditional update never
 * goes below zero. When any line finds no location, nothing is updated. Defines:
 *
 * - `stock_picked` (line_id, product_id, location_id, quantity): the lines that found a location;
 * - `stock_taken` (line_id, product_id, location_id, change, resulting): the levels updated, one row per line when
 *   every line was picked, none otherwise — the caller makes what it records depend on it;
 * - `stock_taken_moved`: their movement rows.
 */
export function takeStockCtes(lines: StockTake[], cause: StockCause): { text: string; values: unknown[] } {
  const sorted = [...lines].sort((a, b) => a.productId - b.productId);
  const moved = movementsFrom('stock_taken', cause);
  return {
    text: `stock_lines as materialized (
       select * from unnest(?::bigint[], ?::int[], ?::int[]) with ordinality t(line_id, product_id, quantity, n) order by n),
     stock_picked as materialized (
       select l.line_id, l.product_id, pick.location_id, l.quantity from stock_lines l
       cross join lateral (select location_id from stock_levels s where s.product_id = l.product_id and s.quantity >= l.quantity
         order by s.quantity desc, s.location_id limit 1 for update) pick),
     stock_taken as (
       update stock_levels s set quantity = s.quantity - p.quantity from stock_picked p
       where s.product_id = p.product_id and s.location_id = p.location_id and s.quantity >= p.quantity
         and (select count(*) from stock_picked) = ?
       returning p.line_id, s.product_id, s.location_id, -p.quantity as change, s.quantity as resulting),
     stock_taken_moved as (${moved.text})`,
    values: [sqlArray(sorted.map((l) => l.lineId)), sqlArray(sorted.map((l) => l.productId)), sqlArray(sorted.map((l) => l.quantity)), sorted.length, ...moved.values],
  };
}

/** The first line (in product order) that takeStockCtes found no location for, given the line ids it picked. */
export function firstUnpicked<L extends StockTake>(lines: L[], picked: number[]): L | undefined {
  const found = new Set(picked.map(Number));
  return [...lines].sort((a, b) => a.productId - b.productId).find((l) => !found.has(l.lineId));
}

/**
 * Takes each line's quantity from one stock location with a conditional UPDATE (never below zero), in product
 * order so concurrent orders cannot deadlock — all lines in one statement (takeStockCtes). With out-of-stock ordering
 * allowed, a line no location has enough for is taken from the location with the most stock, down to zero instead;
 * refuses with INSUFFICIENT_STOCK otherwise. Answers where each line was taken from and how many units that gave.
 */
export async function takeStockWith<L extends StockLine & { id: number }>(sql: Sql, lines: L[], allowOutOfStock: boolean, refusal: (line: L) => string, cause: StockCause): Promise<Map<L, TakenStock>> {
  const taken = new Map<L, TakenStock>();
  const withProduct = lines.filter((l) => l.product);
  if (!withProduct.length) return taken;
  const takes = withProduct.map((l) => ({ line: l, lineId: l.id, productId: l.product!.id, quantity: l.quantity }));
  const ctes = takeStockCtes(takes, cause);
  const [row] = await sql<{ picked: number[]; taken: { lineId: number; locationId: number }[] }>(
    `with ${ctes.text}
     select (select coalesce(json_agg(line_id), '[]') from stock_picked) as picked,
       (select coalesce(json_agg(json_build_object('lineId', line_id, 'locationId', location_id)), '[]') from stock_taken) as taken`, ctes.values);
  if (row.taken.length === takes.length) {
    for (const t of takes) taken.set(t.line, { locationId: row.taken.find((r) => Number(r.lineId) === t.lineId)!.locationId, quantity: t.quantity });
    return taken;
  }
  if (!allowOutOfStock) throw new DomainError('INSUFFICIENT_STOCK', refusal(firstUnpicked(takes, row.picked)!.line));
  // Nothing was taken: line by line, a line without a location that has enough goes to zero at the fullest one.
  for (const t of takes.sort((a, b) => a.productId - b.productId)) {
    const locationId = await takeFromOneLocation(sql, t.productId, t.quantity, cause);
    const fromFullest = locationId == null ? await takeFromFullestLocation(sql, t.productId, t.quantity, cause) : undefined;
    if (locationId != null) taken.set(t.line, { locationId, quantity: t.quantity });
    else if (fromFullest) taken.set(t.line, fromFullest);
  }
  return taken;
}

export interface StockAdjustment {
  productId: number; locationId: number;
  /** Units added (positive) or removed (negative); never zero. */
  change: number;
  reason: StaffStockReason; note: string; actorUserId: number;
}

/**
 * A staff member's adjustment of one location's stock, with its movement, in the caller's transaction. One
 * conditional UPDATE does the arithmetic, so concurrent adjustments queue on the row lock and each sees the level the
 * one before it left (no lost update); a change that would take the level below zero is refused. Answers the
 * resulting level.
 */
export async function adjustStock(sql: Sql, a: StockAdjustment, productName: string): Promise<number> {
  await sql('insert into stock_levels (product_id, location_id, quantity) values (?, ?, 0) on conflict do nothing', [a.productId, a.locationId]);
  const moved = movementsFrom('adjusted', { reason: a.reason, note: a.note, actor: { userId: a.actorUserId, kind: 'staff' } });
  const [level] = await sql<{ quantity: number }>(
    `with adjusted as (
       update stock_levels set quantity = quantity + ? where product_id = ? and location_id = ? and quantity + ? >= 0
       returning product_id, location_id, ?::int as change, quantity as resulting),
     moved as (${moved.text})
     select resulting as quantity from adjusted`,
    [a.change, a.productId, a.locationId, a.change, a.change, ...moved.values],
  );
  if (level) return level.quantity;
  const [now] = await sql<{ quantity: number; name: string }>(
    'select s.quantity, l.name from stock_levels s join stock_locations l on l.id = s.location_id where s.product_id = ? and s.location_id = ?',
    [a.productId, a.locationId],
  );
  throw new DomainError('INSUFFICIENT_STOCK', `${productName} has only ${now?.quantity ?? 0} in ${now?.name ?? 'that location'}; it cannot go down by ${-a.change}.`, { change: `is more than the ${now?.quantity ?? 0} in stock` });
}

/**
 * A product's first stock at each location (the demo seed): levels that exist already stay as they are, so running it
 * again changes nothing; a new level gets an "opening" movement by the system.
 */
export async function openingStock(sql: Sql, productId: number, levels: { locationId: number; quantity: number }[]): Promise<void> {
  const moved = movementsFrom('opened', { reason: 'opening', actor: { userId: null, kind: 'system' } });
  await sql(
    `with opened as (
       insert into stock_levels (product_id, location_id, quantity)
       select ?::int, location_id, quantity from unnest(?::int[], ?::int[]) t(location_id, quantity)
       on conflict do nothing
       returning product_id, location_id, quantity as change, quantity as resulting),
     moved as (${moved.text})
     select 1`,
    [productId, sqlArray(levels.map((l) => l.locationId)), sqlArray(levels.map((l) => l.quantity)), ...moved.values]);
}

/** A product's most recent movements, newest first, for the staff pages. */
export interface StockMovementRow {
  createdAt: Date; locationName: string; change: number; resultingQuantity: number; reason: string; note: string;
  actorKind: StockActorKind; actorName: string | null; orderNumber: string | null; returnNumber: string | null;
  /** The movement was for a guest's basket that was never placed and has been deleted since (CartService.pruneUnreachableBaskets). */
  orderDeleted: boolean;
}

export async function recentMovements(sql: Sql, productId: number, limit: number): Promise<StockMovementRow[]> {
  const rows = await sql<{ created_at: Date; location_name: string; quantity_change: number; resulting_quantity: number; reason: StockReason; note: string;
    actor_kind: StockActorKind; actor_name: string | null; order_number: string | null; order_deleted: boolean; return_number: string | null }>(
    `select m.created_at, l.name as location_name, m.quantity_change, m.resulting_quantity, m.reason, m.note, m.actor_kind, u.name as actor_name,
       o.number as order_number, (m.order_id is not null and o.id is null) as order_deleted, r.number as return_number
     from stock_movements m join stock_locations l on l.id = m.location_id left join users u on u.id = m.actor_user_id
       left join orders o on o.id = m.order_id left join returns r on r.id = m.return_id
     where m.product_id = ? order by m.id desc limit ?`, [productId, limit]);
  return rows.map((m) => ({
    createdAt: m.created_at, locationName: m.location_name, change: m.quantity_change, resultingQuantity: m.resulting_quantity,
    reason: STOCK_REASON_LABELS[m.reason] ?? m.reason, note: m.note, actorKind: m.actor_kind, actorName: m.actor_name,
    orderNumber: m.order_number, orderDeleted: m.order_deleted, returnNumber: m.return_number,
  }));
}
