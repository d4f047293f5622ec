import fs from 'node:fs';
import { Xslt, XmlParser } from 'xslt-processor';
/**
 * Automatic XML export, the queue side: export jobs are written in the caller's transaction (the one that completes
 * the order), so a committed order always has its job and a rolled-back placement never has one.
 *
 * Table `order_export_jobs` (migration 20261124220000): one row per order (`order_id` unique), status
 * queued → done, or failed after MAX_EXPORT_ATTEMPTS; the worker (auto-export.worker.ts) writes the files.
 */
import type { EntityManager } from '@mikro-orm/postgresql';
import { parseXmlDocument, XmlSyntaxError } from '../shared/xml-read';

export type ExportJobStatus = 'queued' | 'done' | 'failed';
export const EXPORT_JOB_STATUS = { queued: 'queued', done: 'done', failed: 'failed' } as const satisfies Record<ExportJobStatus, ExportJobStatus>;

/** Queues the automatic export of a completed order; queuing it again changes nothing. Call inside the transaction. */
export async function enqueueOrderExport(em: EntityManager, orderId: number): Promise<void> {
  await em.execute(ENQUEUE_ORDER_EXPORT_SQL, [orderId]);
}

/** Queues the export of the order given as its one value; a job already queued stays as it is. */
export const ENQUEUE_ORDER_EXPORT_SQL = 'insert into order_export_jobs (order_id) values (?) on conflict (order_id) do nothing';

/**
 * On demand (staff selected these orders): queues them, or makes an existing job due again — also one that was done
 * or gave up — so the file is written (again) by the worker. Returns how many jobs are now queued.
 */
export async function requeueOrderExports(em: EntityManager, orderIds: readonly number[]): Promise<number> {
  if (!orderIds.length) return 0;
  const ids = [...new Set(orderIds)];
  const rows = await em.execute<{ id: string }[]>(
    `insert into order_export_jobs (order_id) values ${ids.map(() => '(?)').join(', ')}
     on conflict (order_id) do update set status = 'queued', next_attempt_at = now(), last_error = '', updated_at = now()
     returning id`,
    ids,
  );
  return rows.length;
}

/** The file name of an order's export: `<ORDERNUMBER>.xml`, with anything that is not safe in a file name replaced. */
export function exportFileName(orderNumber: string): string {
  const safe = orderNumber.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  if (!safe) throw new Error('an order without a number cannot be exported');
  return `${safe}.xml`;
}

/** Seconds to wait before attempt n+1 after n failed attempts: 10 s, 20 s, 40 s … capped at one hour. */
export function exportBackoffSeconds(attempts: number): number {
  return Math.min(3600, 5 * 2 ** Math.max(1, attempts));
}

/** After this many failed attempts a job is `failed` (the order stays unexported; requeueOrderExports retries it). */
export const MAX_EXPORT_ATTEMPTS = 15;

/** EXPORT_XSL names an XSL stylesheet that every exported order goes through; a missing or invalid one is refused at start. */
export class XslNotUsable extends Error {
  constructor(xslPath: string, reason: string) {
    super(`EXPORT_XSL is set (${xslPath}), but the stylesheet cannot be used: ${reason}. Fix the file or unset EXPORT_XSL to export the plain order XML.`);
    this.name = 'XslNotUsable';
  }
}

/** Loads the XSL stylesheet once; the returned function transforms one export document. */
export function loadXslTransform(xslPath: string): XslTransform {
  let source: string;
  try {
    source = fs.readFileSync(xslPath, 'utf8');
  } catch (e) {
    throw new XslNotUsable(xslPath, (e as Error).message);
  }
  try {
    return compileXsl(source);
  } catch (e) {
    throw new XslNotUsable(xslPath, (e as Error).message);
  }
}

export type XslTransform = (xml: string) => Promise<string>;

/**
 * Compiles a stylesheet, refusing what is not one with the XML parser's own message (line and column): xslt-processor's
 * parser is lenient, so well-formedness is checked first with the app's strict XML reader (saxes).
 */
export function compileXsl(source: string): XslTransform {
  try {
    parseXmlDocument(source);
  } catch (e) {
    if (e instanceof XmlSyntaxError) throw new Error(`it is not well-formed XML: ${e.message}`);
    throw e;
  }
  if (!/<xsl:(stylesheet|transform)\b[\s\S]*<\/xsl:(stylesheet|transform)>\s*$/.test(source)) throw new Error('it is not an XSL stylesheet (the root must be xsl:stylesheet or xsl:transform)');
  const parser = new XmlParser();
  const stylesheet = parser.xmlParse(source);
  return (xml) => new Xslt().xsltProcess(parser.xmlParse(xml), stylesheet);
}

/** A small export document a stylesheet is tried on before it is saved: unsupported instructions show up here. */
const TRIAL_XML = '<?xml version="1.0" encoding="UTF-8"?>\n<orders exportedAt="2026-01-01T00:00:00.000Z" count="1"><order id="ORDER1"><lines count="1"><line position="1"><productNumber>P-1</productNumber><quantity>1</quantity></line></lines><totals currency="DKK"><totalInclVat>10.00</totalInclVat></totals></order></orders>\n';

/** Why an uploaded stylesheet cannot be used (the parser's or processor's message), or null when it can. */
export async function xslProblem(source: string): Promise<string | null> {
  try {
    await compileXsl(source)(TRIAL_XML);
    return null;
  } catch (e) {
    const message = (e as Error).message || String(e);
    return /^it is /.test(message) ? message.replace(/^it is/, 'It is') : `The XSLT processor refused it: ${message}`;
  }
}

/** Checks the export settings before anything boots (server.ts): a configured stylesheet must load. */
export function assertExportSettingsSupported(settings: { exportXslPath?: string }): void {
  if (settings.exportXslPath) loadXslTransform(settings.exportXslPath);
}
