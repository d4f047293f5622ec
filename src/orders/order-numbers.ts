import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Order numbers: the shop's prefix, then the next value of the shop's own sequence (`shops.order_numbers`, made by a
 * database trigger for every shop), padded with zeros to the shop's width and never cut when longer. nextval takes
 * no lock that lasts: checkouts of one shop never wait for each other. A number taken is never given back — a
 * rolled-back or abandoned checkout leaves a gap — so numbers are unique and increasing, not gapless (README, "Order
 * numbers").
 */

/**
 * `count` (a parameter, `?`) new numbers of the shop `?`, one row each with `number`, ascending. Use it as a CTE or
 * a statement of its own: nextval is volatile, so PostgreSQL takes each number exactly once.
 */
export const ORDER_NUMBERS_SQL = `with taken as (select nextval(s.order_numbers) as n, s.order_prefix, s.order_number_padding
    from shops s cross join generate_series(1, ?::int) where s.id = ?)
  select order_prefix || lpad(n::text, greatest(length(n::text), order_number_padding), '0') as number from taken order by n`;

export async function nextOrderNumbers(em: EntityManager, shopId: string, count: number): Promise<string[]> {
  if (count <= 0) return [];
  const rows = await em.execute<{ number: string }[]>(ORDER_NUMBERS_SQL, [count, shopId]);
  return rows.map((r) => r.number);
}

export async function nextOrderNumber(em: EntityManager, shopId: string): Promise<string> {
  const [number] = await nextOrderNumbers(em, shopId, 1);
  return number;
}

/** The number the shop's next order will get (nextval would take it). */
export async function upcomingOrderNumber(em: EntityManager, shopId: string): Promise<number> {
  const [row] = await em.execute<{ next: string }[]>(`select order_numbers_next(order_numbers) as next from shops where id = ?`, [shopId]);
  return Number(row.next);
}

/**
 * The shop's next order gets `next`. setval is not transactional either: call it as the last step, once every check
 * has passed, for it stays even if the transaction later rolls back.
 */
export async function setUpcomingOrderNumber(em: EntityManager, shopId: string, next: number): Promise<void> {
  await em.execute(`select setval(order_numbers, ?, false) from shops where id = ?`, [next, shopId]);
}
