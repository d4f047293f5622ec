import { divRound, netOfGross, vatOf } from '../shared/money';
import type { VoucherKind } from './voucher.entity';

/**
 * The one place totals are computed. Pure: same input, same output, integers only.
 * Line prices and fees are net (excl. VAT); VAT is computed per rate group, after discounts.
 */
export interface PricingLine {
  quantity: number;
  unitPriceMinor: number;
  vatRateBp: number;
  /** A staff-given discount on this line, net. */
  discountMinor?: number;
}

export interface PricingInput {
  lines: PricingLine[];
  /** Net fee of the chosen shipping method and the goods total (incl. VAT) above which it is free. */
  shipping?: { feeMinor: number; freeAboveMinor?: number | null } | null;
  paymentFeeMinor?: number;
  /** VAT rate applied to fees. */
  feeVatRateBp: number;
  /** percent: 1–100 off the goods; amount: minor units off the goods total incl. VAT. */
  voucher?: { kind: VoucherKind; value: number } | null;
  /** An order-level discount given by staff, net. */
  orderDiscountMinor?: number;
}

export interface PricedLine { netMinor: number; vatMinor: number; grossMinor: number }
export interface VatGroup { rateBp: number; netMinor: number; vatMinor: number }

export interface Totals {
  lines: PricedLine[];
  /** Goods before order discounts, incl. VAT. */
  subtotalMinor: number;
  subtotalExclVatMinor: number;
  /** Order-level discounts (voucher + staff), incl. VAT and net. */
  discountMinor: number;
  discountExclVatMinor: number;
  /** Fees, net and incl. VAT. */
  shippingFeeMinor: number;
  shippingFeeInclVatMinor: number;
  paymentFeeMinor: number;
  paymentFeeInclVatMinor: number;
  vatGroups: VatGroup[];
  totalExclVatMinor: number;
  vatMinor: number;
  totalMinor: number;
}

export function priceOrder(input: PricingInput): Totals {
  const lines = input.lines.map((l) => {
    const netMinor = Math.max(0, l.quantity * l.unitPriceMinor - (l.discountMinor ?? 0));
    const vatMinor = vatOf(netMinor, l.vatRateBp);
    return { netMinor, vatMinor, grossMinor: netMinor + vatMinor };
  });

  const goodsNetByRate = new Map<number, number>();
  input.lines.forEach((l, i) => goodsNetByRate.set(l.vatRateBp, (goodsNetByRate.get(l.vatRateBp) ?? 0) + lines[i].netMinor));
  const rates = [...goodsNetByRate.keys()].sort((a, b) => b - a);
  const goodsGrossByRate = new Map(rates.map((r) => [r, goodsNetByRate.get(r)! + vatOf(goodsNetByRate.get(r)!, r)]));
  const subtotalExclVatMinor = sum(rates.map((r) => goodsNetByRate.get(r)!));
  const subtotalMinor = sum(rates.map((r) => goodsGrossByRate.get(r)!));

  const discountNetByRate = allocateDiscount(input, rates, goodsNetByRate, goodsGrossByRate, subtotalMinor);
  const discountExclVatMinor = sum([...discountNetByRate.values()]);
  // The discount shown is what the goods cost less, so subtotal − discount is exactly what is charged for them.
  const goodsAfterDiscountGross = sum(rates.map((r) => { const n = goodsNetByRate.get(r)! - (discountNetByRate.get(r) ?? 0); return n + vatOf(n, r); }));
  const discountMinor = subtotalMinor - goodsAfterDiscountGross;
  const shipping = input.shipping;
  const shippingFeeMinor = !shipping || (shipping.freeAboveMinor != null && goodsAfterDiscountGross >= shipping.freeAboveMinor) ? 0 : shipping.feeMinor;
  const paymentFeeMinor = input.paymentFeeMinor ?? 0;

  const netByRate = new Map<number, number>();
  for (const r of rates) netByRate.set(r, goodsNetByRate.get(r)! - (discountNetByRate.get(r) ?? 0));
  const fees = shippingFeeMinor + paymentFeeMinor;
  if (fees > 0) netByRate.set(input.feeVatRateBp, (netByRate.get(input.feeVatRateBp) ?? 0) + fees);

  const vatGroups = [...netByRate.entries()].sort((a, b) => b[0] - a[0]).map(([rateBp, netMinor]) => ({ rateBp, netMinor, vatMinor: vatOf(netMinor, rateBp) }));
  const totalExclVatMinor = sum(vatGroups.map((g) => g.netMinor));
  const vatMinor = sum(vatGroups.map((g) => g.vatMinor));
  return {
    lines,
    subtotalMinor,
    subtotalExclVatMinor,
    discountMinor,
    discountExclVatMinor,
    shippingFeeMinor,
    shippingFeeInclVatMinor: shippingFeeMinor + vatOf(shippingFeeMinor, input.feeVatRateBp),
    paymentFeeMinor,
    paymentFeeInclVatMinor: paymentFeeMinor + vatOf(paymentFeeMinor, input.feeVatRateBp),
    vatGroups,
    totalExclVatMinor,
    vatMinor,
    totalMinor: totalExclVatMinor + vatMinor,
  };
}

/** Spreads voucher and staff discounts over the VAT groups in proportion to their value; never more than the goods. */
function allocateDiscount(input: PricingInput, rates: number[], netByRate: Map<number, number>, grossByRate: Map<number, number>, goodsGross: number): Map<number, number> {
  const out = new Map<number, number>();
  const goodsNet = sum(rates.map((r) => netByRate.get(r)!));
  if (goodsNet === 0) return out;
  const add = (r: number, v: number) => out.set(r, Math.min(netByRate.get(r)!, (out.get(r) ?? 0) + v));
  const v = input.voucher;
  if (v?.kind === 'percent') {
    for (const r of rates) add(r, divRound(netByRate.get(r)! * Math.min(v.value, 100), 100));
  } else if (v?.kind === 'amount') {
    const gross = Math.min(v.value, goodsGross);
    spread(gross, rates, grossByRate, goodsGross).forEach((share, r) => add(r, netOfGross(share, r)));
  }
  const staff = Math.min(input.orderDiscountMinor ?? 0, goodsNet);
  if (staff > 0) spread(staff, rates, netByRate, goodsNet).forEach((share, r) => add(r, share));
  return out;
}

/** Splits an amount by weights; the last share takes the rounding remainder so shares add up exactly. */
function spread(amount: number, keys: number[], weights: Map<number, number>, total: number): Map<number, number> {
  const out = new Map<number, number>();
  let left = amount;
  keys.forEach((k, i) => {
    const share = i === keys.length - 1 ? left : divRound(amount * weights.get(k)!, total);
    out.set(k, share);
    left -= share;
  });
  return out;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
