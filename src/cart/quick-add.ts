import type { MikroORM } from '@mikro-orm/postgresql';
import { priceOrder, type PricingLine, type Totals } from '../pricing/pricing';
import { priceOnSql } from '../catalog/prices';
import { PRICING_COLUMNS, PRICING_JOINS, pricingInputOf, type PricingRow } from '../pricing/pricing-sql';
import { sqlTransaction, type SqlTransaction } from '../db/sql';
import { cartNumberSql, totalsColumns } from '../orders/order-lifecycle';
import { DomainError, notFound } from '../shared/errors';
import { DEFAULT_SHOP_ID } from '../catalog/catalog.service';
import { defaultCartStateIdSql } from '../flows/flow.service';
import { basketEditability } from './basket-mutation';
import { stockRefusal, tooMany } from './basket-rules';
import { MAX_LINE_QUANTITY } from '../shared/quantity';
import type { Shopper } from '../shared/shopper';

/**
 * "Add to basket" for the common case — the shopper's open cart exists, or is made by this add, and its prices are
 * current — in SQL statements in one transaction: one locks the basket and reads everything the rules need (a new
 * basket is inserted in the same round trip, createBasketSql), one writes the line and the new totals. It runs as the
 * `quick` step of the one basket change (basket-mutation.ts, changeBasket). The rules are CartService.addProduct's,
 * the money math is pricing.ts's. Anything else (an order in checkout that goes back to being a cart, catalog prices
 * that changed since, a staff context date, a basket that could not be made here) answers null, and changeBasket takes
 * its ORM path. Returns the basket's id.
 */
export async function quickAddProduct(orm: MikroORM, shopper: Shopper, productId: number, quantity: number): Promise<number | null> {
  const owner = ownerSql(shopper);
  if (!owner || shopper.priceDate) return null;
  const key = shopper.userId ?? shopper.anonymousToken;
  return sqlTransaction(orm, async (sql) => {
    const create = createBasketSql(shopper);
    const lock = { text: lockBasketSql(owner), values: [key, productId] };
    const lockAndRead = (withCreate: boolean) => sql.all<LockedBasket>(withCreate ? [create, lock] : [lock]);
    // A cookie made by this request names no basket yet: it is made in the same round trip as the lock.
    let [basket] = await lockAndRead(!!shopper.newToken);
    if (!basket && !shopper.newToken) [basket] = await lockAndRead(true);
    if (!basket) return null;
    // An order in checkout goes back to being a cart on the ORM path (changeBasket downgrades); here only a cart changes.
    if (basketEditability({ type: basket.type, completed: basket.completed, checkoutStep: basket.checkout_step }) !== 'cart') return null;
    if (basket.lines.some((l) => l.stale)) return null;
    if (basket.product_id == null) throw notFound('The product');

    const existing = basket.lines.find((l) => l.productId === productId);
    const wanted = (existing?.quantity ?? 0) + quantity;
    const refusal = stockRefusal(basket.allow_out_of_stock, Number(basket.stock), wanted, basket.product_name!);
    if (refusal) throw refusal;
    if (existing && wanted > MAX_LINE_QUANTITY) throw tooMany();

    const lines: PricingLine[] = existing
      ? basket.lines.map((l) => (l === existing ? { ...l, quantity: wanted } : l))
      : [...basket.lines, { quantity, unitPriceMinor: Number(basket.product_price_minor), vatRateBp: basket.product_vat_rate_bp! }];
    const totals = priceOrder(pricingInputOf(basket, lines));
    await writeLineAndTotals(sql, basket, existing ? { lineId: existing.id, quantity: wanted } : { productId, quantity, addedBy: shopper.userId }, totals);
    return Number(basket.id);
  });
}

/** Which orders are the shopper's basket (one `?`: the user id or the basket token); null without either. */
function ownerSql(shopper: Shopper): string | null {
  return shopper.userId != null ? 'o.user_id = ?' : shopper.anonymousToken ? 'o.user_id is null and o.anonymous_token = ?::uuid' : null;
}

