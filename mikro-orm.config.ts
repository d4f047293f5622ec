import { defineConfig } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { entities } from './src/db/entities';
import { migrationsList } from './migrations';

/** ORM settings shared by the app, the tests and the CLI; the connection URL is decided at boot. */
export function ormConfig(clientUrl: string, opts: { debug?: boolean; poolMax?: number } = {}) {
  return defineConfig({
    clientUrl,
    entities,
    extensions: [Migrator],
    migrations: { migrationsList, path: 'migrations', pathTs: 'migrations', transactional: true, allOrNothing: true, snapshot: false },
    discovery: { requireEntitiesArray: true },
    // A hung database answers requests with the 503 page after 5 s instead of knex's default 60 s.
    pool: { min: 0, max: opts.poolMax ?? 20, acquireTimeoutMillis: 5000 },
    forceUtcTimezone: true,
    debug: opts.debug ?? false,
    // Entities are never cached across requests: each request forks its own EntityManager.
    allowGlobalContext: false,
  });
}

export default ormConfig(process.env.DATABASE_URL ?? 'postgres://postgres:orderflow@127.0.0.1:54329/orderflow');
