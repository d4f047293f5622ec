import { defineConfig, ReferenceKind, UnderscoreNamingStrategy, type EntityMetadata } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { entities } from './src/db/entities';
import { migrationsList } from './migrations';
import { log } from './src/shared/log';

export interface OrmOptions {
  debug?: boolean;
  poolMax?: number;
  /** Longest statement (server side) and longest wait for any answer (client side, a frozen server); none when unset. */
  statementTimeoutMs?: number;
  /** Longest wait for a pooled connection, and for a new connection's handshake. */
  acquireTimeoutMs?: number;
  /** False behind a transaction pooler (PgBouncer, transaction mode): src/db/sql.ts sends values inlined, nothing PREPAREd. */
  preparedStatements?: boolean;
}

/**
 * node-postgres options that keep a stalled or frozen server from holding a request: PostgreSQL cancels a statement
 * after `statement_timeout`; a server that does not answer at all is given up on a second later (`query_timeout`).
 */
export function connectionTimeouts(opts: Pick<OrmOptions, 'statementTimeoutMs' | 'acquireTimeoutMs'>) {
  return {
    connectionTimeoutMillis: opts.acquireTimeoutMs ?? 5000,
    ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs, query_timeout: opts.statementTimeoutMs + 1000 } : {}),
  };
}

/**
 * Names of constraints and indexes as PostgreSQL gives them when a migration leaves them unnamed (`orders_shop_id_fkey`,
 * `products_number_key`, `products_price_minor_check`), so the schema derived from the entities names them as the
 * migrations do (test/db/schema-drift.test.ts).
 */
export class PostgresNamingStrategy extends UnderscoreNamingStrategy {
  override indexName(tableName: string, columns: string[], type: 'primary' | 'foreign' | 'unique' | 'index' | 'sequence' | 'check'): string {
    const suffix = ({ foreign: 'fkey', unique: 'key', index: 'idx' } as Record<string, string | undefined>)[type];
    return suffix ? `${tableName}_${columns.join('_')}_${suffix}` : super.indexName(tableName, columns, type);
  }
}

/**
 * The migrations create foreign keys with PostgreSQL's defaults (no action on update and delete) unless a relation
 * declares `deleteRule`; MikroORM would assume `on update cascade` and `on delete set null` for nullable relations.
 * Schema only: these rules change no query the ORM sends.
 */
function foreignKeyDefaults(meta: EntityMetadata): void {
  for (const prop of Object.values(meta.properties)) {
    if (prop.kind !== ReferenceKind.MANY_TO_ONE && !(prop.kind === ReferenceKind.ONE_TO_ONE && prop.owner)) continue;
    prop.updateRule ??= 'no action';
    prop.deleteRule ??= 'no action';
  }
}

/** ORM settings shared by the app, the tests and the CLI; the connection URL is decided at boot. */
export function ormConfig(clientUrl: string, opts: OrmOptions = {}) {
  const acquireTimeoutMillis = opts.acquireTimeoutMs ?? 5000;
  return defineConfig({
    clientUrl,
    entities,
    extensions: [Migrator],
    migrations: { migrationsList, path: 'migrations', pathTs: 'migrations', transactional: true, allOrNothing: true, snapshot: false },
    discovery: { requireEntitiesArray: true, onMetadata: foreignKeyDefaults },
    namingStrategy: PostgresNamingStrategy,
    // A hung database answers requests with the 503 page after 5 s instead of knex's default 60 s.
    pool: { min: 0, max: opts.poolMax ?? 20, acquireTimeoutMillis },
    driverOptions: { connection: connectionTimeouts({ ...opts, acquireTimeoutMs: acquireTimeoutMillis }) },
    forceUtcTimezone: true,
    debug: opts.debug ?? false,
    // The ORM's own messages (e.g. "Applied migration …") go to the app's log, as JSON lines in production.
    logger: (message: string) => log.info(message),
    colors: false,
    // Entities are never cached across requests: each request forks its own EntityManager.
    allowGlobalContext: false,
  });
}

export default ormConfig(process.env.DATABASE_URL ?? 'postgres://postgres:orderflow@127.0.0.1:54329/orderflow');
