import http from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { BuiltApp } from './app';
import { ConfigError, loadConfig, type AppConfig } from './config';
import { assertEmbeddedPortFree, EmbeddedPostgresError, type RunningPostgres } from './db/embedded-postgres';
import { configureLogging, log } from './shared/log';

/*
 * Only the modules needed to read the settings and bind the port are imported up front; the app (the ORM, every
 * route and template) is loaded after that, so a start that cannot work fails within a second.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const loadApp = () => ({
  ...(require('./app') as typeof import('./app')),
  ...(require('./db/database') as typeof import('./db/database')),
  ...(require('./db/seed') as typeof import('./db/seed')),
  ...(require('./db/unavailable') as typeof import('./db/unavailable')),
  ...(require('./exports/auto-export.service') as typeof import('./exports/auto-export.service')),
  ...(require('./exports/auto-export.worker') as typeof import('./exports/auto-export.worker')),
  ...(require('./jobs/job-queue') as typeof import('./jobs/job-queue')),
  ...(require('./mail/mail.entities') as typeof import('./mail/mail.entities')),
  ...(require('./mail/outbox.service') as typeof import('./mail/outbox.service')),
  ...(require('./mail/smtp-catcher') as typeof import('./mail/smtp-catcher')),
});
type AppModules = ReturnType<typeof loadApp>;

/** A start that cannot work: one line saying what to change, then exit code 1. */
class StartupError extends Error {}

/**
 * A lost database connection must never end the process: requests answer 503 meanwhile (src/http/error-handler.ts),
 * the workers log and retry, and the pools reconnect when PostgreSQL is back. Anything else unexpected still
 * stops the process, since its state is unknown — except once the shutdown began, when its work is done anyway.
 */
function keepRunningWhileTheDatabaseIsDown({ isDatabaseUnavailable, unavailableReason }: AppModules, shuttingDown: () => boolean): void {
  process.on('unhandledRejection', (reason) => {
    if (shuttingDown()) {
      // A library's late work against pools the shutdown already closed: the requests and jobs are finished.
      log.warn({ err: reason }, '[shutdown] a late rejection while closing (ignored)');
      return;
    }
    if (isDatabaseUnavailable(reason)) {
      log.warn(`[process] database unreachable (unhandled rejection): ${unavailableReason(reason)}`);
      return;
    }
    log.fatal({ err: reason }, '[process] unhandled rejection, stopping'); // as Node itself would
    process.exit(1);
  });
  process.on('uncaughtException', (err) => {
    if (shuttingDown()) {
      log.warn({ err }, '[shutdown] a late error while closing (ignored)');
      return;
    }
    if (isDatabaseUnavailable(err)) {
      log.warn(`[process] database connection lost: ${unavailableReason(err)}`);
      return;
    }
    log.fatal({ err }, '[process] uncaught exception, stopping');
    process.exit(1);
  });
}

/** Binds the HTTP port, or fails with a message naming it. */
function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new StartupError(`PORT: port ${port} is already in use; stop what runs there or set PORT to a free port`));
      else if (e.code === 'EACCES') reject(new StartupError(`PORT: not allowed to listen on port ${port}; set PORT to a port above 1023`));
      else reject(e);
    });
    server.listen(port, () => resolve());
  });
}

/**
 * The embedded PostgreSQL is part of this process's promise to serve pages: when it dies, it is started again
 * (a few tries, a second apart); when that fails the process exits non-zero so a supervisor restarts everything,
 * instead of staying half alive.
 */
