import type { MikroORM } from '@mikro-orm/postgresql';
import { visibleOrRefuse, visibleSql } from '../accounts/access-policy';
import type { SessionUser } from '../accounts/account.service';
import { totalsOf } from '../cart/basket-page';
import type { CartService } from '../cart/cart.service';
import type { Shopper } from '../shared/shopper';
import { Product } from '../catalog/catalog.entities';
import { pricesOn } from '../catalog/prices';
import { emSql } from '../db/sql';
import type { Totals } from '../pricing/pricing';
import { Order } from '../orders/order.entities';
import { DomainError, invalid, notFound } from '../shared/errors';
import { formatMoney, withVat } from '../shared/money';
import { replicaReads } from '../db/replicas';

export const HISTORY_PAGE_SIZE = 20;

/** Already validated by the route (formats); the service checks what needs the database (the state). */
export interface HistoryFilter {
  /** yyyy-mm-dd, inclusive, in UTC like every date shown. */
  from?: string;
  to?: string;
  stateId?: number;
  page: number;
}

export interface HistoryRow {
  number: string;
  placed_at: Date;
  state_name: string | null;
  state_color: string | null;
  total_minor: string;
  currency_code: string;
  ordered_by: string | null;
  /** Placed by someone else of the buyer's company. */
  by_colleague: boolean;
}

export interface StateOption { id: number; name: string; color: string; flow_name: string }

/** One entry of the timeline a customer may see: when the order entered which state. Nothing else is selected. */
export interface TimelineEntry { created_at: Date; state_name: string; state_color: string }

export interface ReorderResult {
  number: string;
  currencyCode: string;
  added: { name: string; quantity: number }[];
  /** Products no longer sold (inactive, or gone from the catalog): not added. */
  skipped: { name: string; productNumber: string }[];
  /** Unit prices incl. VAT: what was paid on the order and what the basket charges today. */
  priceChanges: { name: string; unit: string; oldMinor: number; newMinor: number }[];
  /** Lines the basket refused (e.g. the line would exceed the most one line may hold). */
  failed: { name: string; reason: string }[];
}

/** Where a basket change can be made; CartService.addProduct in the app. */
export type BasketAdder = Pick<CartService, 'addProduct'>;

