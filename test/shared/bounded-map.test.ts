import { BoundedMap } from '../../src/shared/bounded-map';

describe('BoundedMap', () => {
  it('keeps at most its size: a new key when full starts it afresh, a known key is only updated', () => {
    const m = new BoundedMap<string, number>(2);
    m.set('a', 1).set('b', 2);
    m.set('b', 3);
    expect([...m]).toEqual([['a', 1], ['b', 3]]);
    m.set('c', 4);
    expect([...m]).toEqual([['c', 4]]);
  });
});
