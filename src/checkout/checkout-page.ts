import type { Shopper } from '../shared/shopper';
import { priceOnSql } from '../catalog/prices';
import type { Sql } from '../db/sql';
import { enteringStateSql, type EnteringState } from '../flows/flow.service';
import { ADDRESS_FIELDS, type Address, type CheckoutStep } from '../orders/order.entities';
import type { PaymentProviderCode } from '../payments/payment.entities';
import { priceOrder, type Totals } from '../pricing/pricing';
import { PRICING_COLUMNS, PRICING_JOINS, pricingInputOf, type PricingRow } from '../pricing/pricing-sql';

/** A line as a checkout page shows it: the catalog's price, VAT rate and name today (as reprice would store them). */
export interface CheckoutPageLine {
  productName: string; productNumber: string; quantity: number; unit: string; unitPriceMinor: number; vatRateBp: number; discountMinor: number;
}

/** What a checkout page prints of the shopper's basket: plain values, read in one statement, never written. */
export interface CheckoutPageOrder {
  id: number; number: string; type: 'cart' | 'order'; checkoutStep: CheckoutStep; currencyCode: string;
  voucherCode: string; customerComment: string; deliverySameAsBilling: boolean;
  shippingMethod: { id: number; name: string } | null;
  paymentMethod: { id: number; name: string; provider: PaymentProviderCode } | null;
  lines: CheckoutPageLine[];
  /** A cart's flow state and company, for the "may this cart be ordered" check. */
  stateId: number | null; companyId: number | null;
}

export interface CheckoutPage {
  order: CheckoutPageOrder; billing: Address; delivery: Address; totals: Totals; basketCount: number;
  /** The methods step's choices, when asked for (withMethods). */
  shippingMethods?: MethodChoice[]; paymentMethods?: MethodChoice[];
}

/** A shipping or payment method offered at the methods step. */
export interface MethodChoice { id: number; name: string; description: string; feeMinor: number; freeAboveMinor?: number | null }

/** The active methods of `table` as the methods step offers them, in their order (a json array). */
function choicesSql(table: 'shipping_methods' | 'payment_methods'): string {
  return `coalesce((select json_agg(json_build_object('id', m.id, 'name', m.name, 'description', m.description,
    'feeMinor', m.fee_minor${table === 'shipping_methods' ? `, 'freeAboveMinor', m.free_above_minor` : ''}) order by m.sort_order, m.id) from ${table} m where m.active), '[]')`;
}

/** The statement's row: the pricing columns (as pricing-sql.ts names them), the order's own and its address columns. */
type PageRow = Omit<PricingRow, 'lines'> & Record<string, unknown> & {
  id: string; number: string; type: 'cart' | 'order'; checkout_step: CheckoutStep; currency_code: string; voucher_code: string; customer_comment: string;
  delivery_same_as_billing: boolean; user_id: string | null; state_id: string | null; company_id: string | null; shipping_id: string | null; payment_id: string | null;
  user_email: string | null; user_name: string | null; lines: CheckoutPageLine[];
};

/**
 * The comment to show: the order's, or the one typed with its last payment attempt — a hosted payment that was
 * declined, cancelled or abandoned on the provider's page comes back without the form, and the attempt kept it.
 */
const COMMENT_SQL = `case when o.customer_comment <> '' then o.customer_comment else coalesce(
  (select a.customer_comment from payment_attempts a where a.order_id = o.id order by a.id desc limit 1), '') end`;

const ADDRESS_COLUMNS = ADDRESS_FIELDS.flatMap((f) => [`o.billing_${f}`, `o.delivery_${f}`]).join(', ');

/**
 * The shopper's basket as the checkout pages show it, priced with today's catalog prices (or the staff context
 * date's) the way reprice() would — computed for the page only: a GET writes nothing. What the shopper sees is what
 * gets stored: the next POST reprices, and placing reprices an order whose stored prices are stale first.
 */