/**
 * The shopper's new basket, the one way one is made (this file and CartService.createBasket): a cart of the default
 * shop with the next cart number, in the cart flow's default state (the company's own flow for a company buyer),
 * unless the shopper has a basket. ON CONFLICT DO NOTHING against the one-basket-per-user index and the basket
 * token's: two concurrent first adds share one basket; a token already taken (by an order that was placed) makes
 * nothing, nor does a shop without a cart flow — the caller finds no basket and says why.
 */
export function createBasketSql(shopper: Shopper): { text: string; values: unknown[] } {
  const owner = ownerSql(shopper);
  if (!owner) throw new DomainError('VALIDATION', 'Your browser must accept cookies to keep a basket.');
  return {
    text: `insert into orders (number, shop_id, type, basket_status, user_id, company_id, anonymous_token, state_id, currency_code, currency_name, currency_rate)
      select ${cartNumberSql('s')}, s.id, 'cart', 'basket', ?, ?, ?::uuid, st.id, s.currency_code, s.currency_name, s.currency_rate
      from shops s cross join lateral (select ${defaultCartStateIdSql('?::int')} as id) st
      where s.id = ? and st.id is not null
        and not exists (select 1 from orders o where o.basket_status = 'basket' and not o.deleted and ${owner})
      on conflict do nothing`,
    values: [shopper.userId, shopper.companyId, shopper.userId == null ? shopper.anonymousToken : null, shopper.companyId, DEFAULT_SHOP_ID, shopper.userId ?? shopper.anonymousToken],
  };
}

interface LockedBasket extends PricingRow {
  id: string; type: string; completed: boolean; checkout_step: string;
  product_id: number | null; product_number: string | null; product_name: string | null; product_unit: string | null;
  product_price_minor: string | null; product_vat_rate_bp: number | null; stock: string;
}

/**
 * Values: the owner (user id or basket token), the product. The basket row is locked (FOR UPDATE) until the commit,
 * as every basket change does.
 */
function lockBasketSql(owner: string): string {
  // Built once per owner kind: the same text object each time (src/db/sql.ts looks its prepared statement up by it).
  let text = lockTexts.get(owner);
  if (text === undefined) lockTexts.set(owner, (text = lockBasketText(owner)));
  return text;
}
const lockTexts = new Map<string, string>();

function lockBasketText(owner: string): string {
  return `with basket as (
      select o.* from orders o where o.basket_status = 'basket' and not o.deleted and ${owner} for update)
    select o.id, o.type, o.completed, o.checkout_step, ${PRICING_COLUMNS},
      np.id as product_id, np.number as product_number, np.name as product_name, np.unit as product_unit,
      ${priceOnSql('np')} as product_price_minor, np.vat_rate_bp as product_vat_rate_bp,
      (select coalesce(sum(quantity), 0) from stock_levels where product_id = np.id) as stock
    from basket o
    ${PRICING_JOINS}
    left join products np on np.id = ? and np.active`;
}

type LineChange = { lineId: number; quantity: number } | { productId: number; quantity: number; addedBy: number | null };

/** One statement, sent with the COMMIT: the line (updated or inserted) and the basket's totals, version and price calculation date. */
async function writeLineAndTotals(sql: SqlTransaction, basket: LockedBasket, change: LineChange, totals: Totals): Promise<void> {
  const line = 'lineId' in change
    ? { text: 'update order_lines set quantity = ? where id = ?', values: [change.quantity, change.lineId] }
    : {
      text: `insert into order_lines (order_id, product_id, product_number, product_name, unit, quantity, unit_price_minor, vat_rate_bp, added_by_user_id)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      values: [basket.id, change.productId, basket.product_number, basket.product_name, basket.product_unit, change.quantity, basket.product_price_minor, basket.product_vat_rate_bp, change.addedBy],
    };
  const columns = totalsColumns(totals);
  await sql.commitWith(`with line as (${line.text})
    update orders set ${columns.assignments}, price_calculation_date = coalesce(price_calculation_date, now()), version = version + 1, updated_at = now()
    where id = ?`, [...line.values, ...columns.values, basket.id]);
}
