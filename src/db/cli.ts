import { loadConfig } from '../config';
import { initOrm, migrate, withStartupLock } from './database';
import { seedDemoData } from './seed';

/**
 * `tsx src/db/cli.ts [--seed]` (`npm run migrate`): migrates the database at DATABASE_URL (and seeds the demo shop),
 * under the same lock as the app's start, so it can run as a deploy step while app processes start.
 */
async function main(): Promise<void> {
  const url = loadConfig(process.env, { serving: false }).databaseUrl;
  if (!url) throw new Error('DATABASE_URL is required');
  const orm = await initOrm(url, { poolMax: 2 });
  try {
    await withStartupLock(url, async () => {
      await migrate(orm);
      if (process.argv.includes('--seed')) await seedDemoData(orm.em.fork());
    });
  } finally {
    await orm.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
