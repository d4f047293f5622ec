import { priceOrder } from '../../src/pricing/pricing';
import { divRound, formatDecimal, formatMoney, netOfGross, parseMoney, vatOf } from '../../src/shared/money';

describe('money', () => {
  it('rounds half away from zero on integers only', () => {
    expect(divRound(5, 2)).toBe(3);
    expect(divRound(-5, 2)).toBe(-3);
    expect(divRound(4, 3)).toBe(1);
    expect(vatOf(1999, 2500)).toBe(500); // 499.75 → 500
    expect(vatOf(1998, 2500)).toBe(500); // 499.5 → 500
    expect(vatOf(1997, 2500)).toBe(499); // 499.25
    expect(netOfGross(12500, 2500)).toBe(10000);
    expect(() => divRound(0.5, 1)).toThrow(RangeError);
  });

  it('formats and parses amounts', () => {
    expect(formatMoney(123456789)).toBe('1,234,567.89 DKK');
    expect(formatMoney(-5)).toBe('-0.05 DKK');
    expect([formatDecimal(123456789), formatDecimal(-5), formatDecimal(1005)]).toEqual(['1234567.89', '-0.05', '10.05']);
    expect(parseMoney('12,5')).toBe(1250);
    expect(parseMoney('12.05')).toBe(1205);
    expect(parseMoney('1e3')).toBeNull();
    expect(parseMoney('-1')).toBeNull();
  });
});

describe('pricing', () => {
  const lines = [
    { quantity: 2, unitPriceMinor: 10000, vatRateBp: 1200 },
    { quantity: 1, unitPriceMinor: 20000, vatRateBp: 2500 },
  ];

  it('computes VAT per rate, fees at the standard rate, and totals that add up', () => {
    const t = priceOrder({ lines, shipping: { feeMinor: 3900 }, feeVatRateBp: 2500 });
    expect(t.subtotalMinor).toBe(22400 + 25000);
    expect(t.vatGroups).toEqual([{ rateBp: 2500, netMinor: 23900, vatMinor: 5975 }, { rateBp: 1200, netMinor: 20000, vatMinor: 2400 }]);
    expect(t.totalMinor).toBe(t.totalExclVatMinor + t.vatMinor);
    expect(t.totalMinor).toBe(43900 + 8375);
  });

  it('waives shipping above the threshold, measured after discounts', () => {
    expect(priceOrder({ lines, shipping: { feeMinor: 3900, freeAboveMinor: 47400 }, feeVatRateBp: 2500 }).shippingFeeMinor).toBe(0);
    const discounted = priceOrder({ lines, shipping: { feeMinor: 3900, freeAboveMinor: 47400 }, feeVatRateBp: 2500, voucher: { kind: 'percent', value: 10 } });
    expect(discounted.shippingFeeMinor).toBe(3900);
  });

  it('spreads an amount voucher over the VAT rates; the discount shown is what the goods cost less (±1 øre of rounding)', () => {
    const t = priceOrder({ lines, feeVatRateBp: 2500, voucher: { kind: 'amount', value: 5000 } });
    expect(t.discountMinor).toBeGreaterThanOrEqual(4999);
    expect(t.discountMinor).toBeLessThanOrEqual(5001);
    expect(t.totalMinor).toBe(t.subtotalMinor - t.discountMinor);
  });

  it('never discounts below zero', () => {
    const t = priceOrder({ lines, feeVatRateBp: 2500, voucher: { kind: 'amount', value: 10_000_000 } });
    expect(t.totalMinor).toBe(0);
    expect(t.vatGroups.every((g) => g.netMinor === 0)).toBe(true);
  });
});
