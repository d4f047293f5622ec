import { isDeepStrictEqual } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Shop } from '../catalog/catalog.entities';
import { priceOnSql } from '../catalog/prices';
import { PaymentMethod } from '../payments/payment.entities';
import { ShippingMethod } from '../shipping/shipping-method.entity';
import { priceOrder, type Totals } from '../pricing/pricing';
import type { VoucherKind } from '../pricing/voucher.entity';
import { enterSql, FlowService, type EnteringState } from '../flows/flow.service';
import { Order, OrderHistoryEntry, type HistoryActor, type HistorySource } from './order.entities';
import { nextOrderNumber, ORDER_NUMBERS_SQL } from './order-numbers';

/**
 * The rules every path that changes a cart/order shares: numbering, conversion to an order at checkout, repricing
 * and the history log. Downgrade-on-change belongs to the one basket change, src/cart/basket-mutation.ts.
 */
const flows = new FlowService();

export interface Actor { userId: number | null; kind: HistoryActor; source: HistorySource }

/** A new cart number, as an SQL expression over the shop row `shop`: its cart prefix and the next of the sequence. */
export function cartNumberSql(shop: string): string {
  return `${shop}.cart_prefix || nextval('cart_number_seq')`;
}

export async function nextCartNumber(em: EntityManager, shop: Shop): Promise<string> {
  const [{ number }] = await em.execute<{ number: string }[]>(`select ${cartNumberSql('s')} as number from shops s where s.id = ?`, [shop.id]);
  return number;
}

export async function recordHistory(em: EntityManager, order: Order, actor: Actor, event: string, message = '', states?: { from?: number | null; to?: number | null }) {
  em.create(OrderHistoryEntry, {
    order, event, message,
    actor: actor.userId ?? null,
    actorKind: actor.kind,
    source: actor.source,
    fromState: states?.from ?? null,
    toState: states?.to ?? null,
    createdAt: new Date(),
  });
}

/**
 * Checkout has started: the cart becomes an order, takes a new id from the shop's numbering (order-numbers.ts: a
 * sequence per shop, so no checkout waits for another's) and enters the order flow (through the gate).
 */
export async function convertToOrder(em: EntityManager, order: Order, actor: Actor): Promise<void> {
  if (order.type !== 'cart') return;
  const from = order.number;
  const state = await flows.defaultState(em, 'order');
  await em.populate(order, ['state.flow']);
  await em.flush();
  order.number = await nextOrderNumber(em, order.shop.id);
  order.type = 'order';
  await flows.move(em, order, state, { actor, check: 'enter', event: 'converted', message: `Cart ${from} became order ${order.number} when checkout started.` });
}

/**
 * convertToOrder as one statement, for a lean checkout POST that has read and locked the cart itself: sets `set` (the
 * step's columns and totals, `col = ?` assignments; `u` is the shopper's user row, when logged in), takes the shop's next number, makes the cart an order in the
 * flow's entering state and writes the gate's history row (enterSql). The caller sends it with its COMMIT. Null when
 * entering the state has effects the gate must make (notifications, a cancelled role): then the ORM path and
 * convertToOrder.
 */
export function convertToOrderSql(cart: { id: number; number: string; shopId: string; stateId: number | null }, to: EnteringState, actor: Actor,
  set: { assignments: string; values: unknown[] }, userId: number | null = null) {
  const entered = enterSql(to, {
    orderId: cart.id, fromStateId: cart.stateId, event: 'converted', actor, from: 'numbered',
    message: { sql: `'Cart ' || ? || ' became order ' || numbered.number || ' when checkout started.'`, values: [cart.number] },
  });
  if (!entered) return null;
  return {
    text: `with numbered as (${ORDER_NUMBERS_SQL}),
      converted as (update orders o set ${set.assignments}, number = numbered.number, type = 'order', state_id = ?, version = o.version + 1, updated_at = now()
        from numbered left join users u on u.id = ? where o.id = ?),
      ${entered.text}
      select number from numbered`,
    values: [1, cart.shopId, ...set.values, to.id, userId, cart.id, ...entered.values],
  };
}

/**
 * Recomputes totals. While the record is an open cart or an order still in checkout, unit prices come
 * from the catalog (never from a form) as of today — or, with a staff context date (YYYY-MM-DD), as of that day
 * (src/catalog/prices.ts: a dated price whose period holds the day, else the product's own price), and the price
 * calculation date is the context date. Once placed, lines keep the prices they were sold at.
 */