export async function readCheckoutPage(sql: Sql, shopper: Shopper, withMethods = false): Promise<CheckoutPage | null> {
  const owner = shopper.userId != null ? 'o.user_id = ?' : shopper.anonymousToken ? 'o.user_id is null and o.anonymous_token = ?::uuid' : null;
  if (!owner) return null;
  const day = shopper.priceDate ? '?::date' : 'current_date';
  const [row] = await sql<PageRow>(
    `select o.id, o.user_id, o.number, o.type, o.checkout_step, o.currency_code, o.voucher_code, ${COMMENT_SQL} as customer_comment, o.delivery_same_as_billing,
       o.state_id, o.company_id, ${ADDRESS_COLUMNS}, u.email as user_email, u.name as user_name,
       o.order_discount_minor, s.default_vat_rate_bp as fee_vat_rate_bp,
       sm.id as shipping_id, sm.name as shipping_name, sm.fee_minor as shipping_fee_minor, sm.free_above_minor as shipping_free_above_minor,
       pm.id as payment_id, pm.name as payment_name, pm.provider as payment_provider, coalesce(pm.fee_minor, 0) as payment_fee_minor,
       v.kind as voucher_kind, v.value as voucher_value,
       coalesce((select json_agg(json_build_object(
           'productName', coalesce(p.name, l.product_name), 'productNumber', l.product_number, 'quantity', l.quantity, 'unit', l.unit,
           'unitPriceMinor', coalesce(${priceOnSql('p', day)}, l.unit_price_minor), 'vatRateBp', coalesce(p.vat_rate_bp, l.vat_rate_bp),
           'discountMinor', l.discount_minor) order by l.id)
         from order_lines l left join products p on p.id = l.product_id where l.order_id = o.id), '[]') as lines
       ${withMethods ? `, ${choicesSql('shipping_methods')} as shipping_choices, ${choicesSql('payment_methods')} as payment_choices` : ''}
     from orders o
     ${PRICING_JOINS}
     left join users u on u.id = o.user_id
     where o.basket_status = 'basket' and not o.deleted and ${owner}`,
    [...(shopper.priceDate ? [shopper.priceDate] : []), shopper.userId ?? shopper.anonymousToken],
  );
  if (!row) return null;
  const lines = row.lines.map((l) => ({ ...l, unitPriceMinor: Number(l.unitPriceMinor), discountMinor: Number(l.discountMinor) }));
  const billing = addressOf(row, 'billing');
  // A cart that starts checkout takes the signed-in shopper's e-mail and name (CheckoutService.begin stores them).
  if (row.type === 'cart' && !billing.email && row.user_email != null) {
    billing.email = row.user_email;
    billing.name ||= row.user_name ?? '';
  }
  // A signed-in shopper who has not typed an address for this basket starts from the addresses of their last order.
  let delivery = row.delivery_same_as_billing ? billing : addressOf(row, 'delivery');
  let deliverySameAsBilling = row.delivery_same_as_billing;
  if (!billing.address && row.user_id != null) {
    const last = await lastOrderAddresses(sql, Number(row.user_id));
    if (last) {
      for (const f of ADDRESS_FIELDS) billing[f] ||= last.billing[f];
      if (!last.sameAsBilling) [delivery, deliverySameAsBilling] = [last.delivery, false];
    }
  }
  return {
    order: {
      id: Number(row.id), number: row.number, type: row.type, checkoutStep: row.checkout_step, currencyCode: row.currency_code,
      voucherCode: row.voucher_code, customerComment: row.customer_comment, deliverySameAsBilling,
      shippingMethod: row.shipping_id != null ? { id: Number(row.shipping_id), name: row.shipping_name ?? '' } : null,
      paymentMethod: row.payment_id != null ? { id: Number(row.payment_id), name: row.payment_name ?? '', provider: row.payment_provider! } : null,
      lines, stateId: row.state_id != null ? Number(row.state_id) : null, companyId: row.company_id != null ? Number(row.company_id) : null,
    },
    billing,
    delivery,
    totals: priceOrder(pricingInputOf({ ...row, lines: [] }, lines)),
    basketCount: lines.reduce((n, l) => n + l.quantity, 0),
    ...(withMethods ? { shippingMethods: row.shipping_choices as MethodChoice[], paymentMethods: row.payment_choices as MethodChoice[] } : {}),
  };
}

