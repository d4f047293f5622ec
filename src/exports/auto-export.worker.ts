/**
 * Automatic XML export, the worker side: writes `<exportDir>/<ORDERNUMBER>.xml` for each due export job, marks the
 * order exported and the job done — or records the error and retries with backoff. Safe to run in several processes
 * at once: a job is claimed with FOR UPDATE SKIP LOCKED and held until its transaction commits.
 *
 * The file is written under a temporary name in the same folder, flushed, then renamed, so a reader never sees half
 * a file. If the commit after the rename fails, the job stays queued and the next attempt writes the same file again
 * (same name, same content apart from the export time): at least once, never lost.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Order } from '../orders/order.entities';
import type { OutboxService } from '../mail/outbox.service';
import { compileXsl, exportBackoffSeconds, exportFileName, loadXslTransform, MAX_EXPORT_ATTEMPTS, type XslTransform } from './auto-export.service';
import { readExportSettings } from './export-settings.service';
import { ordersXml } from './order-xml';
import type { DrainJob } from '../jobs/job-queue';
import { ensureFolder } from '../shared/folders';

/** The environment's defaults (EXPORT_DIR, EXPORT_XSL); staff settings in `export_settings` take precedence. */
export interface AutoExportSettings {
  exportDir: string;
  exportXslPath?: string;
  /** Queues the "order exported" mail with the XML attached, when staff set an address. */
  outbox?: OutboxService;
}

type Claimed = { id: string; order_id: string; attempts: number };

export class AutoExportWorker {
  readonly exportDir: string;

  /** Each order's XML, through EXPORT_XSL's stylesheet when one is configured. */
  private readonly render: XslTransform;
  /** The stylesheet staff uploaded, compiled once per upload. */
  private uploaded: { source: string; transform: XslTransform } | undefined;
  private readonly outbox: OutboxService | undefined;

  /** Throws XslNotUsable when the configured XSL file cannot be loaded. */
  constructor(private readonly orm: MikroORM, settings: AutoExportSettings, private readonly now: () => Date = () => new Date()) {
    this.exportDir = path.resolve(settings.exportDir);
    this.render = settings.exportXslPath ? loadXslTransform(settings.exportXslPath) : async (xml) => xml;
    this.outbox = settings.outbox;
  }

  /** Exports up to `limit` due jobs; returns how many files were written. Nothing while staff have the export off. */
  async runDue(limit = 20): Promise<number> {
    const settings = await readExportSettings(this.orm.em.fork());
    if (!settings.enabled) return 0;
    const dir = settings.folder ? path.resolve(settings.folder) : this.exportDir;
    const render = settings.xslSource ? this.uploadedTransform(settings.xslSource) : this.render;
    let written = 0;
    for (let i = 0; i < limit; i++) {
      const result = await this.orm.em.fork().transactional(async (em) => {
        // In the order the jobs fell due, which the queued jobs' partial index holds: ordered by id alone, PostgreSQL
        // may walk the primary key past every job already done (one per order ever placed), as the mail claim did.
        const [job] = await em.execute<Claimed[]>(
          `select id, order_id, attempts from order_export_jobs
           where status = 'queued' and next_attempt_at <= now() order by next_attempt_at, id limit 1 for update skip locked`,
        );
        if (!job) return 'empty' as const;
        try {
          const order = await em.findOne(Order, { id: Number(job.order_id) }, {
            populate: ['lines', 'state.flow', 'shippingMethod', 'paymentMethod', 'user', 'company'],
          });
          if (!order) throw new Error(`order ${job.order_id} was not found`);
          if (!order.completed || order.type !== 'order') throw new Error(`${order.number} is not a completed order`);
          const fileName = exportFileName(order.number);
          const xml = await render(ordersXml([order], this.now()));
          await this.writeAtomically(dir, fileName, xml);
          await em.execute(`update orders set exported = true where id = ?`, [order.id]);
          if (settings.notifyEmail && this.outbox) {
            // In the job's transaction: the mail exists exactly when the export is recorded; once per written file.
            await this.outbox.enqueue(em, {
              to: settings.notifyEmail, subject: `Order ${order.number} exported`, template: 'mail/export-notification.njk',
              context: { order, fileName, folder: dir }, orderId: order.id, dedupeKey: `export:${job.id}:${job.attempts + 1}`,
              attachments: [{ filename: fileName, contentType: 'application/xml', content: xml }],
            });
          }
          await em.execute(
            `update order_export_jobs set status = 'done', attempts = attempts + 1, last_error = '', file_name = ?,
               exported_at = now(), updated_at = now() where id = ?`,
            [fileName, job.id],
          );
          return 'written' as const;
        } catch (e) {
          const attempts = job.attempts + 1;
          await em.execute(
            `update order_export_jobs set attempts = ?, last_error = ?, status = ?, updated_at = now(),
               next_attempt_at = now() + (? || ' seconds')::interval where id = ?`,
            [attempts, String((e as Error).message).slice(0, 1000), attempts >= MAX_EXPORT_ATTEMPTS ? 'failed' : 'queued',
              String(exportBackoffSeconds(attempts)), job.id],
          );
          return 'failed' as const;
        }
      });
      if (result === 'empty') break;
      if (result === 'written') written++;
    }
    return written;
  }

  private uploadedTransform(source: string): XslTransform {
    if (this.uploaded?.source !== source) this.uploaded = { source, transform: compileXsl(source) };
    return this.uploaded.transform;
  }

  /** Temp file in the target folder (so the rename stays on one file system), flushed to disk, then renamed. */
  private async writeAtomically(dir: string, fileName: string, content: string): Promise<void> {
    await ensureFolder(dir);
    const target = path.join(dir, fileName);
    const temp = path.join(dir, `.${fileName}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
    try {
      const fh = await fs.open(temp, 'wx');
      try {
        await fh.writeFile(content, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(temp, target);
    } catch (e) {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      throw e;
    }
  }

  /** runDue as a job (src/jobs/job-queue.ts). */
  job(everyMs: number): DrainJob {
    return { name: 'export', everyMs, batchSize: 50, drain: (limit) => this.runDue(limit) };
  }
}