export async function reprice(em: EntityManager, order: Order, priceDate?: string | null): Promise<Totals> {
  const lines = order.lines.getItems();
  const catalogPrices = !order.completed && order.type !== 'quote';
  const productIds = catalogPrices ? lines.map((l) => l.product?.id).filter((x): x is number => x != null) : [];
  const { feeVatRateBp, voucher, products } = await pricingLookups(em, order, productIds, priceDate ?? null);
  if (catalogPrices) {
    let pricesChanged = false;
    for (const line of lines) {
      const p = line.product ? products.get(line.product.id) : undefined;
      if (p) {
        pricesChanged ||= line.unitPriceMinor !== p.priceMinor || line.vatRateBp !== p.vatRateBp;
        line.unitPriceMinor = p.priceMinor;
        line.vatRateBp = p.vatRateBp;
        line.productName = p.name;
      }
    }
    // Only a real price change is a new calculation; merely looking at a page writes nothing.
    if (priceDate) order.priceCalculationDate = new Date(`${priceDate}T00:00:00Z`);
    else if (pricesChanged || !order.priceCalculationDate) order.priceCalculationDate = new Date();
  }
  // The basket's own row brings its shipping and payment method along (CartService.findBasket): no query here.
  const shipping = order.shippingMethod ? await em.findOne(ShippingMethod, order.shippingMethod.id) : null;
  const payment = order.paymentMethod ? await em.findOne(PaymentMethod, order.paymentMethod.id) : null;
  const totals = priceOrder({
    lines,
    shipping: shipping ? { feeMinor: shipping.feeMinor, freeAboveMinor: shipping.freeAboveMinor } : null,
    paymentFeeMinor: payment?.feeMinor ?? 0,
    feeVatRateBp,
    voucher,
    orderDiscountMinor: order.orderDiscountMinor,
  });
  // The same totals keep the loaded object: the ORM compares a JSON column by its text, and PostgreSQL's jsonb hands
  // the keys back in its own order, so a new but equal object would be written (and the version bumped) on every look.
  Object.assign(order, storedTotals(totals), isDeepStrictEqual(order.totals, totals) ? { totals: order.totals } : {});
  return totals;
}

interface CatalogLine { priceMinor: number; vatRateBp: number; name: string }

/**
 * Everything reprice reads besides the order, in one statement: the shop's VAT rate for fees, the active voucher, and
 * each product's price on the day (src/catalog/prices.ts), VAT rate and name.
 */
async function pricingLookups(em: EntityManager, order: Order, productIds: number[], priceDate: string | null) {
  const [row] = await em.execute<{ fee_vat_rate_bp: number; voucher: { kind: VoucherKind; value: number } | null; products: ({ id: number } & CatalogLine)[] }[]>(
    `select s.default_vat_rate_bp as fee_vat_rate_bp,
       (select json_build_object('kind', v.kind, 'value', v.value) from vouchers v where v.code = ? and v.active) as voucher,
       coalesce((select json_agg(json_build_object('id', p.id, 'priceMinor', ${priceOnSql('p', priceDate ? '?::date' : 'current_date')}, 'vatRateBp', p.vat_rate_bp, 'name', p.name))
                 from products p where ${productIds.length ? `p.id in (${productIds.map(() => '?').join(',')})` : 'false'}), '[]') as products
     from shops s where s.id = ?`,
    [order.voucherCode || null, ...(priceDate ? [priceDate] : []), ...productIds, order.shop.id],
  );
  if (!row) throw new Error(`No shop ${order.shop.id}`);
  return {
    feeVatRateBp: row.fee_vat_rate_bp,
    voucher: row.voucher ? { kind: row.voucher.kind, value: Number(row.voucher.value) } : null,
    products: new Map<number, CatalogLine>(row.products.map((p) => [p.id, { priceMinor: Number(p.priceMinor), vatRateBp: p.vatRateBp, name: p.name }])),
  };
}

/** The order columns that keep a pricing result, so lists and statistics need no recalculation. */
export function storedTotals(totals: Totals) {
  return {
    subtotalMinor: totals.subtotalMinor,
    discountMinor: totals.discountExclVatMinor,
    shippingFeeMinor: totals.shippingFeeMinor,
    paymentFeeMinor: totals.paymentFeeMinor,
    totalExclVatMinor: totals.totalExclVatMinor,
    vatMinor: totals.vatMinor,
    totalMinor: totals.totalMinor,
    totals,
  } satisfies Partial<Order>;
}

/**
 * storedTotals as `column = ?` assignments and their values, for statements written in SQL; `columns` names the same
 * columns in the same order (an INSERT's column list).
 */
export function totalsColumns(totals: Totals): { assignments: string; columns: string; values: unknown[] } {
  const entries = Object.entries(storedTotals(totals));
  const columns = entries.map(([key]) => key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()));
  return {
    assignments: columns.map((c) => `${c} = ?`).join(', '),
    columns: columns.join(', '),
    values: entries.map(([key, value]) => (key === 'totals' ? JSON.stringify(value) : value)),
  };
}
