import type { EntityManager } from '@mikro-orm/postgresql';

/** One order line as far as the warehouse is concerned: what was ordered, what has shipped, what is on a return. */
export interface LineUnits {
  lineId: number; productId: number | null; locationId: number | null; quantity: number;
  /** Units that left the warehouse. */
  shipped: number;
  /** Units on returns that were not rejected (shipped units coming back through the return's own restock). */
  returned: number;
}

/**
 * The one rule for what of each line has shipped, which returns and a cancel's give-back both follow: the shipments'
 * count (order_lines.shipped_quantity) when the order has any, otherwise all of it when the order is (or, for a
 * cancel, was) in a shipped- or completed-role state — moved there without recorded shipments.
 */
export async function lineUnits(em: EntityManager, orderId: number, stateRole: string | null | undefined): Promise<LineUnits[]> {
  const rows = await em.execute<{ id: string; product_id: number | null; stock_location_id: number | null; quantity: number; shipped_quantity: number; returned: number }[]>(
    `select l.id, l.product_id, l.stock_location_id, l.quantity, l.shipped_quantity,
       coalesce((select sum(rl.quantity) from return_lines rl join returns r on r.id = rl.return_id join flow_states s on s.id = r.state_id
         where rl.order_line_id = l.id and s.role is distinct from 'rejected'), 0)::int as returned
     from order_lines l where l.order_id = ? order by l.id`, [orderId]);
  const wholeOrderShipped = !rows.some((r) => r.shipped_quantity > 0) && ['shipped', 'completed'].includes(stateRole ?? '');
  return rows.map((r) => ({
    lineId: Number(r.id), productId: r.product_id, locationId: r.stock_location_id, quantity: r.quantity,
    shipped: wholeOrderShipped ? r.quantity : r.shipped_quantity, returned: r.returned,
  }));
}

/** Units of a line still in the shop's hands: not shipped, and not on a return (a return restocks its own goods). */
export function unitsNotShipped(line: LineUnits): number {
  return Math.max(0, line.quantity - Math.max(line.shipped, line.returned));
}
