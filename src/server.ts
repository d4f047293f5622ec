import type { Server } from 'node:http';
import { createApp } from './app';
import { loadConfig } from './config';
import { initOrm, migrate, provideDatabase } from './db/database';
import { DEMO_USERS, seedDemoData } from './db/seed';
import { assertExportSettingsSupported } from './exports/auto-export.service';
import { AutoExportWorker } from './exports/auto-export.worker';
import { CaughtMail } from './mail/mail.entities';
import { MailWorker } from './mail/outbox.service';
import { startSmtpCatcher } from './mail/smtp-catcher';

/** Boots the database (embedded unless DATABASE_URL), migrates, seeds, starts the mail worker and listens. */
async function main(): Promise<void> {
  const config = loadConfig();
  assertExportSettingsSupported(config); // EXPORT_XSL: refuse before the database boots
  const db = await provideDatabase(config);
  const orm = await initOrm(db.url);
  await migrate(orm);
  await seedDemoData(orm.em.fork());

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

  const shutdown = async () => {
    stopWorker();
    stopExportWorker();
    stopScheduler();
    clearInterval(pruneTimer);
    server.close();
    worker.close();
    await close();
    await catcher?.stop();
    await orm.close();
    await db.embedded?.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
