import { IMAGE_COLUMNS, imageOf, type ImageRow, type ImageView } from '../catalog/product-images';
import type { Sql } from '../db/sql';
import { priceOrder, type Totals } from '../pricing/pricing';
import type { Shopper } from '../shared/shopper';

/** A basket line as the basket page prints it (the stored price, as last priced). */
export interface BasketPageLine {
  id: number; product: { id: number } | null; productNumber: string; productName: string; quantity: number; unitPriceMinor: number; vatRateBp: number;
}

/** What the basket page prints of the shopper's basket: plain values, read in one statement. */
export interface BasketPageOrder {
  id: number; number: string; type: 'cart' | 'order'; currencyCode: string; shippingMethod: { id: number } | null;
  /** A cart's flow state (a company's cart may have to reach an ordering state first). */
  state: { id: number; name: string; allowOrder: boolean; isDefault: boolean } | null;
  /** The signed-in buyer's spend limit for this cart (their company's), if they have one. */
  spendLimitMinor: number | null;
  lines: BasketPageLine[];
}

export interface BasketPage {
  order: BasketPageOrder; totals: Totals; itemCount: number; images: Record<number, ImageView>;
  /** Line id → units beyond the stock there is now (only when the shop allows ordering out-of-stock products). */
  backOrdered: Record<number, number>;
}

type LineRow = Omit<BasketPageLine, 'product'> & { productId: number | null; stock: number | null; image: ImageRow | null };
interface PageRow {
  id: string; number: string; type: 'cart' | 'order'; currency_code: string; shipping_method_id: string | null; totals: Totals | null;
  state_id: string | null; state_name: string | null; state_allow_order: boolean | null; state_is_default: boolean | null;
  spend_limit_minor: string | null; lines: LineRow[];
}

/**
 * The shopper's basket as the basket page shows it — lines, stored totals, images, back-order units and flow state —
 * in one statement, without loading entities (the ORM's joined read and hydration were most of the page's CPU).
 */
export async function readBasketPage(sql: Sql, shopper: Shopper): Promise<BasketPage | null> {
  const owner = shopper.userId != null ? 'o.user_id = ?' : shopper.anonymousToken ? 'o.user_id is null and o.anonymous_token = ?::uuid' : null;
  if (!owner) return null;
  const [row] = await sql<PageRow>(
    `select o.id, o.number, o.type, o.currency_code, o.shipping_method_id, o.totals,
       fs.id as state_id, fs.name as state_name, fs.allow_order as state_allow_order, fs.is_default as state_is_default,
       (select u.spend_limit_minor from users u where u.id = o.user_id and u.company_id is not distinct from o.company_id) as spend_limit_minor,
       coalesce((select json_agg(json_build_object(
           'id', l.id, 'productId', l.product_id, 'productNumber', l.product_number, 'productName', l.product_name, 'quantity', l.quantity,
           'unitPriceMinor', l.unit_price_minor, 'vatRateBp', l.vat_rate_bp,
           'stock', case when s.allow_out_of_stock_orders and l.product_id is not null
             then coalesce((select sum(quantity) from stock_levels where product_id = l.product_id), 0) end,
           'image', (select row_to_json(i) from (select ${IMAGE_COLUMNS} from product_images img where img.product_id = l.product_id) i)
         ) order by l.id) from order_lines l where l.order_id = o.id), '[]') as lines
     from orders o
     join shops s on s.id = o.shop_id
     left join flow_states fs on fs.id = o.state_id
     where o.basket_status = 'basket' and not o.deleted and ${owner}`,
    [shopper.userId ?? shopper.anonymousToken],
  );
  if (!row) return null;
  const images: Record<number, ImageView> = {};
  const backOrdered: Record<number, number> = {};
  const lines = row.lines.map((l): BasketPageLine => {
    const image = l.image ? imageOf(l.image) : null;
    if (image && l.productId != null) images[l.productId] = image;
    if (l.stock != null && l.quantity > Math.max(0, Number(l.stock))) backOrdered[l.id] = l.quantity - Math.max(0, Number(l.stock));
    return {
      id: l.id, product: l.productId != null ? { id: l.productId } : null, productNumber: l.productNumber, productName: l.productName,
      quantity: l.quantity, unitPriceMinor: Number(l.unitPriceMinor), vatRateBp: l.vatRateBp,
    };
  });
  return {
    order: {
      id: Number(row.id), number: row.number, type: row.type, currencyCode: row.currency_code,
      shippingMethod: row.shipping_method_id != null ? { id: Number(row.shipping_method_id) } : null,
      state: row.state_id != null
        ? { id: Number(row.state_id), name: row.state_name ?? '', allowOrder: row.state_allow_order === true, isDefault: row.state_is_default === true }
        : null,
      spendLimitMinor: row.spend_limit_minor != null ? Number(row.spend_limit_minor) : null,
      lines,
    },
    totals: totalsOf(row),
    itemCount: lines.reduce((n, l) => n + l.quantity, 0),
    images, backOrdered,
  };
}

/** The totals as last priced (an empty basket has none yet). */
export function totalsOf(order: { totals?: Totals | null }): Totals {
  return order.totals ?? priceOrder({ lines: [], feeVatRateBp: 0 });
}