/** A placed order as its receipt page shows it (the stored prices and totals). */
export interface ReceiptPage {
  order: {
    id: number; userId: number | null; number: string; completedAt: Date; currencyCode: string; cardType: string; cardLast4: string;
    customerComment: string; shippingMethod: { name: string } | null; paymentMethod: { name: string } | null; lines: CheckoutPageLine[];
  };
  billing: Address; delivery: Address; totals: Totals;
}

/** A completed order by its number, in one statement; the caller decides whether the shopper may see it. */
export async function readReceipt(sql: Sql, number: string): Promise<ReceiptPage | null> {
  const [row] = await sql<Record<string, unknown> & { totals: Totals; lines: CheckoutPageLine[]; delivery_same_as_billing: boolean }>(
    `select o.id, o.user_id, o.number, o.completed_at, o.currency_code, o.card_type, o.card_last4, o.customer_comment, o.delivery_same_as_billing,
       o.totals, ${ADDRESS_COLUMNS}, sm.name as shipping_name, pm.name as payment_name,
       coalesce((select json_agg(json_build_object('productName', l.product_name, 'productNumber', l.product_number, 'quantity', l.quantity, 'unit', l.unit,
           'unitPriceMinor', l.unit_price_minor, 'vatRateBp', l.vat_rate_bp, 'discountMinor', l.discount_minor) order by l.id)
         from order_lines l where l.order_id = o.id), '[]') as lines
     from orders o
     left join shipping_methods sm on sm.id = o.shipping_method_id
     left join payment_methods pm on pm.id = o.payment_method_id
     where o.number = ? and o.completed and not o.deleted`,
    [number],
  );
  if (!row) return null;
  const billing = addressOf(row, 'billing');
  return {
    order: {
      id: Number(row.id), userId: row.user_id == null ? null : Number(row.user_id), number: String(row.number),
      completedAt: row.completed_at as Date, currencyCode: String(row.currency_code), cardType: String(row.card_type ?? ''), cardLast4: String(row.card_last4 ?? ''),
      customerComment: String(row.customer_comment ?? ''),
      shippingMethod: row.shipping_name != null ? { name: String(row.shipping_name) } : null,
      paymentMethod: row.payment_name != null ? { name: String(row.payment_name) } : null,
      lines: row.lines.map((l) => ({ ...l, unitPriceMinor: Number(l.unitPriceMinor), discountMinor: Number(l.discountMinor) })),
    },
    billing,
    delivery: row.delivery_same_as_billing ? billing : addressOf(row, 'delivery'),
    totals: row.totals,
  };
}

/** What a checkout POST looks up with the basket: the methods or the voucher it chooses. */
export interface StepLookups { shippingMethodId?: number; paymentMethodId?: number; voucherCode?: string }

/** The basket a checkout POST changes, locked, with what its rules and its pricing need. */
export interface StepBasket {
  id: number; type: 'cart' | 'order'; checkoutStep: CheckoutStep; completed: boolean; priced: boolean; voucherCode: string;
  number: string; shopId: string; stateId: number | null;
  /** A cart's flow state allows ordering (null: no state); and, for a cart, the order state checkout enters. */
  stateAllowsOrder: boolean | null; entering: EnteringState | null;
  billing: { country: string; region: string }; shipTo: { country: string; region: string };
  shippingMethodId: number | null; paymentMethodId: number | null;
  chosenShipping: { name: string; feeMinor: number; freeAboveMinor: number | null } | null;
  chosenPayment: { feeMinor: number } | null;
  voucherValid: boolean;
  row: PricingRow;
}

/** What a checkout POST changes (a null delivery: the same as billing), the step it reaches, and why an order goes back to being a cart. */
export interface StepEdit {
  set?: { billing?: Address; delivery?: Address | null; shippingMethodId?: number; paymentMethodId?: number; voucherCode?: string };
  step?: CheckoutStep; downgrade?: string | null;
}

