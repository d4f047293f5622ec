import { initOrm, migrate } from './database';
import { seedDemoData } from './seed';

/** `tsx src/db/cli.ts [--seed]`: migrates the database at DATABASE_URL (and seeds the demo shop). */
async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required');
  const orm = await initOrm(url, { poolMax: 2 });
  try {
    await migrate(orm);
    if (process.argv.includes('--seed')) await seedDemoData(orm.em.fork());
  } finally {
    await orm.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
