import type { Server } from 'node:http';
import { createApp } from './app';
import { loadConfig } from './config';
import { initOrm, migrate, provideDatabase, withStartupLock } from './db/database';
import { DEMO_USERS, seedDemoData } from './db/seed';
import { assertExportSettingsSupported } from './exports/auto-export.service';
import { AutoExportWorker } from './exports/auto-export.worker';
import { CaughtMail } from './mail/mail.entities';
import { isDatabaseUnavailable, unavailableReason } from './http/error-handler';
import { MailWorker } from './mail/outbox.service';
import { startSmtpCatcher } from './mail/smtp-catcher';

/**
 * A lost database connection must never end the process: requests answer 503 meanwhile (src/http/error-handler.ts),
 * the workers log and retry, and the pools reconnect when PostgreSQL is back. Anything else unexpected still
 * stops the process, since its state is unknown.
 */
function keepRunningWhileTheDatabaseIsDown(): void {
  process.on('unhandledRejection', (reason) => {
    if (isDatabaseUnavailable(reason)) {
      console.error('[process] database unreachable (unhandled rejection):', unavailableReason(reason));
      return;
    }
    console.error('[process] unhandled rejection, stopping', reason); // as Node itself would
    process.exit(1);
  });
  process.on('uncaughtException', (err) => {
    if (isDatabaseUnavailable(err)) {
      console.error('[process] database connection lost:', unavailableReason(err));
      return;
    }
    console.error('[process] uncaught exception, stopping', err);
    process.exit(1);
  });
}

/** Boots the database (embedded unless DATABASE_URL), migrates, seeds, starts the mail worker and listens. */
async function main(): Promise<void> {
  keepRunningWhileTheDatabaseIsDown();
  const config = loadConfig();
  assertExportSettingsSupported(config); // EXPORT_XSL: refuse before the database boots
  const db = await provideDatabase(config);
  const orm = await initOrm(db.url);
  // Several processes may start at once on one database: they migrate and seed one after the other.
  await withStartupLock(db.url, async () => {
    await migrate(orm);
    await seedDemoData(orm.em.fork());
  });

  let smtpUrl = config.smtpUrl;
  let catcher: Awaited<ReturnType<typeof startSmtpCatcher>> | undefined;
  if (!smtpUrl) {
    // Demo mode: a local SMTP server catches every mail so staff can read them at /admin/mail.
    catcher = await startSmtpCatcher(async (m) => {
      const em = orm.em.fork();
      em.create(CaughtMail, { fromAddress: m.from, toAddress: m.to, subject: m.subject, html: m.html, text: m.text, receivedAt: new Date() });
      await em.flush();
    });
    smtpUrl = catcher.url;
  }
  const worker = new MailWorker(orm, smtpUrl);
  const stopWorker = worker.start(config.workerIntervalMs);
  const exportWorker = new AutoExportWorker(orm, config);
  const stopExportWorker = exportWorker.start(config.workerIntervalMs);

  const { app, close, services } = createApp(orm, config, db.url);
  const stopScheduler = services.recurring.startScheduler(config.workerIntervalMs * 15);
  const stopQuoteExpiry = services.quotes.startExpiryScheduler(config.workerIntervalMs * 15);
  const stopReservationExpiry = services.checkout.startReservationExpiry(config.workerIntervalMs);
  // Idempotency answers of the API are kept a week, then pruned hourly.
  const pruneTimer = setInterval(() => services.api.pruneIdempotencyKeys().catch((e) => console.error('[api] prune failed', e)), 3600_000);
  pruneTimer.unref();
  const server: Server = app.listen(config.port, () => {
    console.log(`\nOrderflow is running at ${config.baseUrl}`);
    console.log(`Database: ${db.embedded ? 'embedded PostgreSQL (data in ' + config.embeddedDataDir + ')' : 'DATABASE_URL'}`);
    console.log(`Mail: ${catcher ? 'caught locally, read them at ' + config.baseUrl + '/admin/mail' : 'sent to SMTP_URL'}`);
    console.log('Demo logins:');
    for (const u of DEMO_USERS) console.log(`  ${u.role.padEnd(8)} ${u.email} / ${u.password}`);
  });

  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    stopWorker();
    stopExportWorker();
    stopScheduler();
    stopQuoteExpiry();
    stopReservationExpiry();
    clearInterval(pruneTimer);
    server.close();
    worker.close();
    try {
      // With the database down, closing its pools may fail: stop anyway.
      await close();
      await catcher?.stop();
      await orm.close();
      await db.embedded?.stop();
    } catch (e) {
      console.error('[shutdown]', (e as Error).message);
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
