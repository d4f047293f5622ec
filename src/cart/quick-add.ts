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
 * current — in SQL statements in one transaction: one locks the basket and reads everything the rules need, one writes
 * the line and the new totals. A shopper without a basket gets it made by that last statement, with its line and totals
 * (createBasketSql): the first statement then reads what a new basket is priced with (newBasketSql), so the new orders
 * row is written once, not inserted and updated at once. It runs as the `quick` step of the one basket change
 * (basket-mutation.ts, changeBasket). The rules are CartService.addProduct's, the money math is pricing.ts's. Anything
 * else (an order in checkout that goes back to being a cart, catalog prices that changed since, a staff context date,
 * a basket that could not be made here) answers null, and changeBasket takes its ORM path. Returns the basket's id.
 */
export async function quickAddProduct(orm: MikroORM, shopper: Shopper, productId: number, quantity: number): Promise<number | null> {
  const owner = ownerSql(shopper);
  if (!owner || shopper.priceDate) return null;
  const key = shopper.userId ?? shopper.anonymousToken;
  return sqlTransaction(orm, async (sql) => {
    // A cookie made by this request names no basket yet: the first statement reads what a new one is priced with.
    let [basket] = shopper.newToken ? [] : await sql<LockedBasket>(lockBasketSql(owner), [key, productId]);
    const making = !basket;
    if (making) [basket] = await sql<LockedBasket>(NEW_BASKET_SQL, [DEFAULT_SHOP_ID, productId]);
    if (!basket) return null;
    // An order in checkout goes back to being a cart on the ORM path (changeBasket downgrades); here only a cart changes.
    if (basketEditability({ type: basket.type, completed: basket.completed, checkoutStep: basket.checkout_step }) !== 'cart') return null;
    if (basket.lines.some((l) => l.stale)) return null;
    // A cart moved on in its flow (submitted, approved) goes back to its starting state when it changes: the ORM path does that.
    if (!basket.in_starting_state) return null;
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
    if (making) {
      // Nothing made (a basket made meanwhile, a basket token taken, no cart flow): the ORM path finds it or says why.
      const insert = createBasketSql(shopper, { line: newLine(basket, productId, quantity, shopper.userId), totals });
      const [made] = await sql.commitWith<{ id: string }>(insert.text, insert.values);
      return made ? Number(made.id) : null;
    }
    await writeLineAndTotals(sql, basket, existing ? { lineId: existing.id, quantity: wanted } : newLine(basket, productId, quantity, shopper.userId), totals);
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
 * unless the shopper has a basket — with its first line and totals when the add that makes it knows them (quick add),
 * empty otherwise (the ORM path adds to it). ON CONFLICT DO NOTHING against the one-basket-per-user index and the
 * basket token's: two concurrent first adds share one basket; a token already taken (by an order that was placed)
 * makes nothing, nor does a shop without a cart flow — the caller finds no basket (no row answered) and says why.
 */
export function createBasketSql(shopper: Shopper, first?: { line: NewLine; totals: Totals }): { text: string; values: unknown[] } {
  const owner = ownerSql(shopper);
  if (!owner) throw new DomainError('VALIDATION', 'Your browser must accept cookies to keep a basket.');
  const totals = first && totalsColumns(first.totals);
  const insert = {
    text: `insert into orders (number, shop_id, type, basket_status, user_id, company_id, anonymous_token, state_id, currency_code, currency_name, currency_rate${totals ? `, ${totals.columns}, price_calculation_date` : ''})
      select ${cartNumberSql('s')}, s.id, 'cart', 'basket', ?, ?, ?::uuid, st.id, s.currency_code, s.currency_name, s.currency_rate${totals ? `, ${totals.values.map(() => '?').join(', ')}, now()` : ''}
      from shops s cross join lateral (select ${defaultCartStateIdSql('?::int')} as id) st
      where s.id = ? and st.id is not null
        and not exists (select 1 from orders o where o.basket_status = 'basket' and not o.deleted and ${owner})
      on conflict do nothing`,
    values: [shopper.userId, shopper.companyId, shopper.userId == null ? shopper.anonymousToken : null, ...(totals?.values ?? []), shopper.companyId, DEFAULT_SHOP_ID, shopper.userId ?? shopper.anonymousToken],
  };
  if (!first) return insert;
  return {
    text: `with basket as (${insert.text} returning id),
      line as (insert into order_lines (${LINE_COLUMNS}) select basket.id, ${LINE_VALUES} from basket)
      select id from basket`,
    values: [...insert.values, ...lineValues(first.line)],
  };
}

interface LockedBasket extends PricingRow {
  id: string; type: string; completed: boolean; checkout_step: string;
  product_id: number | null; product_number: string | null; product_name: string | null; product_unit: string | null;
  product_price_minor: string | null; product_vat_rate_bp: number | null; stock: string; in_starting_state: boolean;
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
    ${basketReadSql('basket')}`;
}

/**
 * What an add reads of basket `o` (the locked basket, or the new one's stand-in): the pricing columns, the product
 * asked for (the last `?`) and its stock, and whether the cart is still in its flow's starting state.
 */
function basketReadSql(from: string): string {
  return `select o.id, o.type, o.completed, o.checkout_step, ${PRICING_COLUMNS},
      np.id as product_id, np.number as product_number, np.name as product_name, np.unit as product_unit,
      ${priceOnSql('np')} as product_price_minor, np.vat_rate_bp as product_vat_rate_bp,
      (select coalesce(sum(quantity), 0) from stock_levels where product_id = np.id) as stock,
      coalesce((select fs.is_default from flow_states fs where fs.id = o.state_id), true) as in_starting_state
    from ${from} o
    ${PRICING_JOINS}
    left join products np on np.id = ? and np.active`;
}

/**
 * Values: the shop, the product. A basket not made yet, as the add reads it: an empty cart of the shop (no lines,
 * methods, voucher or discount; createBasketSql makes it), with what its pricing and the add's rules need.
 */
const NEW_BASKET_SQL = basketReadSql(`(select null::bigint as id, 'cart'::text as type, false as completed, 'cart'::text as checkout_step, s.id as shop_id,
    0::bigint as order_discount_minor, null::int as state_id, null::int as shipping_method_id, null::int as payment_method_id, ''::text as voucher_code
    from shops s where s.id = ?)`);

/** A line the add inserts, as the locked (or new) basket's row read its product. */
interface NewLine {
  productId: number; productNumber: string | null; productName: string | null; unit: string | null; quantity: number;
  unitPriceMinor: string | null; vatRateBp: number | null; addedBy: number | null;
}

function newLine(basket: LockedBasket, productId: number, quantity: number, addedBy: number | null): NewLine {
  return {
    productId, productNumber: basket.product_number, productName: basket.product_name, unit: basket.product_unit, quantity,
    unitPriceMinor: basket.product_price_minor, vatRateBp: basket.product_vat_rate_bp, addedBy,
  };
}

/** A new line's columns after its order id, and their values (one `?` each). */
const LINE_COLUMNS = 'order_id, product_id, product_number, product_name, unit, quantity, unit_price_minor, vat_rate_bp, added_by_user_id';
const LINE_VALUES = '?, ?, ?, ?, ?, ?, ?, ?';
function lineValues(line: NewLine): unknown[] {
  return [line.productId, line.productNumber, line.productName, line.unit, line.quantity, line.unitPriceMinor, line.vatRateBp, line.addedBy];
}

type LineChange = { lineId: number; quantity: number } | NewLine;

/** One statement, sent with the COMMIT: the line (updated or inserted) and the basket's totals, version and price calculation date. */
async function writeLineAndTotals(sql: SqlTransaction, basket: LockedBasket, change: LineChange, totals: Totals): Promise<void> {
  const line = 'lineId' in change
    ? { text: 'update order_lines set quantity = ? where id = ?', values: [change.quantity, change.lineId] }
    : { text: `insert into order_lines (${LINE_COLUMNS}) values (?, ${LINE_VALUES})`, values: [basket.id, ...lineValues(change)] };
  const columns = totalsColumns(totals);
  await sql.commitWith(`with line as (${line.text})
    update orders set ${columns.assignments}, price_calculation_date = coalesce(price_calculation_date, now()), version = version + 1, updated_at = now()
    where id = ?`, [...line.values, ...columns.values, basket.id]);
}