/** The first instant after the end of a yyyy-mm-dd day (UTC). */
function dayAfter(isoDay: string): Date {
  const d = new Date(`${isoDay}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d;
}

/** The buyer's order history: own orders and, for a B2B buyer, the company's. */
export class OrderHistoryService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  /** Placed orders (not carts, not deleted) the user may see, newest first, filtered and paged. */
  async list(user: SessionUser, f: HistoryFilter) {
    if (f.stateId != null) await this.assertOrderState(f.stateId);
    const vis = visibleSql(user);
    const where = [`o.type = 'order'`, 'o.completed', 'not o.deleted', vis.sql];
    const params: unknown[] = [...vis.params];
    const placedAt = 'coalesce(o.completed_at, o.created_at)';
    if (f.from) {
      where.push(`${placedAt} >= ?`);
      params.push(new Date(`${f.from}T00:00:00Z`));
    }
    if (f.to) {
      where.push(`${placedAt} < ?`);
      params.push(dayAfter(f.to));
    }
    if (f.stateId != null) {
      where.push('o.state_id = ?');
      params.push(f.stateId);
    }
    const [{ n }] = await replicaReads(this.orm).execute<{ n: number }[]>(`select count(*)::int as n from orders o where ${where.join(' and ')}`, params);
    const offset = (f.page - 1) * HISTORY_PAGE_SIZE;
    const rows = n > offset ? await replicaReads(this.orm).execute<HistoryRow[]>(
      `select o.number, ${placedAt} as placed_at, s.name as state_name, s.color as state_color, o.total_minor, o.currency_code,
              coalesce(nullif(u.name, ''), nullif(o.billing_name, '')) as ordered_by,
              (o.user_id is distinct from ?) as by_colleague
       from orders o
       left join flow_states s on s.id = o.state_id
       left join users u on u.id = o.user_id
       where ${where.join(' and ')}
       order by ${placedAt} desc, o.id desc
       limit ${HISTORY_PAGE_SIZE} offset ${offset}`,
      [user.id, ...params],
    ) : [];
    return {
      rows,
      total: n,
      page: f.page,
      pageCount: Math.max(1, Math.ceil(n / HISTORY_PAGE_SIZE)),
      pageSize: HISTORY_PAGE_SIZE,
      firstIndex: rows.length ? offset + 1 : 0,
      lastIndex: offset + rows.length,
      /** A B2B buyer sees the company's orders, so the list says who ordered each. */
      companyView: user.companyId != null,
      states: await this.stateOptions(user, f.stateId),
    };
  }

  /** The order-flow states the user's orders are in (plus the one filtered on, so the select keeps showing it). */
  async stateOptions(user: SessionUser, selected?: number): Promise<StateOption[]> {
    const vis = visibleSql(user);
    return this.em.execute<StateOption[]>(
      `select s.id, s.name, s.color, f.name as flow_name
       from flow_states s join flows f on f.id = s.flow_id
       where f.type = 'order' and (s.id = ? or exists (
         select 1 from orders o where o.state_id = s.id and o.type = 'order' and o.completed and not o.deleted and ${vis.sql}))
       order by f.is_default desc, f.name, s.sort_order, s.id`,
      [selected ?? null, ...vis.params],
    );
  }

  /** An order the user may see, with everything the details and receipt show. Anyone else: not found. */
  async details(user: SessionUser, number: string) {
    const order = await this.findVisible(user, number);
    await this.em.populate(order, ['lines', 'state', 'shippingMethod', 'paymentMethod', 'user']);
    // Only the date and the state entered: never who changed it (staff names) nor internal messages. The order's
    // progress after it was placed: its order-flow states, not the cart states it went through before (approval).
    const timeline = await this.em.execute<TimelineEntry[]>(
      `select h.created_at, s.name as state_name, s.color as state_color
       from order_state_history h join flow_states s on s.id = h.to_state_id join flows f on f.id = s.flow_id and f.type = 'order'
       where h.order_id = ? and h.event = 'state_changed'
       order by h.created_at, h.id`,
      [order.id],
    );
    const totals: Totals = totalsOf(order);
    return {
      order,
      totals,
      timeline,
      trackingUrl: trackingUrlOf(order),
      orderedBy: order.company && order.user ? order.user.name : null,
      byColleague: order.user?.id !== user.id,
    };
  }

  /**
   * "Order again": copies the order's lines into the user's basket at today's catalog prices. Products no
   * longer sold are skipped; lines whose unit price (incl. VAT) differs from what was paid are reported.
   * Each line goes through the basket's own rules (CartService.addProduct), one line at a time.
   */
  async reorder(user: SessionUser, number: string, basket: BasketAdder, shopper: Shopper): Promise<ReorderResult> {
    const order = await this.findVisible(user, number);
    await this.em.populate(order, ['lines']);
    const lines = order.lines.getItems();
    const ids = lines.map((l) => l.product?.id).filter((id): id is number => id != null);
    const products = new Map((ids.length ? await this.em.find(Product, { id: { $in: ids } }) : []).map((p) => [p.id, p]));
    const todaysPrices = await pricesOn(emSql(this.em), ids, shopper.priceDate ?? null);
    const result: ReorderResult = { number: order.number, currencyCode: order.currencyCode, added: [], skipped: [], priceChanges: [], failed: [] };
    for (const line of lines) {
      const product = line.product ? products.get(line.product.id) : undefined;
      if (!product || !product.active) {
        result.skipped.push({ name: line.productName, productNumber: line.productNumber });
        continue;
      }
      try {
        await basket.addProduct(shopper, product.id, line.quantity);
      } catch (e) {
        // A basket that cannot change at all (being placed) refuses the whole command.
        if (!(e instanceof DomainError) || e.code === 'CART_NOT_EDITABLE' || e.code === 'CART_NOT_ORDERABLE') throw e;
        result.failed.push({ name: product.name, reason: e.message });
        continue;
      }
      result.added.push({ name: product.name, quantity: line.quantity });
      const oldMinor = withVat(line.unitPriceMinor, line.vatRateBp);
      const newMinor = withVat(todaysPrices.get(product.id) ?? product.priceMinor, product.vatRateBp);
      if (oldMinor !== newMinor) result.priceChanges.push({ name: product.name, unit: product.unit, oldMinor, newMinor });
    }
    return result;
  }

  private async findVisible(user: SessionUser, number: string): Promise<Order> {
    return visibleOrRefuse(user, await this.em.findOne(Order, { number, type: 'order', completed: true, deleted: false }), 'The order');
  }

  private async assertOrderState(stateId: number): Promise<void> {
    const [row] = await this.em.execute<{ ok: boolean }[]>(
      `select true as ok from flow_states s join flows f on f.id = s.flow_id where s.id = ? and f.type = 'order'`, [stateId]);
    if (!row) throw invalid('That state is not an order state. Please choose a state from the list.', { state: 'Please choose a state from the list.' });
  }
}

/** Only an http(s) link is ever rendered (there is no tracking column yet; see the report). */
function trackingUrlOf(order: Order): string | null {
  const raw = (order as unknown as { trackingUrl?: unknown }).trackingUrl;
  return typeof raw === 'string' && /^https?:\/\/[^\s]+$/i.test(raw) ? raw : null;
}

/** The flash messages that tell the user what "order again" did. Pure. */
export function reorderMessages(r: ReorderResult): { type: 'success' | 'error'; message: string }[] {
  const out: { type: 'success' | 'error'; message: string }[] = [];
  const money = (m: number) => formatMoney(m, r.currencyCode);
  if (r.added.length) {
    const items = r.added.map((a) => `${a.quantity} × ${a.name}`).join(', ');
    out.push({ type: 'success', message: `Added from order ${r.number} to your basket at today's prices: ${items}.` });
  } else {
    out.push({ type: 'error', message: `Nothing from order ${r.number} could be added to your basket.` });
  }
  if (r.priceChanges.length) {
    const changes = r.priceChanges.map((c) => `${c.name}: ${money(c.newMinor)} per ${c.unit} now, was ${money(c.oldMinor)}`).join('; ');
    out.push({ type: 'error', message: `Prices have changed since you ordered (unit prices incl. VAT): ${changes}.` });
  }
  if (r.skipped.length) {
    out.push({ type: 'error', message: `No longer sold, so not added: ${r.skipped.map((s) => `${s.name} (${s.productNumber})`).join(', ')}.` });
  }
  for (const f of r.failed) out.push({ type: 'error', message: `${f.name} was not added: ${f.reason}` });
  return out;
}
