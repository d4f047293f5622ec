import type { MikroORM } from '@mikro-orm/postgresql';
import { ordersXml } from '../exports/order-xml';
import { glsShippingCsv } from '../exports/shipping-documents';
import { flowsOfType, groupByFlow, reopenOptions, type BulkResult, type FlowService, type StateChangeActor } from '../flows/flow.service';
import { DomainError, notFound } from '../shared/errors';
import { requeueOrderExports } from '../exports/auto-export.service';
import { FlowState } from '../flows/flow.entities';
import { receiptMail } from './receipt-mail';
import type { OutboxService } from '../mail/outbox.service';
import { recordHistory } from './order-lifecycle';
import { Order, OrderHistoryEntry, type OrderType } from './order.entities';
import { OrderListPreference, type OrderListKind } from './order-list.entities';
import { replicaReads } from '../db/replicas';
import {
  ADMIN_PAGE_SIZE, buildListQuery, type ColumnKey, columnsFor, columnsSchema, DEFAULT_COLUMNS, DEFAULT_FILTER,
  effectiveDates, filterQueryString, LIST_COLUMNS, type ListFilter, listFilterSchema, type ListQuery, type ListRow,
  marks, normalized, pageCursor, pickFilter, sameFilter, SORT_KEYS, sortDir, SORTS,
} from './order-list-query';
import { encodeCursor } from '../shared/cursor';

/** Most orders one bulk action (state, capture, print, shipping documents, XML) takes at once. */
export const MAX_SELECTED = 500;

// ---------------------------------------------------------------------------------------------------------

/** Staff views of carts and orders, and the staff ways of moving them through their flows. */
export class OrderAdminService {
  constructor(private readonly orm: MikroORM, private readonly flows: FlowService, private readonly outbox: OutboxService, private readonly now: () => Date = () => new Date()) {}

  private get em() {
    return this.orm.em;
  }

  /**
   * One page of the order (or cart) list for a staff user. With `apply` the filter comes from the query and is
   * remembered; without it the user's remembered filter is used. Paging is keyset: first, after / before a
   * cursor, or last — never OFFSET.
   */
  async listPage(userId: number, type: OrderListKind, q: ListQuery) {
    const pref = await this.em.findOne(OrderListPreference, { userId, list: type });
    let filter: ListFilter;
    let remembered = false;
    if (q.apply) {
      filter = pickFilter(q);
      const stored = pref?.filter ? listFilterSchema.safeParse(pref.filter) : null;
      if (!stored?.success || !sameFilter(stored.data, filter)) await this.saveFilter(userId, type, filter);
    } else {
      const stored = listFilterSchema.safeParse(pref?.filter ?? {});
      filter = stored.success ? stored.data : DEFAULT_FILTER;
      remembered = !sameFilter(filter, DEFAULT_FILTER);
    }
    const columns = this.columnsOf(type, pref?.columns);
    const now = this.now();
    const after = q.after ? pageCursor(q.after, filter.sort) : undefined;
    const before = !after && q.before ? pageCursor(q.before, filter.sort) : undefined;
    const last = !after && !before && !!q.last;
    const { sql, params, backwards } = buildListQuery({ type, filter, now, after, before, last });
    const fetched = await replicaReads(this.orm).execute<ListRow[]>(sql, params);
    const more = fetched.length > ADMIN_PAGE_SIZE;
    const rows = fetched.slice(0, ADMIN_PAGE_SIZE);
    if (backwards) rows.reverse();
    const hasPrev = backwards ? more : !!after;
    const hasNext = backwards ? !!before : more;
    const cursorOf = (r: ListRow) => encodeCursor({ key: r.sort_key, id: r.id });
    const query = filterQueryString(filter);
    const dir = sortDir(filter);
    const sortLinks = Object.fromEntries(SORT_KEYS.map((k) => [k, filterQueryString(filter, {
      sort: k, dir: k === filter.sort ? (dir === 'asc' ? 'desc' : 'asc') : SORTS[k].defaultDir,
    })]));
    return {
      rows, filter, remembered, dates: effectiveDates(filter, now), dir, columns, sortLinks,
      pager: {
        first: hasPrev ? query : null,
        prev: hasPrev && rows.length ? `${query}&before=${cursorOf(rows[0])}` : null,
        next: hasNext && rows.length ? `${query}&after=${cursorOf(rows[rows.length - 1])}` : null,
        last: hasNext ? `${query}&last=1` : null,
      },
    };
  }

  /** Forgets the remembered filter (Reset); the chosen columns stay. */
  async resetFilter(userId: number, type: OrderListKind): Promise<void> {
    await this.em.execute('update order_list_preferences set filter = null, updated_at = now() where user_id = ? and list = ?', [userId, type]);
  }

  async saveColumns(userId: number, type: OrderListKind, chosen: ColumnKey[]): Promise<ColumnKey[]> {
    const allowed = columnsFor(type);
    const columns = allowed.filter((k) => chosen.includes(k));
    await this.em.execute(
      `insert into order_list_preferences (user_id, list, columns) values (?, ?, ?::jsonb)
       on conflict (user_id, list) do update set columns = excluded.columns, updated_at = now()`,
      [userId, type, JSON.stringify(columns)],
    );
    return columns;
  }

