import { createHash } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { BoundedMap } from '../shared/bounded-map';

/**
 * Runs one statement and returns its rows. Values are bound to `?` placeholders in order, as in the ORM's
 * `em.execute`, so the same SQL runs on either (no `?` may appear in the SQL otherwise, e.g. as a jsonb operator).
 */
export type Sql = <T extends object>(text: string, values?: unknown[]) => Promise<T[]>;

/** An Sql runner inside sqlTransaction. */
export interface SqlTransaction extends Sql {
  /** Runs the transaction's last statement and its COMMIT in one round trip; answers the statement's rows. */
  commitWith<T extends object = object>(text: string, values?: unknown[]): Promise<T[]>;
  /**
   * Runs several statements in one round trip, each prepared like a statement of its own (a text holding two
   * statements never is), with the COMMIT when `commit` says so: answers the last one's rows.
   */
  all<T extends object = object>(statements: SqlStatement[], commit?: boolean): Promise<T[]>;
}

export interface SqlStatement { text: string; values?: unknown[] }

/**
 * A list as ONE statement value: the PostgreSQL array literal of `items` ('{1,2,3}'), which the
 * SQL casts to its type — `= any(?::bigint[])`, `unnest(?::bigint[], ?::int[])`. Unlike a list bound to `in (?)` or
 * `array[?]` (the formatter expands it into one value per item), it keeps the statement's text and its number of
 * values the same for every list, so sql.ts prepares it (planned once per connection, not on every call), and em.execute
 * runs the same text. Numbers must be finite; text items are quoted and escaped; null is NULL.
 */
