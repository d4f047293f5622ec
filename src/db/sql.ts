import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';

/**
 * Runs one statement and returns its rows. Values are bound to `?` placeholders in order, as in the ORM's
 * `em.execute`, so the same SQL runs on either (no `?` may appear in the SQL otherwise, e.g. as a jsonb operator).
 */
export type Sql = <T extends object>(text: string, values?: unknown[]) => Promise<T[]>;

/** The ORM transaction's connection as an Sql runner. */
export function emSql(em: EntityManager): Sql {
  return <T extends object>(text: string, values: unknown[] = []) => em.execute<T[]>(text, values);
}

/**
 * Runs `fn` in a transaction on a connection taken straight from the ORM's own pool (same limits, same timeouts),
 * without the ORM's query building, hydration and change tracking. Only for the storefront's hottest requests,
 * where those cost several times the database's own work (README, "Performance"); everything else uses the ORM.
 */
export async function sqlTransaction<T>(orm: MikroORM, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const knexClient = orm.em.getConnection().getKnex().client;
  const connection: pg.PoolClient = await knexClient.acquireConnection();
  const sql: Sql = async <R extends object>(text: string, values: unknown[] = []) => {
    let n = 0;
    return (await connection.query<R>(text.replace(/\?/g, () => `$${++n}`), values)).rows;
  };
  try {
    await connection.query('begin');
    const result = await fn(sql);
    await connection.query('commit');
    return result;
  } catch (e) {
    // A lost connection fails the rollback too; the original error is the one that explains what happened.
    await connection.query('rollback').catch(() => undefined);
    throw e;
  } finally {
    await knexClient.releaseConnection(connection);
  }
}