  /** The columns a user shows, in display order, with every column they could choose. */
  private columnsOf(type: OrderListKind, stored: unknown) {
    const allowed = columnsFor(type);
    const parsed = columnsSchema.safeParse(stored);
    const shown = stored != null && parsed.success ? allowed.filter((k) => parsed.data.includes(k)) : DEFAULT_COLUMNS[type];
    return {
      shown: shown.map((key) => ({ key, ...LIST_COLUMNS[key] })),
      all: allowed.map((key) => ({ key, label: LIST_COLUMNS[key].label, on: shown.includes(key) })),
    };
  }

  private async saveFilter(userId: number, type: OrderListKind, filter: ListFilter): Promise<void> {
    await this.em.execute(
      `insert into order_list_preferences (user_id, list, filter) values (?, ?, ?::jsonb)
       on conflict (user_id, list) do update set filter = excluded.filter, updated_at = now()`,
      [userId, type, JSON.stringify(normalized(filter))],
    );
  }

  async companies() {
    return this.em.execute<{ id: number; name: string }[]>('select id, name from companies order by name');
  }

  async shops() {
    return this.em.execute<{ id: string; name: string }[]>('select id, name from shops order by name');
  }

  statesFor(type: OrderType) {
    return flowsOfType(this.em, type === 'quote' ? 'quote' : type);
  }

  async details(number: string, type: OrderType | undefined, staffId: number) {
    const order = await this.em.findOne(Order, { number, deleted: false, ...(type ? { type } : {}) }, {
      populate: ['lines.addedBy', 'lines.stockLocation', 'state.flow', 'shippingMethod', 'paymentMethod', 'user', 'company', 'shop'],
    });
    if (!order) throw notFound(type === 'cart' ? 'The cart' : 'The order');
    const history = await this.em.find(OrderHistoryEntry, { order }, { populate: ['fromState', 'toState', 'actor'], orderBy: { id: 'asc' } });
    return { order, history, moves: await this.stateMoves(order, staffId), reopen: await reopenOptions(this.em, order.state, staffId), context: orderContext(order) };
  }

  /** What the staff state control offers for one record: only the moves the rules allow, grouped by flow. */
  async stateMoves(order: Order, staffId: number) {
    const allowed = await this.flows.movesFor(this.em, order, { userId: staffId, kind: 'staff' }, true);
    return groupByFlow(await this.statesFor(order.type), allowed);
  }

  /**
   * What a list's bulk state change offers: the moves allowed for at least one of the listed records (one record per
   * current state is asked; each selected record is checked again by changeState when it is moved).
   */
  async bulkMoves(type: OrderType, ids: (string | number)[], staffId: number) {
    if (!ids.length) return [];
    const orders = await this.em.find(Order, { id: { $in: ids.map(Number) }, type }, { populate: ['state.flow'] });
    const asked = new Set<number | null>();
    const allowed = new Map<number, FlowState>();
    for (const order of orders) {
      if (asked.has(order.state?.id ?? null)) continue;
      asked.add(order.state?.id ?? null);
      for (const st of await this.flows.movesFor(this.em, order, { userId: staffId, kind: 'staff' }, true)) allowed.set(st.id, st);
    }
    return groupByFlow(await this.statesFor(type), [...allowed.values()]);
  }

  /**
   * The internal order comment (staff only; never shown to the customer, separate from the customer's comment).
   * A plain update, so the order's version does not change: staff editing the order meanwhile are not refused.
   */
  async saveStaffComment(number: string, comment: string, staff: StateChangeActor): Promise<void> {
    await this.em.transactional(async (em) => {
      const order = await em.findOne(Order, { number, deleted: false });
      if (!order) throw notFound('The order');
      const [row] = await em.execute<{ before: string }[]>(
        'select staff_comment as before from orders where id = ? for update', [order.id]);
      if (row.before === comment) return;
      await em.execute('update orders set staff_comment = ? where id = ?', [comment, order.id]);
      await recordHistory(em, order, staff, 'internal_comment', comment ? 'Internal comment changed.' : 'Internal comment removed.');
    });
  }

  /** Queues the order confirmation once more, as the order is now (after edits too), to the billing e-mail. */
  async sendConfirmationAgain(number: string, staff: StateChangeActor): Promise<string> {
    return this.em.transactional(async (em) => {
      const order = await em.findOne(Order, { number, type: 'order', deleted: false }, { populate: ['lines', 'shippingMethod', 'paymentMethod'] });
      if (!order) throw notFound('The order');
      if (!order.completed || !order.paymentMethod) throw new DomainError('CONFLICT', `${number} has not been placed, so there is no order confirmation to send.`);
      if (!order.billing.email) throw new DomainError('CONFLICT', `${number} has no billing e-mail address to send the confirmation to.`);
      await recordHistory(em, order, staff, 'confirmation_sent_again', `Order confirmation sent again to ${order.billing.email}.`);
      await em.flush();
      const [{ n }] = await em.execute<{ n: number }[]>(`select count(*)::int as n from order_state_history where order_id = ? and event = 'confirmation_sent_again'`, [order.id]);
      const mail = receiptMail(order.id, order, order.lines.getItems(), order.totals, order.shippingMethod, order.paymentMethod);
      await this.outbox.enqueue(em, { ...mail, dedupeKey: `${mail.dedupeKey}:again:${n}` });
      return order.billing.email;
    });
  }

