import fs from 'node:fs';

export default async function globalTeardown() {
  const pg = globalThis.__ORDERFLOW_PG__;
  if (!pg) return;
  await pg.server.stop();
  fs.rmSync(pg.dir, { recursive: true, force: true });
}
