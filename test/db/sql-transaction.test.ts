import { sqlTransaction } from '../../src/db/sql';
import { startTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await t.sql('create table sql_tx_probe (id serial primary key, note text not null check (note <> \'bad\'))');
});
afterAll(async () => { await t.close(); });

const notes = async () => (await t.sql('select note from sql_tx_probe order by id')).map((r) => r.note);

describe('sqlTransaction (the quick paths\' plain-SQL transactions)', () => {
  it('passes values through exactly, whatever quotes, backslashes or SQL they hold', async () => {
    const nasty = `O'Brien \\ "x" '); drop table sql_tx_probe; -- ?? \\? ∑ <script>`;
    const rows = await sqlTransaction(t.orm, (sql) => sql<{ v: string; n: string; ids: number[] }>('select ?::text as v, ? as n, array[?]::int[] as ids', [nasty, 42, [3, 4]]));
    expect(rows).toEqual([{ v: nasty, n: 42, ids: [3, 4] }]);
    expect(await notes()).toEqual([]);
  });

  it('commits the statements and the last one sent with the COMMIT', async () => {
    await sqlTransaction(t.orm, async (sql) => {
      await sql('insert into sql_tx_probe (note) values (?)', ['first']);
      await sql.commitWith('insert into sql_tx_probe (note) values (?)', ['second']);
    });
    expect(await notes()).toEqual(['first', 'second']);
  });

  it('keeps nothing when a later statement or the caller fails, and the connection stays usable', async () => {
    await t.sql('delete from sql_tx_probe');
    await expect(sqlTransaction(t.orm, async (sql) => {
      await sql('insert into sql_tx_probe (note) values (?)', ['kept?']);
      await sql.commitWith('insert into sql_tx_probe (note) values (?)', ['bad']);
    })).rejects.toThrow(/check constraint/);
    await expect(sqlTransaction(t.orm, async (sql) => {
      await sql('insert into sql_tx_probe (note) values (?)', ['kept?']);
      throw new Error('refused');
    })).rejects.toThrow('refused');
    expect(await notes()).toEqual([]);
    // Every pooled connection is back in a clean state: ten transactions in a row all commit.
    for (let i = 0; i < 10; i++) await sqlTransaction(t.orm, (sql) => sql.commitWith('insert into sql_tx_probe (note) values (?)', [`ok ${i}`]));
    expect(await notes()).toHaveLength(10);
  });
});
