import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';

/**
 * Runs one statement and returns its rows. Values are bound to `?` placeholders in order, as in the ORM's
 * `em.execute`, so the same SQL runs on either (no `?` may appear in the SQL otherwise, e.g. as a jsonb operator).
 */
export type Sql = <T extends object>(text: string, values?: unknown[]) => Promise<T[]>;

/** An Sql runner inside sqlTransaction. */
export interface SqlTransaction extends Sql {
  /** Runs the transaction's last statement and its COMMIT in one round trip; answers the statement's rows. */
  commitWith<T extends object = object>(text: string, values?: unknown[]): Promise<T[]>;
}

/** The ORM transaction's connection as an Sql runner. */
export function emSql(em: EntityManager): Sql {
  return <T extends object>(text: string, values: unknown[] = []) => em.execute<T[]>(text, values);
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
export async function sqlTransaction<T>(orm: MikroORM, fn: (sql: SqlTransaction) => Promise<T>): Promise<T> {
  const platform = orm.em.getPlatform();
  return withConnection(orm, async (connection) => {
    let state = 'not begun' as 'not begun' | 'open' | 'committed';
    const run = async (statements: string): Promise<pg.QueryResult[]> => {
      const results = (await connection.query(statements)) as pg.QueryResult | pg.QueryResult[];
      return Array.isArray(results) ? results : [results];
    };
    const begin = () => (state === 'not begun' ? 'begin; ' : '');
    const sql = (async <R extends object>(text: string, values: unknown[] = []) => {
      const results = await run(begin() + platform.formatQuery(text, values));
      state = 'open';
      return results[results.length - 1].rows as R[];
    }) as SqlTransaction;
    sql.commitWith = async <R extends object>(text: string, values: unknown[] = []) => {
      const results = await run(`${begin()}${platform.formatQuery(text, values)}; commit`);
      state = 'committed';
      return results[results.length - 2].rows as R[];
    };
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
export async function sqlRead<T extends object>(orm: MikroORM, text: string, values: unknown[] = []): Promise<T[]> {
  const statement = orm.em.getPlatform().formatQuery(text, values);
  return withConnection(orm, async (connection) => (await connection.query(statement)).rows as T[]);
}

/** sqlRead as an Sql runner: each statement a read of its own (pages that only print what they read). */
export function sqlReader(orm: MikroORM): Sql {
  return <T extends object>(text: string, values: unknown[] = []) => sqlRead<T>(orm, text, values);
}

async function withConnection<T>(orm: MikroORM, fn: (connection: pg.PoolClient) => Promise<T>): Promise<T> {
  const knexClient = orm.em.getConnection().getKnex().client;
  const connection: pg.PoolClient = await knexClient.acquireConnection();
  try {
    return await fn(connection);
  } finally {
    await knexClient.releaseConnection(connection);
  }
}
