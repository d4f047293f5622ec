import { allocate, buildTrackingUrl, trackingTemplateError, valueOfUnits } from '../../src/shipping/shipment.service';

/** The pure rules behind shipment values and tracking links: integers only, shares that always add up. */
describe('shipment values', () => {
  it('allocate splits an amount by weights and the shares add up exactly', () => {
    expect(allocate(1000, [500, 500])).toEqual([500, 500]);
    expect(allocate(1000, [1, 1, 1])).toEqual([334, 333, 333]);
    expect(allocate(100, [0, 0])).toEqual([0, 0]);
    expect(allocate(0, [5, 5])).toEqual([0, 0]);
    // Weights equal to the amount come back unchanged (no voucher: each line carries exactly its own total).
    expect(allocate(12345 + 6789, [12345, 6789])).toEqual([12345, 6789]);
    for (const [amount, weights] of [[99999, [3, 7, 11, 13]], [5000, [33333, 1, 66666]], [1, [1, 1, 1]]] as [number, number[]][]) {
      const shares = allocate(amount, weights);
      expect(shares.reduce((a, b) => a + b, 0)).toBe(amount);
      expect(shares.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
    }
    // Large amounts stay exact (BigInt inside).
    const big = allocate(9_000_000_000_000, [4_000_000_000_000, 5_000_000_000_001]);
    expect(big[0] + big[1]).toBe(9_000_000_000_000);
  });

  it('valueOfUnits is cumulative: the units of a line always add up to its charge', () => {
    expect(valueOfUnits(1000, 3, 0, 1)).toBe(333);
    expect(valueOfUnits(1000, 3, 1, 1)).toBe(334);
    expect(valueOfUnits(1000, 3, 2, 1)).toBe(333);
    expect(valueOfUnits(1000, 3, 0, 3)).toBe(1000);
    expect(valueOfUnits(1000, 3, 1, 2)).toBe(667);
    let sum = 0;
    for (let i = 0; i < 7; i++) sum += valueOfUnits(12345, 7, i, 1);
    expect(sum).toBe(12345);
  });
});

describe('track & trace URLs', () => {
  it('accepts http(s) URLs with known parameters and {TrackingNumber}', () => {
    expect(trackingTemplateError('https://gls.example.com/track?match={TrackingNumber}&zip={Zip}')).toBeNull();
    expect(trackingTemplateError('http://carrier.example.dk/{TrackingNumber}/{Country}/{OrderNumber}')).toBeNull();
    expect(trackingTemplateError('HTTPS://CARRIER.EXAMPLE.COM/{TrackingNumber}')).toBeNull();
  });

  it('refuses anything else with a reason', () => {
    expect(trackingTemplateError('')).toBe('is required');
    expect(trackingTemplateError('javascript:alert(1)')).toMatch(/http/);
    expect(trackingTemplateError('data:text/html,{TrackingNumber}')).toMatch(/http/);
    expect(trackingTemplateError('//example.com/{TrackingNumber}')).toMatch(/http/);
    expect(trackingTemplateError('https://example.com/{trackingnumber}')).toMatch(/\{trackingnumber\}, which is not a parameter/);
    expect(trackingTemplateError('https://example.com/{TrackingNumber}{{x}}')).toMatch(/\{ or \}/);
    expect(trackingTemplateError('https://example.com/')).toMatch(/must contain \{TrackingNumber\}/);
    expect(trackingTemplateError('https://user:pw@example.com/{TrackingNumber}')).toMatch(/user name or password/);
    expect(trackingTemplateError(`https://example.com/${'a'.repeat(2000)}{TrackingNumber}`)).toMatch(/at most 2000/);
  });

  it('fills the parameters URL-encoded, so a tracking number cannot change the link', () => {
    expect(buildTrackingUrl('https://t.example.com/track?id={TrackingNumber}&zip={Zip}', { TrackingNumber: 'AB 12/3', Zip: '2100' }))
      .toBe('https://t.example.com/track?id=AB%2012%2F3&zip=2100');
    expect(buildTrackingUrl('https://t.example.com/{TrackingNumber}', { TrackingNumber: '"><script>&x=1' }))
      .toBe('https://t.example.com/%22%3E%3Cscript%3E%26x%3D1');
    expect(buildTrackingUrl('https://t.example.com/{TrackingNumber}', {})).toBe('https://t.example.com/');
  });
});
