import type { Sql } from '../db/sql';

/**
 * The one rule for "what does a product cost on a day": the dated price whose period (valid_from … valid_to,
 * inclusive; no valid_to = open-ended) holds the day, else the product's own price. Periods of one product never
 * overlap (the product_prices_no_overlap constraint), so at most one dated price matches.
 *
 * `product` is the SQL alias of the products row; `day` an SQL date expression — a bound `?::date`, or
 * `current_date` for today. Used by the catalog pages, reprice() and the quick paths alike.
 */
export function priceOnSql(product: string, day = 'current_date'): string {
  return `coalesce((select pp.price_minor from product_prices pp
    where pp.product_id = ${product}.id and daterange(pp.valid_from, pp.valid_to, '[]') @> ${day}), ${product}.price_minor)`;
}

/** Each product's price on `day` (YYYY-MM-DD; null = today), by product id. */
export async function pricesOn(sql: Sql, productIds: number[], day: string | null): Promise<Map<number, number>> {
  if (productIds.length === 0) return new Map();
  const rows = await sql<{ id: number; price_minor: string }>(
    `select p.id, ${priceOnSql('p', day ? '?::date' : 'current_date')} as price_minor from products p
     where p.id in (${productIds.map(() => '?').join(',')})`,
    day ? [day, ...productIds] : productIds,
  );
  return new Map(rows.map((r) => [Number(r.id), Number(r.price_minor)]));
}

/** One product's price today (see priceOnSql). */
export async function priceToday(sql: Sql, productId: number): Promise<number> {
  const prices = await pricesOn(sql, [productId], null);
  const price = prices.get(productId);
  if (price == null) throw new Error(`No product ${productId}`);
  return price;
}
