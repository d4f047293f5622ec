import { startEmbeddedPostgres, withDatabase } from './src/db/embedded-postgres';
import pg from 'pg';
(async () => { const s = await startEmbeddedPostgres({ dataDir: '.data/pg', port: 54329, quiet: true });
const c = new pg.Client({ connectionString: withDatabase(s.url, 'orderflow_bench') }); await c.connect();
for (const q of process.argv.slice(2)) { const r = await c.query(q); console.table(r.rows); }
await c.end(); await s.stop(); })();
