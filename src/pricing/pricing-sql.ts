import { priceOnSql } from '../catalog/prices';
import type { PaymentProviderCode } from '../payments/payment.entities';
import type { PricingInput, PricingLine } from './pricing';
import type { VoucherKind } from './voucher.entity';

/**
 * The SQL side of the quick paths (cart/quick-add.ts, checkout/quick-place.ts): everything pricing.ts needs of an
 * order `o` and its lines, read in the statement that locks the order. Same lookups as reprice() in order-lifecycle.ts.
 */
export const PRICING_COLUMNS = `o.order_discount_minor, s.allow_out_of_stock_orders as allow_out_of_stock, s.vat_on_one_line, s.default_vat_rate_bp as fee_vat_rate_bp,
  sm.name as shipping_name, sm.fee_minor as shipping_fee_minor, sm.free_above_minor as shipping_free_above_minor,
  pm.name as payment_name, pm.provider as payment_provider, coalesce(pm.fee_minor, 0) as payment_fee_minor,
  v.kind as voucher_kind, v.value as voucher_value,
  coalesce((select json_agg(json_build_object(
      'id', l.id, 'productId', l.product_id, 'productNumber', l.product_number, 'productName', l.product_name,
      'quantity', l.quantity, 'unitPriceMinor', l.unit_price_minor, 'vatRateBp', l.vat_rate_bp, 'discountMinor', l.discount_minor,
      'stale', coalesce(${priceOnSql('p')} <> l.unit_price_minor or p.vat_rate_bp <> l.vat_rate_bp or p.name <> l.product_name, false))
    order by l.id)
    from order_lines l left join products p on p.id = l.product_id where l.order_id = o.id), '[]') as lines`;

export const PRICING_JOINS = `join shops s on s.id = o.shop_id
  left join shipping_methods sm on sm.id = o.shipping_method_id
  left join payment_methods pm on pm.id = o.payment_method_id
  left join vouchers v on o.voucher_code <> '' and v.code = o.voucher_code and v.active`;

/** A line as PRICING_COLUMNS reads it; stale when the catalog's price today, VAT rate or name differs from it (reprice is due). */
export interface PricedLineRow extends PricingLine { id: number; productId: number | null; productNumber: string; productName: string; stale: boolean }

export interface PricingRow {
  order_discount_minor: string; allow_out_of_stock: boolean; vat_on_one_line: boolean; fee_vat_rate_bp: number;
  shipping_name: string | null; shipping_fee_minor: string | null; shipping_free_above_minor: string | null;
  payment_name: string | null; payment_provider: PaymentProviderCode | null; payment_fee_minor: string;
  voucher_kind: VoucherKind | null; voucher_value: string | null;
  lines: PricedLineRow[];
}

export function pricingInputOf(row: PricingRow, lines: PricingLine[] = row.lines): PricingInput {
  return {
    lines,
    shipping: row.shipping_name != null ? { feeMinor: Number(row.shipping_fee_minor), freeAboveMinor: row.shipping_free_above_minor == null ? null : Number(row.shipping_free_above_minor) } : null,
    paymentFeeMinor: Number(row.payment_fee_minor),
    feeVatRateBp: row.fee_vat_rate_bp,
    voucher: row.voucher_kind ? { kind: row.voucher_kind, value: Number(row.voucher_value) } : null,
    orderDiscountMinor: Number(row.order_discount_minor),
  };
}