export function sqlArray(items: readonly (number | string | null)[]): string {
  return `{${items.map((item) => {
    if (item === null) return 'NULL';
    if (typeof item === 'number') {
      if (!Number.isFinite(item)) throw new TypeError(`not a number for an SQL array: ${item}`);
      return String(item);
    }
    return `"${item.replace(/["\\]/g, '\\$&')}"`;
  }).join(',')}}`;
}

/** The ORM transaction's connection as an Sql runner. */
export function emSql(em: EntityManager): Sql {
  return <T extends object>(text: string, values: unknown[] = []) => em.execute<T[]>(text, values);
}

/**
 * The ORM transaction's connection as a SqlTransaction, for a step that must share the ORM's transaction: the
 * statements run one after another, and the ORM commits when its transaction ends.
 */
export function emSqlTransaction(em: EntityManager): SqlTransaction {
  const sql = emSql(em);
  return Object.assign(sql, {
    commitWith: sql,
    // The ORM commits when its transaction ends, whatever `commit` says.
    all: async <T extends object>(statements: SqlStatement[]) => {
      let rows: T[] = [];
      for (const { text, values } of statements) rows = await sql<T>(text, values);
      return rows;
    },
  });
}

/**
 * Runs `fn` in a transaction on a connection taken straight from the ORM's own pool (same limits, same timeouts),
 * without the ORM's query building, hydration and change tracking. Only for the storefront's hottest requests,
 * where those cost several times the database's own work (README, "Performance"); everything else uses the ORM.
 *
 * Values are inlined by the ORM's own formatter (strings escaped as pg's escapeLiteral does), as the ORM does for
 * every query it sends; a query without parameters may hold several statements, so BEGIN travels with the first
 * statement and COMMIT with the last (commitWith): two round trips fewer per transaction.
 */
export function sqlTransaction<T>(orm: MikroORM, fn: (sql: SqlTransaction) => Promise<T>): Promise<T> {
  return withConnection(orm, async (connection, statement, run) => {
    let state = 'not begun' as 'not begun' | 'open' | 'committed';
    const begin = () => (state === 'not begun' ? (inlineOnly.has(orm) ? 'begin; ' : BEGIN_PLANNED_ONCE) : '');
    // One round trip: the statements (each prepared on its own), after the BEGIN when it is the first, before the COMMIT when asked.
    const exchange = async <R extends object>(statements: SqlStatement[], commit: boolean): Promise<R[]> => {
      const texts: string[] = [];
      for (const { text, values = [] } of statements) {
        const made = statement(text, values, state === 'open');
        texts.push(typeof made === 'string' ? made : await made);
      }
      const results = await run(begin() + texts.join('; ') + (commit ? '; commit' : ''));
      state = commit ? 'committed' : 'open';
      return results[results.length - (commit ? 2 : 1)].rows as R[];
    };
    const sql = (<R extends object>(text: string, values: unknown[] = []) => exchange<R>([{ text, values }], false)) as SqlTransaction;
    sql.commitWith = <R extends object>(text: string, values: unknown[] = []) => exchange<R>([{ text, values }], true);
    sql.all = <R extends object>(statements: SqlStatement[], commit = false) => exchange<R>(statements, commit);
    try {
      const result = await fn(sql);
      if (state === 'open') await connection.query('commit');
      return result;
    } catch (e) {
      // A lost connection fails the rollback too; the original error is the one that explains what happened.
      if (state !== 'committed') await connection.query('rollback').catch(() => undefined);
      throw e;
    }
  });
}

/**
 * One read on a connection from the ORM's pool, values inlined as in sqlTransaction: for a page that only prints a
 * figure (the header's basket count), where the ORM's `execute` costs more than the query.
 */
export function sqlRead<T extends object>(orm: MikroORM, text: string, values: unknown[] = []): Promise<T[]> {
  return withConnection(orm, async (_connection, statement, run) => {
    // The SET LOCAL and the statement run in one implicit transaction (one message): the generic plan for this read only.
    const made = statement(text, values, false);
    const results = await run((inlineOnly.has(orm) ? '' : GENERIC_PLAN_HERE) + (typeof made === 'string' ? made : await made));
    return results[results.length - 1].rows as T[];
  });
}

/** sqlRead as an Sql runner: each statement a read of its own (pages that only print what they read). */
export function sqlReader(orm: MikroORM): Sql {
  return <T extends object>(text: string, values: unknown[] = []) => sqlRead<T>(orm, text, values);
}

/**
 * The text to send for one statement with its values. With prepared statements on (the default), a statement with
 * values is PREPAREd once per connection and sent as `execute name(values)`: PostgreSQL then plans it once (a generic
 * plan, from the first run: sqlTransaction's BEGIN and each sqlRead say so) instead of on every request — planning was most of the database's CPU for the storefront's
 * statements (README, "Performance"). It stays one simple-protocol message, so BEGIN and COMMIT still ride along.
 * Behind a transaction pooler (PgBouncer, transaction mode) prepared statements do not survive from one transaction
 * to the next: DATABASE_PREPARED_STATEMENTS=false (initOrm's `preparedStatements: false`) sends the values inlined.
 */
type StatementText = (text: string, values: unknown[], inTransaction: boolean) => string | Promise<string>;
/** Sends one message on the connection (after a failure, with the DEALLOCATE ALL it owes); answers each statement's result. */
type Send = (message: string) => Promise<pg.QueryResult[]>;

/**
 * A transaction's BEGIN, telling PostgreSQL to run its prepared statements with their generic plan from the first
 * EXECUTE on: by default it plans each one five more times with the values (custom plans) before it compares, and
 * keeps planning per call when a custom plan looks cheaper — placing's stock take (`unnest` of a known one-item
 * array) was planned on every call, and the order lock, whose planning costs several times its execution (orders'
 * 22 indexes, the pricing joins), six times per pool connection. LOCAL: the ORM's own statements on the connection
 * after this transaction keep PostgreSQL's default. sqlRead sends the same SET LOCAL with its one statement (one
 * message outside BEGIN is one implicit transaction): the checkout pages' reads and the receipt were planned on 50-100%
 * of their calls, never the first five only (pg_stat_statements, whole checkout: no autoanalyze, no DEALLOCATE ran).
 */
const GENERIC_PLAN_HERE = 'set local plan_cache_mode = force_generic_plan; ';
const BEGIN_PLANNED_ONCE = 'begin; ' + GENERIC_PLAN_HERE;

/** ORMs set up with prepared statements off (initOrm). */
const inlineOnly = new WeakSet<MikroORM>();
/** What each connection has PREPAREd (gone with the connection). */
const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();
/** Connections whose prepared statements are unknown after a failure: their next message starts with DEALLOCATE ALL. */
const stale = new WeakSet<pg.PoolClient>();
/** Statement texts PostgreSQL prepared fine once, and ones it refused (a parameter whose type it cannot infer). */
const MAX_KNOWN_STATEMENTS = 2_000;
const preparable = new BoundedMap<string, { name: string; body: string } | null>(MAX_KNOWN_STATEMENTS);

/** The statement a prepared name stands for (the pgbench yardstick prepares what the app prepared). */
export function preparedStatementBody(name: string): string | undefined {
  for (const p of preparable.values()) if (p?.name === name) return p.body;
  return undefined;
}

export function withoutPreparedStatements(orm: MikroORM): void {
  inlineOnly.add(orm);
}

function preparation(text: string, values: unknown[]): { name: string; body: string } | null {
  const known = preparable.get(text);
  if (known !== undefined) return known;
  // Only plain values (a list bound to `in (?)` expands into several; sqlArray passes it as one), one `?` per value, one statement.
  const plain = values.every((v) => v === null || ['string', 'number', 'boolean', 'bigint'].includes(typeof v) || v instanceof Date);
  const marks = text.match(/\?/g)?.length ?? 0;
  if (!plain || values.length === 0 || marks !== values.length || text.includes('??') || text.includes(';')) return null;
  let n = 0;
  return { name: 'of_' + createHash('sha1').update(text).digest('hex').slice(0, 20), body: text.replace(/\?/g, () => `$${++n}`) };
}

/**
 * The connection's sender, and the statement texts to send on it. The DEALLOCATE ALL a connection owes after a
 * failure goes with the first message actually sent — texts are made before they are sent, and making one may send
 * a PREPARE of its own first (sqlTransaction's `all`), which the DEALLOCATE must not follow.
 */
function statementsOn(orm: MikroORM, connection: pg.PoolClient): { statement: StatementText; send: Send } {
  const platform = orm.em.getPlatform();
  let reset = stale.delete(connection) ? 'deallocate all; ' : '';
  const send: Send = async (message) => {
    const owed = reset;
    reset = '';
    const results = (await connection.query(owed + message)) as pg.QueryResult | pg.QueryResult[];
    const all = Array.isArray(results) ? results : [results];
    return owed ? all.slice(1) : all;
  };
  const inline = (text: string, values: unknown[]) => platform.formatQuery(text, values);
  // A text known by now is made at once; only one not tried yet waits for its PREPARE's round trip (tryPrepare).
  const statement: StatementText = (text, values, inTransaction) => {
    if (inlineOnly.has(orm)) return inline(text, values);
    const p = preparation(text, values);
    if (!p) return inline(text, values);
    const args = values.map((v) => (typeof v === 'string' ? stringLiteral(v) : platform.quoteValue(v))).join(', ');
    let prepared = preparedOn.get(connection);
    if (!prepared) preparedOn.set(connection, (prepared = new Set()));
    if (prepared.has(p.name)) return `execute ${p.name}(${args})`;
    if (preparable.get(text)) {
      prepared.add(p.name); // known to prepare: in the same message
      return `prepare ${p.name} as ${p.body}; execute ${p.name}(${args})`;
    }
    return tryPrepare(text, values, p, args, prepared, inTransaction);
  };
  const tryPrepare = async (
    text: string, values: unknown[], p: { name: string; body: string }, args: string, prepared: Set<string>, inTransaction: boolean,
  ): Promise<string> => {
    // Not tried yet: it is tried on its own, in a round trip of its own (once per statement and process). A failed
    // PREPARE would abort an open transaction, so inside one it is tried behind a savepoint: a statement that only
    // ever runs after another in its transaction (placing's stock-and-attempt one) is prepared too.
    const [open, close] = inTransaction ? ['savepoint try_prepare; ', '; release savepoint try_prepare'] : ['', ''];
    let types: string[];
    try {
      const results = await send(
        `${open}prepare ${p.name} as ${p.body}; select parameter_types::text[] as types from pg_prepared_statements where name = '${p.name}'${close}`,
      );
      types = (results.find((r) => r.command === 'SELECT')!.rows[0] as { types: string[] }).types;
    } catch {
      if (inTransaction) await connection.query('rollback to savepoint try_prepare; release savepoint try_prepare');
      preparable.set(text, null);
      return inline(text, values);
    }
    // A number or true/false PostgreSQL took for text (a bare `?` in a select list, `? || …`) would come back as a
    // string where the inlined literal gives a number: such a statement stays inlined.
    if (values.some((v, i) => typeof v !== 'string' && v !== null && !(v instanceof Date) && /^(text|unknown|character varying)$/.test(types[i]))) {
      await connection.query(`deallocate ${p.name}`);
      preparable.set(text, null);
      return inline(text, values);
    }
    preparable.set(text, p);
    prepared.add(p.name);
    return `execute ${p.name}(${args})`;
  };
  return { statement, send };
}

/**
 * A string as an SQL literal, the same text pg's escapeLiteral (the ORM's) makes: quotes doubled, and backslashes
 * doubled behind E when there are any. Made with two replaces instead of pg's character-by-character concatenation,
 * which left a string per character for the collector — 12 KiB for one add to the basket (its totals' JSON).
 */
export function stringLiteral(value: string): string {
  const quoted = `'${value.replace(/'/g, "''")}'`;
  return value.includes('\\') ? ` E${quoted.replace(/\\/g, '\\\\')}` : quoted;
}

async function withConnection<T>(orm: MikroORM, fn: (connection: pg.PoolClient, statement: StatementText, send: Send) => Promise<T>): Promise<T> {
  const knexClient = orm.em.getConnection().getKnex().client;
  const connection: pg.PoolClient = await knexClient.acquireConnection();
  try {
    const { statement, send } = statementsOn(orm, connection);
    return await fn(connection, statement, send);
  } catch (e) {
    // After a failure this connection forgets its prepared statements and prepares them anew: the failed message may
    // not have reached its PREPARE, or a migration changed what a statement returns ("cached plan must not change
    // result type": that request fails once). The DEALLOCATE travels with the connection's next message, not now:
    // after a timeout (a frozen server) a statement sent here would hold this request for another whole timeout.
    if (preparedOn.delete(connection)) stale.add(connection);
    throw e;
  } finally {
    await knexClient.releaseConnection(connection);
  }
}
