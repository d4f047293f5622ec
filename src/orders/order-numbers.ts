import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Order numbers: the shop's prefix, then the next value of the shop's own sequence (`shops.order_numbers`, made by a
 * database trigger for every shop), padded with zeros to the shop's width and never cut when longer. nextval takes
 * no lock that lasts: checkouts of one shop never wait for each other. A number taken is never given back — a
 * rolled-back or abandoned checkout leaves a gap — so numbers are unique and increasing, not gapless (README, "Order
 * numbers"). One database function takes them (order_numbers_take), skipping a number an order already has: staff
 * may bring back a prefix whose later numbers belong to orders of an earlier period.
 */

/**
 * `count` (a parameter, `?`) new numbers of the shop `?`, one row each with `number`, ascending. Use it as a CTE or
 * a statement of its own: the function is volatile, so PostgreSQL takes each number exactly once.
 */
export const ORDER_NUMBERS_SQL = 'select number from order_numbers_take(?::int, ?)';

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
 * Staff's change of the numbering, in the caller's transaction: `change` is given the number the shop's next order
 * would get and answers the one it should get (or throws to change nothing). Meanwhile no checkout takes a number:
 * ALTER SEQUENCE waits for the transactions that took one, and holds nextval until the caller's transaction ends, so
 * the number `change` sees is the true next one and the new one cannot be taken before it is set. Setting it is
 * undone with the transaction.
 */
export async function changeUpcomingOrderNumber(em: EntityManager, shopId: string, change: (upcoming: number) => Promise<number>): Promise<void> {
  await em.execute(`select order_numbers_hold(order_numbers) from shops where id = ?`, [shopId]);
  const upcoming = await upcomingOrderNumber(em, shopId);
  const next = await change(upcoming);
  if (next !== upcoming) await em.execute(`select order_numbers_restart(order_numbers, ?) from shops where id = ?`, [next, shopId]);
}
