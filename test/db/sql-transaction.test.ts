import { initOrm } from '../../src/db/database';
import { sqlArray, sqlRead, sqlTransaction } from '../../src/db/sql';
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

describe('prepared statements (planned once per connection)', () => {
  beforeEach(async () => { await t.sql('delete from sql_tx_probe'); });
  const preparedBodies = (sql: (text: string) => Promise<{ statement: string }[]>) =>
    sql(`select statement from pg_prepared_statements`).then((rows) => rows.map((r) => r.statement));

  it('prepares a statement with plain values once and runs it with them exactly, in the same transaction as before', async () => {
    const nasty = `O'Brien \\ "x" '); drop table sql_tx_probe; -- ∑ <script>`;
    const seen = await sqlTransaction(t.orm, async (sql) => {
      await sql('insert into sql_tx_probe (note) values (?)', [nasty]);
      const [row] = await sql<{ note: string; id: number }>('select note, id from sql_tx_probe where note = ? and id > ?', [nasty, 0]);
      return { row, prepared: await preparedBodies(sql) };
    });
    expect(seen.row.note).toBe(nasty);
    expect(seen.prepared.some((st) => st.includes('insert into sql_tx_probe (note) values ($1)'))).toBe(true);
    expect(await notes()).toEqual([nasty]);
  });

  it('keeps inlining what PostgreSQL would type differently: a number it takes for text comes back as a number', async () => {
    const [row] = await sqlRead<{ n: number; label: string }>(t.orm, `select ? as n, 'order ' || ? as label`, [42, 7]);
    expect(row).toEqual({ n: 42, label: 'order 7' });
    const prepared = await sqlTransaction(t.orm, (sql) => preparedBodies(sql));
    expect(prepared.some((st) => st.includes("'order ' ||"))).toBe(false);
  });

  it('after a failed statement the connection prepares again, and every statement still answers', async () => {
    await expect(sqlTransaction(t.orm, (sql) => sql.commitWith('insert into sql_tx_probe (note) values (?)', ['bad']))).rejects.toThrow(/check constraint/);
    for (let i = 0; i < 25; i++) await sqlTransaction(t.orm, (sql) => sql.commitWith('insert into sql_tx_probe (note) values (?)', [`again ${i}`]));
    expect(await notes()).toHaveLength(25);
  });

  it('prepares a statement that only runs after another in its transaction, and one PostgreSQL refuses leaves the transaction usable', async () => {
    const prepared = await sqlTransaction(t.orm, async (sql) => {
      await sql('insert into sql_tx_probe (note) values (?)', ['before']);
      await sql('insert into sql_tx_probe (note) select ? where ?::int > 0', ['second in its transaction', 1]);
      // A parameter whose type PostgreSQL cannot tell: its PREPARE fails, and the statement is sent inlined instead.
      const [row] = await sql<{ v: string }>('select ? is null as v, ? as note', [null, 'x']);
      expect(row).toEqual({ v: true, note: 'x' });
      return preparedBodies(sql);
    });
    expect(prepared.some((st) => st.includes('select $1 where $2::int > 0'))).toBe(true);
    expect(await notes()).toEqual(['before', 'second in its transaction']);
  });

  it('runs several statements in one round trip, each prepared, also on a connection that must first forget its prepared statements', async () => {
    for (let i = 0; i < 5; i++) {
      // A failure makes its connection forget what it prepared; the next message on it starts with DEALLOCATE ALL,
      // which must not land after a PREPARE that a statement of the batch sent in a round trip of its own.
      await expect(sqlTransaction(t.orm, (sql) => sql.commitWith('insert into sql_tx_probe (note) values (?)', ['bad']))).rejects.toThrow(/check constraint/);
      const rows = await sqlTransaction(t.orm, (sql) => sql.all<{ note: string }>([
        { text: `insert into sql_tx_probe (note) select ? where ?::int = ${i}`, values: [`batch ${i}`, i] },
        { text: `select note from sql_tx_probe where note like ? and ${i} = ${i} order by id`, values: ['batch%'] },
      ]));
      expect(rows.map((r) => r.note)).toEqual(Array.from({ length: i + 1 }, (_, k) => `batch ${k}`));
    }
    const prepared = await sqlTransaction(t.orm, (sql) => preparedBodies(sql));
    expect(prepared.some((st) => /insert into sql_tx_probe \(note\) select \$1 where \$2::int = \d/.test(st))).toBe(true);
  });

  it('passes a list as one array value (sqlArray): the same rows prepared, inlined or through the ORM, and the statement is prepared', async () => {
    const nasty = [`O'Brien`, 'back\\slash "quoted"', '{braces, comma}', '', 'NULL', null];
    const text = 'select array_length(?::bigint[], 1) as n, (select array_agg(x) from unnest(?::bigint[]) x where x = any(?::bigint[])) as hits, ?::text[] as words';
    const values = [sqlArray([1, 2, 3]), sqlArray([9007199254740991, 5]), sqlArray([5, 7]), sqlArray(nasty)];
    const expected = [{ n: 3, hits: ['5'], words: nasty }];
    expect(await sqlRead(t.orm, text, values)).toEqual(expected); // prepared on this connection's first use
    expect(await sqlTransaction(t.orm, (sql) => sql(text, values))).toEqual(expected);
    expect(await t.orm.em.fork().execute(text, values)).toEqual(expected);
    const orm = await initOrm(t.orm.config.get('clientUrl')!, { poolMax: 1, preparedStatements: false });
    try {
      expect(await sqlRead(orm, text, values)).toEqual(expected);
    } finally {
      await orm.close();
    }
    const types = await sqlTransaction(t.orm, (sql) => sql<{ statement: string; types: string[] }>(
      'select statement, parameter_types::text[] as types from pg_prepared_statements'));
    expect(types.find((p) => p.statement.includes('array_length($1::bigint[], 1)'))?.types).toEqual(['bigint[]', 'bigint[]', 'bigint[]', 'text[]']);
    expect(await sqlRead(t.orm, 'select cardinality(?::int[]) as n', [sqlArray([])])).toEqual([{ n: 0 }]);
  });

  it('runs prepared statements with their generic plan in sqlTransaction and sqlRead, and the connection keeps the default for the ORM afterwards', async () => {
    const orm = await initOrm(t.orm.config.get('clientUrl')!, { poolMax: 1 });
    try {
      const mode = `select current_setting('plan_cache_mode') as mode, ?::int as n`;
      expect(await sqlTransaction(orm, (sql) => sql(mode, [1]))).toEqual([{ mode: 'force_generic_plan', n: 1 }]);
      await expect(sqlTransaction(orm, async (sql) => { await sql(mode, [2]); throw new Error('refused'); })).rejects.toThrow('refused');
      expect(await sqlRead(orm, mode, [3])).toEqual([{ mode: 'force_generic_plan', n: 3 }]);
      expect(await orm.em.fork().execute(mode, [4])).toEqual([{ mode: 'auto', n: 4 }]);
    } finally {
      await orm.close();
    }
  });

  it('refuses a number that is not finite in a list', () => {
    expect(() => sqlArray([1, Number.NaN])).toThrow(TypeError);
    expect(() => sqlArray([Infinity])).toThrow(TypeError);
  });

  it('sends values inlined and prepares nothing when switched off (PgBouncer in transaction mode)', async () => {
    await t.sql(`insert into sql_tx_probe (note) values ('again 3')`);
    const orm = await initOrm(t.orm.config.get('clientUrl')!, { poolMax: 1, preparedStatements: false });
    try {
      const [row] = await sqlRead<{ id: number }>(orm, 'select id from sql_tx_probe where note = ?', ['again 3']);
      expect(row.id).toEqual(expect.any(Number));
      expect(await sqlRead<{ n: string }>(orm, 'select count(*) as n from pg_prepared_statements')).toEqual([{ n: '0' }]);
    } finally {
      await orm.close();
    }
  });
});
