import { seedDemoData } from '../../src/db/seed';
import { startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

const counts = () => t.sql(`select (select count(*)::int from products) as products, (select count(*)::int from users) as users,
  (select count(*)::int from flow_states) as states, (select count(*)::int from stock_levels) as stock, (select count(*)::int from shipping_methods) as shipping`);

describe('demo seed', () => {
  it('is idempotent and never overwrites what staff changed', async () => {
    const [before] = await counts();
    expect(before).toMatchObject({ products: 50, users: 5, shipping: 2 });
    await t.sql(`update products set name = 'Renamed by staff' where number = 'P-1001'`);
    await seedDemoData(t.orm.em.fork());
    await seedDemoData(t.orm.em.fork());
    expect((await counts())[0]).toEqual(before);
    const [p] = await t.sql(`select name from products where number = 'P-1001'`);
    expect(p.name).toBe('Renamed by staff');
  });

  it('recognises its flows after staff renamed them (by their code, not their name)', async () => {
    const flows = async () => t.sql<{ type: string; n: number }>('select type, count(*)::int as n from flows group by type order by type');
    const before = await flows();
    await t.sql(`update flows set name = name || ' (ours)' where code in ('standard-order', 'b2b-cart-approval')`);
    await seedDemoData(t.orm.em.fork());
    expect(await flows()).toEqual(before);
    const renamed = await t.sql<{ name: string }>(`select name from flows where code = 'standard-order'`);
    expect(renamed).toEqual([{ name: 'Standard order flow (ours)' }]);
  });

  it('recognises its stock locations after staff renamed them: no second warehouse, no second opening stock', async () => {
    const stock = async () => t.sql(`select (select count(*)::int from stock_locations) as locations, (select count(*)::int from stock_levels) as levels,
      (select sum(quantity)::int from stock_levels) as units, (select count(*)::int from stock_movements) as movements`);
    const [before] = await stock();
    await t.sql(`update stock_locations set name = case code when 'main' then 'Central warehouse' else 'Shop Nørrebro' end where code in ('main', 'store-copenhagen')`);
    await seedDemoData(t.orm.em.fork());
    expect((await stock())[0]).toEqual(before);
    expect(await t.sql(`select code, name from stock_locations order by id`)).toEqual([
      { code: 'main', name: 'Central warehouse' }, { code: 'store-copenhagen', name: 'Shop Nørrebro' },
    ]);
  });
});
