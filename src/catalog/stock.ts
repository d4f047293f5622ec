import type { EntityManager } from '@mikro-orm/postgresql';
import { emSql, type Sql } from '../db/sql';
import { DomainError } from '../shared/errors';
import { StockLocation } from './catalog.entities';

interface StockLine { quantity: number; productName: string; product?: { id: number } | null; stockLocation?: StockLocation | null }

/**
 * Takes `quantity` of a product from the one location that has the most of it (or from `preferredLocationId` when
 * that one has enough), never below zero; returns the location, or undefined when no location has enough.
 *
 * The location is picked in a MATERIALIZED CTE, which PostgreSQL runs exactly once. Written as `update … from
 * (select … limit 1 for update) pick`, the planner may rescan the subquery for each stock row; the rescan skips the
 * row this statement just updated and picks the next location, so both locations were decremented (seen in tests
 * when two locations held equal stock).
 */
export async function takeFromOneLocation(sql: Sql, productId: number, quantity: number, preferredLocationId: number | null = null): Promise<number | undefined> {
  const [taken] = await sql<{ location_id: number }>(
    `with pick as materialized (
       select location_id from stock_levels where product_id = ? and quantity >= ?
       order by (location_id = ?::int) desc nulls last, quantity desc, location_id limit 1 for update)
     update stock_levels s set quantity = s.quantity - ?
     from pick where s.product_id = ? and s.location_id = pick.location_id and s.quantity >= ?
     returning s.location_id`,
    [productId, quantity, preferredLocationId, quantity, productId, quantity],
  );
  return taken?.location_id;
}

/**
 * Out-of-stock ordering: the location with the most of the product goes down by `quantity`, but not below zero.
 * Answers the location and how much it really gave (less than `quantity` when it had less).
 */
export async function takeFromFullestLocation(sql: Sql, productId: number, quantity: number): Promise<TakenStock | undefined> {
  const [taken] = await sql<{ location_id: number; taken: number }>(
    `with pick as materialized (
       select location_id, quantity from stock_levels where product_id = ? order by quantity desc, location_id limit 1 for update)
     update stock_levels s set quantity = greatest(s.quantity - ?, 0)
     from pick where s.product_id = ? and s.location_id = pick.location_id
     returning s.location_id, pick.quantity - s.quantity as taken`,
    [productId, quantity, productId],
  );
  return taken && { locationId: taken.location_id, quantity: taken.taken };
}

/** Where a line's stock came from, and how many units that location gave. */
export interface TakenStock { locationId: number; quantity: number }

/**
 * Puts units back where they were taken from (a released reservation), one location at a time in product order —
 * the order takeStockWith locks them in, so a release and a placement never deadlock.
 */
export async function giveBackStock(sql: Sql, taken: { productId: number; locationId: number; quantity: number }[]): Promise<void> {
  const sorted = [...taken].sort((a, b) => a.productId - b.productId || a.locationId - b.locationId);
  for (const t of sorted) {
    if (t.quantity > 0) await sql(`update stock_levels set quantity = quantity + ? where product_id = ? and location_id = ?`, [t.quantity, t.productId, t.locationId]);
  }
}

/**
 * Takes each line's quantity from one stock location with a conditional UPDATE (never below zero), in product
 * order so concurrent orders cannot deadlock. With out-of-stock ordering allowed, the location with the most
 * stock goes down to zero instead. Sets each line's stock location; refuses with INSUFFICIENT_STOCK otherwise.
 */
export async function takeStock(em: EntityManager, lines: StockLine[], allowOutOfStock: boolean, refusal: (line: StockLine) => string): Promise<void> {
  for (const [line, taken] of await takeStockWith(emSql(em), lines, allowOutOfStock, refusal)) {
    line.stockLocation = em.getReference(StockLocation, taken.locationId);
  }
}

/** takeStock on any connection: answers where each line was taken from and how many units that gave. */
export async function takeStockWith<L extends Omit<StockLine, 'stockLocation'>>(sql: Sql, lines: L[], allowOutOfStock: boolean, refusal: (line: L) => string): Promise<Map<L, TakenStock>> {
  const taken = new Map<L, TakenStock>();
  const sorted = lines.filter((l) => l.product).sort((a, b) => a.product!.id - b.product!.id);
  for (const line of sorted) {
    const productId = line.product!.id;
    const locationId = await takeFromOneLocation(sql, productId, line.quantity);
    const fromFullest = locationId == null && allowOutOfStock ? await takeFromFullestLocation(sql, productId, line.quantity) : undefined;
    if (locationId == null && !allowOutOfStock) throw new DomainError('INSUFFICIENT_STOCK', refusal(line));
    if (locationId != null) taken.set(line, { locationId, quantity: line.quantity });
    else if (fromFullest) taken.set(line, fromFullest);
  }
  return taken;
}

/** Why stock changed, by code. Staff pick from STAFF_STOCK_REASONS; the others are for order, cancel, return and edit
 * moves once those are routed through adjustStock. */
export const STOCK_REASON_LABELS = {
  received: 'Goods received',
  counted: 'Stock count correction',
  damaged: 'Damaged or lost',
  correction: 'Other correction',
  order: 'Order placed',
  cancel: 'Order cancelled',
  return: 'Return received',
  edit: 'Order edited',
} as const;
export type StockReason = keyof typeof STOCK_REASON_LABELS;
export const STAFF_STOCK_REASONS = ['received', 'counted', 'damaged', 'correction'] as const satisfies readonly StockReason[];
export type StaffStockReason = (typeof STAFF_STOCK_REASONS)[number];

export interface StockAdjustment {
  productId: number; locationId: number;
  /** Units added (positive) or removed (negative); never zero. */
  change: number;
  reason: StockReason; note: string; actorUserId: number | null;
}

/**
 * Changes one location's stock by `change` and writes a stock movement with the level it resulted in, in the caller's
 * transaction. One conditional UPDATE does the arithmetic, so concurrent adjustments queue on the row lock and each
 * sees the level the one before it left (no lost update); a change that would take the level below zero is refused.
 * Answers the resulting level.
 */
export async function adjustStock(sql: Sql, a: StockAdjustment, productName: string): Promise<number> {
  await sql('insert into stock_levels (product_id, location_id, quantity) values (?, ?, 0) on conflict do nothing', [a.productId, a.locationId]);
  const [level] = await sql<{ quantity: number }>(
    'update stock_levels set quantity = quantity + ? where product_id = ? and location_id = ? and quantity + ? >= 0 returning quantity',
    [a.change, a.productId, a.locationId, a.change],
  );
  if (!level) {
    const [now] = await sql<{ quantity: number; name: string }>(
      'select s.quantity, l.name from stock_levels s join stock_locations l on l.id = s.location_id where s.product_id = ? and s.location_id = ?',
      [a.productId, a.locationId],
    );
    throw new DomainError('INSUFFICIENT_STOCK', `${productName} has only ${now?.quantity ?? 0} in ${now?.name ?? 'that location'}; it cannot go down by ${-a.change}.`, { change: `is more than the ${now?.quantity ?? 0} in stock` });
  }
  await sql(
    `insert into stock_movements (product_id, location_id, quantity_change, resulting_quantity, reason, note, actor_user_id)
     values (?, ?, ?, ?, ?, ?, ?)`,
    [a.productId, a.locationId, a.change, level.quantity, a.reason, a.note, a.actorUserId],
  );
  return level.quantity;
}
