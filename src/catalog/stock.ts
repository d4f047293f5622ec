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

/** Out-of-stock ordering: the location with the most of the product goes down by `quantity`, but not below zero. */
export async function takeFromFullestLocation(sql: Sql, productId: number, quantity: number): Promise<number | undefined> {
  const [taken] = await sql<{ location_id: number }>(
    `update stock_levels set quantity = greatest(quantity - ?, 0)
     where product_id = ? and location_id = (select location_id from stock_levels where product_id = ? order by quantity desc, location_id limit 1)
     returning location_id`,
    [quantity, productId, productId],
  );
  return taken?.location_id;
}

/**
 * Takes each line's quantity from one stock location with a conditional UPDATE (never below zero), in product
 * order so concurrent orders cannot deadlock. With out-of-stock ordering allowed, the location with the most
 * stock goes down to zero instead. Sets each line's stock location; refuses with INSUFFICIENT_STOCK otherwise.
 */
export async function takeStock(em: EntityManager, lines: StockLine[], allowOutOfStock: boolean, refusal: (line: StockLine) => string): Promise<void> {
  for (const [line, locationId] of await takeStockWith(emSql(em), lines, allowOutOfStock, refusal)) {
    line.stockLocation = em.getReference(StockLocation, locationId);
  }
}

/** takeStock on any connection: answers the location each line was taken from. */
export async function takeStockWith<L extends Omit<StockLine, 'stockLocation'>>(sql: Sql, lines: L[], allowOutOfStock: boolean, refusal: (line: L) => string): Promise<Map<L, number>> {
  const taken = new Map<L, number>();
  const sorted = lines.filter((l) => l.product).sort((a, b) => a.product!.id - b.product!.id);
  for (const line of sorted) {
    const productId = line.product!.id;
    let locationId = await takeFromOneLocation(sql, productId, line.quantity);
    if (locationId == null && allowOutOfStock) {
      locationId = await takeFromFullestLocation(sql, productId, line.quantity);
    } else if (locationId == null) {
      throw new DomainError('INSUFFICIENT_STOCK', refusal(line));
    }
    if (locationId != null) taken.set(line, locationId);
  }
  return taken;
}