  /** `message` goes into the history and into the state's notification e-mails (a message to the buyer). */
  async changeState(number: string, toStateId: number, expectedVersion: number, staff: StateChangeActor, message = '', type?: OrderType) {
    const order = await this.em.findOne(Order, { number, deleted: false, ...(type ? { type } : {}) });
    if (!order) throw notFound(type === 'quote' ? 'The quote' : 'The order');
    await this.flows.changeState({ orderId: order.id, toStateId, expectedVersion, actor: staff, allowFlowSwitch: true, message });
    return order;
  }

  /** Takes an order out of a final state (separate permission, reason kept in the history); effects already done stay done. */
  async reopen(number: string, toStateId: number, expectedVersion: number, staff: StateChangeActor, reason: string) {
    const order = await this.em.findOne(Order, { number, deleted: false });
    if (!order) throw notFound('The order');
    await this.flows.reopen({ orderId: order.id, toStateId, expectedVersion, actor: staff, reason });
    return order;
  }

  async changeStates(numbers: string[], toStateId: number, staff: StateChangeActor, type?: OrderType): Promise<BulkResult[]> {
    const rows = await this.em.execute<{ id: number; number: string }[]>(
      `select id, number from orders where number in (${numbers.map(() => '?').join(',')}) and not deleted${type ? ' and type = ?' : ''} order by id`, type ? [...numbers, type] : numbers);
    const found = new Set(rows.map((r) => r.number));
    const missing: BulkResult[] = numbers.filter((n) => !found.has(n)).map((n) => ({ orderId: 0, number: n, moved: false, reason: 'Not found.' }));
    return [...(await this.flows.changeStates(rows.map((r) => r.id), toStateId, staff)), ...missing];
  }

  // -------------------------------------------------------------------------------------------------------
  // Selected orders → print, shipping documents, XML export.

  /** The selected orders with everything a printout or an export shows, in the order they were selected. */
  private async selectedOrders(numbers: string[], em = this.em): Promise<Order[]> {
    const wanted = [...new Set(numbers)];
    const orders = await em.find(Order, { number: { $in: wanted }, type: 'order', deleted: false }, {
      populate: ['lines.addedBy', 'lines.stockLocation', 'state.flow', 'shippingMethod', 'paymentMethod', 'user', 'company', 'shop'],
    });
    const byNumber = new Map(orders.map((o) => [o.number, o]));
    const missing = wanted.filter((n) => !byNumber.has(n));
    if (missing.length) throw new DomainError('NOT_FOUND', `${missing.length === 1 ? 'This order was' : 'These orders were'} not found: ${missing.join(', ')}.`);
    return wanted.map((n) => byNumber.get(n)!);
  }

  async printable(numbers: string[]) {
    return { orders: await this.selectedOrders(numbers), printedAt: this.now() };
  }

  /** A GLS-style CSV, one row per selected order, to import into the carrier's label software. */
  async shippingDocuments(numbers: string[]): Promise<{ filename: string; csv: string }> {
    const orders = await this.selectedOrders(numbers);
    const csv = glsShippingCsv(orders.map((o) => ({ number: o.number, delivery: o.shipTo() })));
    return { filename: `shipping-documents-${stamp(this.now())}.csv`, csv };
  }

  /**
   * One XML document for the selected orders, which are marked exported in the same transaction. The flag is set
   * with a plain update, so it does not bump the order's version (staff editing the order meanwhile are not refused).
   */
  async exportXml(numbers: string[]): Promise<{ filename: string; xml: string }> {
    const now = this.now();
    return this.em.transactional(async (em) => {
      const orders = await this.selectedOrders(numbers, em);
      await em.execute(`update orders set exported = true where id in (${marks(orders.length)})`, orders.map((o) => o.id));
      // The on-demand export also (re)writes each order's file in the export folder.
      await requeueOrderExports(em, orders.map((o) => o.id));
      return { filename: `orders-${stamp(now)}.xml`, xml: ordersXml(orders, now) };
    });
  }
}

/** Where the order was placed (seeds: the order context): the shop and the channel (storefront, import, recurring, quote). */
function orderContext(order: Order) {
  const channel = order.imported ? `Imported${order.channel ? ` from ${order.channel}` : ''}${order.integrationOrderId ? ` (external id ${order.integrationOrderId})` : ''}`
    : order.recurringSeriesId ? `Recurring order (series #${order.recurringSeriesId})`
      : order.quoteNumber ? `Accepted quote ${order.quoteNumber}`
        : order.company ? `B2B storefront (${order.company.name})` : 'Storefront';
  return { shop: order.shop.name, channel };
}

const stamp = (d: Date) => d.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