function superviseEmbedded(embedded: RunningPostgres, shuttingDown: () => boolean, attempts = 10): void {
  embedded.onUnexpectedExit(async (code, signal) => {
    if (shuttingDown()) return; // e.g. Ctrl-C reached PostgreSQL too: the shutdown stops everything anyway
    log.error(`[postgres] the embedded PostgreSQL stopped unexpectedly (${signal ?? 'exit code ' + code}); starting it again`);
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await embedded.restart();
        log.warn(`[postgres] embedded PostgreSQL running again (attempt ${attempt})`);
        return;
      } catch (e) {
        log.warn(`[postgres] restart attempt ${attempt} failed: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    log.fatal('[postgres] the embedded PostgreSQL cannot be started again; exiting so a supervisor restarts Orderflow');
    process.exit(1);
  });
}

/** Until the app is ready, every request (including /healthz) is told the shop is starting. */
const starting: http.RequestListener = (_req, res) => {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '5', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ ok: false, error: { code: 'UNAVAILABLE', message: 'Starting up.' } }));
};

/**
 * Binds the port first (a taken port stops the start before anything else), boots the database (embedded unless
 * DATABASE_URL), migrates, seeds (the demo, or only a shop's basics), then serves and starts the workers.
 * PROCESS_ROLE splits that: `web` serves and runs no background job, `worker` binds no port and runs every job.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  configureLogging({ production: config.production, level: config.logLevel });
  const serves = config.processRole !== 'worker';
  const runsJobs = config.processRole !== 'web';
  let stopping = false;
  let handle: http.RequestListener = starting;
  const server = serves ? http.createServer((req, res) => handle(req, res)) : undefined;
  if (server) await listen(server, config.port);
  if (!config.databaseUrl) await assertEmbeddedPortFree(config.embeddedPort);

  const m = loadApp();
  const { initOrm, migrateWithOwnConnection, provideDatabase, withStartupLock, seedDemoData, seedShopBasics, CaughtMail, MailWorker } = m;
  keepRunningWhileTheDatabaseIsDown(m, () => stopping);
  m.assertExportSettingsSupported(config); // EXPORT_XSL: refuse before the database boots

  const db = await provideDatabase(config);
  if (db.embedded) superviseEmbedded(db.embedded, () => stopping);
  // Several processes may start at once on one database: they migrate and seed one after the other.
  await withStartupLock(db.url, () => migrateWithOwnConnection(db.url, (o: MikroORM) => (config.demo ? seedDemoData(o.em.fork()) : seedShopBasics(o.em.fork()))));
  const orm = await initOrm(db.url, { statementTimeoutMs: config.statementTimeoutMs, acquireTimeoutMs: config.poolAcquireTimeoutMs, preparedStatements: config.preparedStatements });

  let smtpUrl = config.smtpUrl;
  let catcher: Awaited<ReturnType<AppModules['startSmtpCatcher']>> | undefined;
  if (!smtpUrl && runsJobs) {
    // No SMTP server: a local one in the process that sends the mail catches it; it is stored in the database, so
    // staff read it at /admin/mail on any web process.
    catcher = await m.startSmtpCatcher(async (mail) => {
      const em = orm.em.fork();
      em.create(CaughtMail, { fromAddress: mail.from, toAddress: mail.to, subject: mail.subject, html: mail.html, text: mail.text, receivedAt: new Date() });
      await em.flush();
    });
    smtpUrl = catcher.url;
  }
  // A worker builds the app too (never served): the jobs are the services' own methods.
  const built = m.createApp(orm, config, db.url);
  const mailWorker = runsJobs ? new MailWorker(orm, smtpUrl!) : undefined;
  const jobs = mailWorker ? await startAllJobs(m, config, db.url, orm, built, mailWorker) : undefined;
  handle = built.app; // healthy from here: the jobs run too (in this process, or in the worker processes)
  await announce(config, orm, m.DEMO_USERS, db.embedded !== undefined, catcher !== undefined);

  const shutdown = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    const finishing = [server && 'requests in flight', jobs && "the workers' current jobs"].filter(Boolean).join(' and ');
    log.info(`[shutdown] ${signal}: finishing ${finishing} (up to ${config.shutdownTimeoutMs} ms)`);
    const force = setTimeout(() => {
      log.warn('[shutdown] still busy after SHUTDOWN_TIMEOUT_MS; closing the remaining connections');
      server?.closeAllConnections();
    }, config.shutdownTimeoutMs);
    force.unref();
    try {
      await Promise.all([server && closeServer(server), jobs?.stop(config.shutdownTimeoutMs)]);
      clearTimeout(force);
      mailWorker?.close();
      await closeResources(built, orm, catcher, db.embedded);
      log.info('[shutdown] done');
    } catch (e) {
      log.error({ err: e }, '[shutdown] failed to close cleanly'); // e.g. the database is down: stop anyway
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

/** Every background job, run by pg-boss (src/jobs/job-queue.ts); each drains its own table. */
function startAllJobs(m: AppModules, config: AppConfig, url: string, orm: MikroORM, built: BuiltApp, mailWorker: InstanceType<AppModules['MailWorker']>) {
  const every = config.workerIntervalMs;
  const { services } = built;
  return m.startJobs(url, config, [
    mailWorker.job(every),
    new m.AutoExportWorker(orm, { ...config, outbox: services.outbox }).job(every),
    services.recurring.schedulerJob(every * 15),
    services.quotes.expiryJob(every * 15),
    services.checkout.reservationExpiryJob(every),
    services.paymentDesk.voidRetryJob(every * 5),
    services.paymentDesk.staleRecoveryJob(every * 5),
  ], [
    // Idempotency answers of the API are kept a week, then pruned hourly.
    { name: 'prune-idempotency-keys', cron: '7 * * * *', run: async () => void (await services.api.pruneIdempotencyKeys()) },
    // Expired sessions (connect-pg-simple's own timer ran in every process).
    { name: 'prune-sessions', cron: '*/15 * * * *', run: () => built.pruneSessions() },
    // Guests' baskets no cookie can reach any more (CartService.pruneUnreachableBaskets).
    { name: 'prune-unreachable-baskets', cron: '41 * * * *', run: async () => void (await services.carts.pruneUnreachableBaskets()) },
  ]);
}

/** Stops accepting connections and resolves when every open request has been answered. */
function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive connections between requests would hold close() open; ones busy with a request close after it.
    server.closeIdleConnections();
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    server.once('close', () => clearInterval(idle));
  });
}

async function closeResources(built: BuiltApp, orm: MikroORM, catcher: { stop(): Promise<void> } | undefined, embedded: RunningPostgres | undefined): Promise<void> {
  await built.close();
  await catcher?.stop();
  await orm.close();
  await embedded?.stop();
}

/** The start-up lines: where the shop runs (or that this is a worker), and the demo logins (only in the demo) or how to create staff. */
async function announce(config: AppConfig, orm: MikroORM, demoUsers: AppModules['DEMO_USERS'], embedded: boolean, catcher: boolean): Promise<void> {
  const role = config.processRole;
  const mode = `${config.demo ? 'demo shop' : 'no demo data'}${config.production ? ', production' : ''}`;
  if (role === 'worker') log.info(`Orderflow worker running: every background job, no HTTP port (PROCESS_ROLE=worker; ${mode})`);
  else log.info(`Orderflow is running at ${config.baseUrl} (${mode}${role === 'web' ? '; PROCESS_ROLE=web: no background jobs, they run in PROCESS_ROLE=worker processes' : ''})`);
  log.info(`Database: ${embedded ? 'embedded PostgreSQL (data in ' + config.embeddedDataDir + ')' : 'DATABASE_URL'}`);
  if (role === 'web') log.info(`Mail: sent by the worker processes${config.smtpUrl ? ' to SMTP_URL' : ', whose local catcher stores it for ' + config.baseUrl + '/admin/mail'}`);
  else log.info(`Mail: ${catcher ? 'caught locally, read them at ' + (role === 'worker' ? '/admin/mail of a web process' : config.baseUrl + '/admin/mail') : 'sent to SMTP_URL'}`);
  if (config.demo && role !== 'worker') {
    // For the person trying the demo, on the terminal; never in the log (no password in a log line).
    process.stdout.write(`Demo logins:\n${demoUsers.map((u) => `  ${(u.staffRole ?? u.role).padEnd(13)} ${u.email} / ${u.password}`).join('\n')}\n`);
    return;
  }
  if (config.demo) return;
  const [{ n }] = await orm.em.fork().execute<{ n: string }[]>(`select count(*) as n from users where role = 'staff'`);
  if (Number(n) === 0) log.warn('No staff user yet: create one with  npm run staff:create -- --email you@example.com');
}

main().catch((e) => {
  if (e instanceof ConfigError || e instanceof StartupError || e instanceof EmbeddedPostgresError) {
    // One plain line per problem on stderr, whatever the log format: this is for the person starting the app.
    process.stderr.write(`${e.message}\n`);
  } else {
    log.fatal({ err: e }, 'Orderflow could not start');
  }
  process.exit(1);
});
