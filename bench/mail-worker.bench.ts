/**
 * The mail worker's cost per mail, run by hand: `npm run bench:mail` (MAILS, ROUNDS). On a fresh `orderflow_mail`
 * database (BENCH_DATABASE names another) it queues MAILS receipt-sized mails per round and lets MailWorker send them
 * to an SMTP catcher in a worker thread (a mail server on another machine), and prints the app thread's CPU per mail
 * sent: in the default setup the worker shares the thread with the storefront, so every mail's cost is a request's.
 */
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { loadConfig } from '../src/config';
import { initOrm } from '../src/db/database';
import { MailWorker } from '../src/mail/outbox.service';
import { startSmtpCatcher } from '../src/mail/smtp-catcher';
import { benchServer, createBenchDatabase, migrateAndSeed, positiveInt } from './bench-db';
import { cpuSeconds } from './proc-stat';

const MAILS = positiveInt(process.env.MAILS, 500);
const ROUNDS = positiveInt(process.env.ROUNDS, 3);

async function main(): Promise<void> {
  const catcher = new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(__filename)});`, { eval: true });
  const smtpUrl: string = await new Promise((resolve) => catcher.once('message', resolve));
  const server = await benchServer(loadConfig());
  const db = await createBenchDatabase(server, process.env.BENCH_DATABASE ?? 'orderflow_mail');
  await migrateAndSeed(db.url);
  const orm = await initOrm(db.url);
  const knex = orm.em.getConnection().getKnex();
  const html = `<html><body>${'<p>1 × Product name, article P-1013: 12.34 EUR</p>'.repeat(80)}</body></html>`;
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      await knex.raw(`insert into outbox_messages (dedupe_key, from_address, to_address, subject, html, text, attachments)
        select 'bench-' || gen_random_uuid(), '"Orderflow Shop" <shop@orderflow.test>', 'buyer@example.test', 'Order confirmation', ?, ?, '[]'
        from generate_series(1, ?)`, [html, html.replace(/<[^>]+>/g, '\n'), MAILS]);
      const worker = new MailWorker(orm, smtpUrl);
      const cpuBefore = cpuSeconds() * 1000;
      const started = Date.now();
      let sent = 0;
      for (let n = -1; n !== 0; sent += n) n = await worker.sendDue(50);
      console.log(`round ${round}: ${sent} mails in ${Date.now() - started} ms, app thread ${((cpuSeconds() * 1000 - cpuBefore) / sent).toFixed(2)} ms CPU per mail`);
      worker.close();
    }
  } finally {
    await orm.close();
    await catcher.terminate();
    await server.embedded?.stop();
  }
}

if (isMainThread) {
  main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
} else {
  void startSmtpCatcher(() => undefined).then((s) => parentPort!.postMessage(s.url));
}