/** Locks (FOR UPDATE, the order row only) and reads the shopper's basket for a checkout POST, in one statement. */
export async function lockStepBasket(sql: Sql, shopper: Shopper, lookups: StepLookups): Promise<StepBasket | null> {
  const owner = shopper.userId != null ? 'o.user_id = ?' : shopper.anonymousToken ? 'o.user_id is null and o.anonymous_token = ?::uuid' : null;
  if (!owner) return null;
  const [row] = await sql<PricingRow & Record<string, unknown>>(
    `with target as (select o.* from orders o where o.basket_status = 'basket' and not o.deleted and ${owner} for update)
     select o.id, o.type, o.checkout_step, o.completed, o.price_calculation_date is not null as priced, o.voucher_code,
       o.number, o.shop_id, o.state_id, (select fs.allow_order from flow_states fs where fs.id = o.state_id) as state_allow_order,
       case when o.type = 'cart' then ${enteringStateSql('order')} end as entering,
       o.billing_country, o.billing_region, o.delivery_country, o.delivery_region, o.delivery_same_as_billing,
       o.shipping_method_id, o.payment_method_id, ${PRICING_COLUMNS},
       (select json_build_object('name', m.name, 'feeMinor', m.fee_minor, 'freeAboveMinor', m.free_above_minor) from shipping_methods m where m.id = ? and m.active) as chosen_shipping,
       (select json_build_object('feeMinor', m.fee_minor) from payment_methods m where m.id = ? and m.active) as chosen_payment,
       exists (select 1 from vouchers v where v.code = ? and v.active) as voucher_valid
     from target o
     ${PRICING_JOINS}`,
    [shopper.userId ?? shopper.anonymousToken, lookups.shippingMethodId ?? null, lookups.paymentMethodId ?? null, lookups.voucherCode ?? null],
  );
  if (!row) return null;
  const billing = { country: String(row.billing_country), region: String(row.billing_region) };
  const shipping = row.chosen_shipping as { name: string; feeMinor: string; freeAboveMinor: string | null } | null;
  const payment = row.chosen_payment as { feeMinor: string } | null;
  return {
    id: Number(row.id), type: row.type as StepBasket['type'], checkoutStep: row.checkout_step as CheckoutStep, completed: row.completed === true, priced: row.priced === true,
    voucherCode: String(row.voucher_code), billing,
    number: String(row.number), shopId: String(row.shop_id), stateId: row.state_id == null ? null : Number(row.state_id),
    stateAllowsOrder: row.state_allow_order == null ? null : row.state_allow_order === true, entering: (row.entering as EnteringState | null) ?? null,
    shipTo: row.delivery_same_as_billing ? billing : { country: String(row.delivery_country), region: String(row.delivery_region) },
    shippingMethodId: row.shipping_method_id == null ? null : Number(row.shipping_method_id),
    paymentMethodId: row.payment_method_id == null ? null : Number(row.payment_method_id),
    chosenShipping: shipping && { name: shipping.name, feeMinor: Number(shipping.feeMinor), freeAboveMinor: shipping.freeAboveMinor == null ? null : Number(shipping.freeAboveMinor) },
    chosenPayment: payment && { feeMinor: Number(payment.feeMinor) },
    voucherValid: row.voucher_valid === true,
    row,
  };
}

/** The billing and delivery addresses of the user's last placed order, if any. */
async function lastOrderAddresses(sql: Sql, userId: number): Promise<{ billing: Address; delivery: Address; sameAsBilling: boolean } | null> {
  const [row] = await sql<Record<string, unknown> & { delivery_same_as_billing: boolean }>(
    `select ${ADDRESS_COLUMNS}, o.delivery_same_as_billing from orders o
     where o.user_id = ? and o.type = 'order' and o.completed and not o.deleted order by o.completed_at desc limit 1`, [userId]);
  return row ? { billing: addressOf(row, 'billing'), delivery: addressOf(row, 'delivery'), sameAsBilling: row.delivery_same_as_billing } : null;
}

function addressOf(row: Record<string, unknown>, prefix: 'billing' | 'delivery'): Address {
  const out = {} as Address;
  for (const f of ADDRESS_FIELDS) out[f] = String(row[`${prefix}_${f}`] ?? '');
  return out;
}
