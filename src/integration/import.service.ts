import type { EntityManager } from '@mikro-orm/postgresql';
import { priceOrder, type Totals } from '../pricing/pricing';
import { FlowService } from '../flows/flow.service';
import { STATE_ROLES } from '../flows/flow.entities';
import { ADDRESS_FIELDS } from '../orders/order.entities';
import { nextOrderNumbers } from '../orders/order-numbers';
import { netOfGross } from '../shared/money';
import { readCsvOrders, type ImportItem, type ImportOrder } from './csv-orders';
import { readXmlOrders } from './xml-orders';

export type ImportFormat = 'csv' | 'xml';
export type ImportVia = 'upload' | 'paste' | 'cli';
export interface ImportError { line: number; externalId: string; reason: string }
export interface ImportProgress { runId: number; ordersSeen: number; imported: number; alreadyImported: number; failed: number }
export interface ImportReport extends ImportProgress { status: 'finished' | 'failed'; message: string }
export interface ImportOptions {
  format: ImportFormat;
  /** Channel for rows (CSV) or orders (XML) that name none. */
  channel?: string;
  filename?: string;
  via: ImportVia;
  userId?: number | null;
  batchSize?: number;
  onProgress?: (p: ImportProgress) => void;
  onError?: (e: ImportError) => void;
}
export interface ImportRunView extends ImportProgress { filename: string; format: string; source: string; status: string; message: string; startedAt: Date; finishedAt: Date | null; errors: ImportError[]; errorCount: number }

/** Guess the format from the first characters (XML starts with '<'). */
export function detectFormat(head: string): ImportFormat {
  return /^\uFEFF?\s*</.test(head) ? 'xml' : 'csv';
}

const flows = new FlowService();
const ERRORS_SHOWN = 1000;

interface Context {
  shops: Map<string, { id: string; currencyCode: string; currencyName: string; currencyRate: string; vatBp: number }>;
  defaultShopId: string;
  defaultStateId: number;
  /** "flow\0state" and "\0state" (default flow first) → state id, order flows only. */
  states: Map<string, number>;
  shippingMethods: Map<string, number>;
  paymentMethods: Map<string, number>;
  actor: { userId: number | null; kind: 'staff' | 'system'; source: 'backend' | 'system' };
  seen: Map<string, number>;
}

interface Prepared { o: ImportOrder; shopId: string; stateId: number; totals: Totals; key: string }

/**
 * Imports orders from other channels (the XML order export, or the order CSV) as a stream, in batches of 500.
 *
 * Each order is validated and priced by priceOrder in memory first; a batch is then written with a few set-based
 * statements (orders, lines, history) inside a savepoint. If the database refuses the batch, the batch is retried
 * order by order, each in its own savepoint, so one bad order never takes others with it and no order is ever
 * half-imported. Idempotent by (channel, external id): already imported orders are reported and left alone (the
 * partial unique index orders_imported_channel_external_id backs this up when two imports race).
 *
 * Imported orders take no stock (the goods were sold and shipped elsewhere) and have capture state not_supported.
 */
export class ImportService {
  async importStream(emRoot: EntityManager, source: AsyncIterable<Buffer | string>, opts: ImportOptions): Promise<ImportReport> {
    const em = emRoot.fork();
    const [run] = await em.execute<{ id: string }[]>(
      `insert into import_runs (filename, format, source, user_id) values (?, ?, ?, ?) returning id`,
      [(opts.filename ?? '').slice(0, 200), opts.format, opts.via, opts.userId ?? null],
    );
    const p: ImportProgress = { runId: Number(run.id), ordersSeen: 0, imported: 0, alreadyImported: 0, failed: 0 };
    try {
      const ctx = await this.context(em, opts);
      const items = opts.format === 'xml' ? readXmlOrders(source, { channel: opts.channel }) : readCsvOrders(source, { channel: opts.channel });
      let batch: ImportItem[] = [];
      const size = opts.batchSize ?? 500;
      for await (const item of items) {
        batch.push(item);
        if (batch.filter((i) => i.kind === 'order').length >= size || batch.length >= size * 4) {
          await this.writeBatch(em, ctx, batch, p, opts);
          batch = [];
        }
      }
      if (batch.length) await this.writeBatch(em, ctx, batch, p, opts);
      const message = `${p.imported} imported, ${p.alreadyImported} already imported, ${p.failed} refused.`;
      await em.execute(`update import_runs set status = 'finished', message = ?, finished_at = now() where id = ?`, [message, p.runId]);
      return { ...p, status: 'finished', message };
    } catch (e) {
      const message = `The import stopped: ${(e as Error).message}`;
      await em.execute(`update import_runs set status = 'failed', message = ?, finished_at = now() where id = ?`, [message.slice(0, 2000), p.runId]);
      return { ...p, status: 'failed', message };
    }
  }

  async run(em: EntityManager, runId: number): Promise<ImportRunView | null> {
    const [r] = await em.execute(`select * from import_runs where id = ?`, [runId]);
    if (!r) return null;
    const errors = await em.execute<ImportError[]>(
      `select line, external_id as "externalId", reason from import_run_errors where run_id = ? order by line, id limit ${ERRORS_SHOWN}`, [runId]);
    const [{ n }] = await em.execute<{ n: string }[]>(`select count(*) as n from import_run_errors where run_id = ?`, [runId]);
    return {
      runId: Number(r.id), filename: r.filename, format: r.format, source: r.source, status: r.status, message: r.message,
      ordersSeen: r.orders_seen, imported: r.imported_count, alreadyImported: r.already_imported_count, failed: r.failed_count,
      startedAt: r.started_at, finishedAt: r.finished_at, errors, errorCount: Number(n),
    };
  }

  async recentRuns(em: EntityManager, limit = 20): Promise<Record<string, unknown>[]> {
    return em.execute(`select id, filename, format, source, status, orders_seen, imported_count, already_imported_count, failed_count, started_at
      from import_runs order by started_at desc, id desc limit ${Math.floor(limit)}`);
  }

  private async context(em: EntityManager, opts: ImportOptions): Promise<Context> {
    const shops = await em.execute(`select id, currency_code, currency_name, currency_rate, default_vat_rate_bp from shops order by id`);
    if (!shops.length) throw new Error('no shop is configured');
    // A file names a state by its stable role code (`shipped`, which survives staff renaming it) or by its name; a
    // flow named in the file (by its stable code, else its name) is searched first, then every order flow, the
    // default flow first.
    const states = await em.execute<{ id: number; name: string; role: string | null; flow: string; flow_code: string | null }[]>(
      `select s.id, s.name, s.role, f.name as flow, f.code as flow_code from flow_states s join flows f on f.id = s.flow_id
       where f.type = 'order' and not s.deleted order by f.is_default desc, f.id, s.sort_order, s.id`);
    const stateMap = new Map<string, number>();
    const remember = (key: string, id: number) => { if (!stateMap.has(key)) stateMap.set(key, id); };
    for (const prefix of ['role', 'name'] as const) {
      for (const s of states) {
        const raw = prefix === 'role' ? s.role : s.name;
        if (raw == null) continue;
        const value = stateKey(raw);
        remember(`${s.flow}\u0000${prefix}:${value}`, s.id);
        if (s.flow_code != null) remember(`\u0001${s.flow_code}\u0000${prefix}:${value}`, s.id);
        remember(`\u0000${prefix}:${value}`, s.id);
      }
    }
    const sm = await em.execute<{ id: number; code: string }[]>(`select id, code from shipping_methods`);
    const pm = await em.execute<{ id: number; code: string }[]>(`select id, code from payment_methods`);
    return {
      shops: new Map(shops.map((s) => [s.id, { id: s.id, currencyCode: s.currency_code.trim(), currencyName: s.currency_name, currencyRate: String(s.currency_rate), vatBp: s.default_vat_rate_bp }])),
      defaultShopId: shops[0].id,
      defaultStateId: (await flows.defaultState(em, 'order')).id,
      states: stateMap,
      shippingMethods: new Map(sm.map((m) => [m.code, m.id])),
      paymentMethods: new Map(pm.map((m) => [m.code, m.id])),
      actor: opts.via === 'cli' ? { userId: null, kind: 'system', source: 'system' } : { userId: opts.userId ?? null, kind: 'staff', source: 'backend' },
      seen: new Map(),
    };
  }

  /** Validates and prices one order in memory; a string is the reason it is refused. */
  private prepare(ctx: Context, o: ImportOrder): Prepared | string {
    const key = `${o.channel}\u0000${o.externalId}`;
    const first = ctx.seen.get(key);
    if (first != null) return `order ${o.externalId} of channel ${o.channel} appears again (first at line ${first}); rows of one order must be next to each other`;
    ctx.seen.set(key, o.line);
    const shop = ctx.shops.get(o.shopId ?? '') ?? ctx.shops.get(ctx.defaultShopId)!;
    if (o.currencyCode !== shop.currencyCode) return `currency ${o.currencyCode || '(none)'} is not the shop's currency ${shop.currencyCode}`;
    const stateId = o.stateName ? stateNamedInFile(ctx.states, o.stateFlowCode, o.stateFlow, o.stateName) : undefined;
    // A state the shop does not know is refused, not imported as new: a shipped marketplace order must never look new.
    if (o.stateName && stateId == null) return `state “${o.stateName}” is no state of the shop's order flows (give a role code — ${STATE_ROLES.order.join(', ')} — or a state's name)`;
    const net = (minor: number) => (o.fees.inclVat ? netOfGross(minor, shop.vatBp) : minor);
    const totals = priceOrder({
      lines: o.lines,
      shipping: { feeMinor: net(o.fees.shippingMinor) },
      paymentFeeMinor: net(o.fees.paymentMinor),
      feeVatRateBp: shop.vatBp,
      voucher: o.discountInclVatMinor > 0 ? { kind: 'amount', value: o.discountInclVatMinor } : null,
    });
    if (o.expectedTotalMinor != null && o.expectedTotalMinor !== totals.totalMinor) {
      return `the total in the file (${o.expectedTotalMinor}) differs from the total computed from its lines and fees (${totals.totalMinor})`;
    }
    return { o, shopId: shop.id, stateId: stateId ?? ctx.defaultStateId, totals, key };
  }

  private async writeBatch(emRoot: EntityManager, ctx: Context, items: ImportItem[], p: ImportProgress, opts: ImportOptions): Promise<void> {
    const errors: ImportError[] = [];
    const prepared: Prepared[] = [];
    let alreadyImported = 0;
    const failedOrders = new Set<string>();
    for (const item of items) {
      if (item.kind === 'error') {
        errors.push({ line: item.line, externalId: item.externalId, reason: item.reason });
        failedOrders.add(`${item.externalId}\u0000${item.line}`);
        continue;
      }
      const r = this.prepare(ctx, item.order);
      if (typeof r === 'string') { errors.push({ line: item.order.line, externalId: item.order.externalId, reason: r }); failedOrders.add(`${item.order.externalId}\u0000${item.order.line}`); } else prepared.push(r);
    }
    // CSV reports every bad row of an order; the order counts once.
    const failedCount = new Set([...failedOrders].map((k) => k.split('\u0000')[0] || k)).size;
    let imported = 0;
    let refused = 0;
    await emRoot.transactional(async (em) => {
      const existing = prepared.length ? await em.execute<{ channel: string; ext: string }[]>(
        `select o.channel, o.integration_order_id as ext from orders o
         join jsonb_to_recordset(?::jsonb) as x(channel text, ext text) on o.channel = x.channel and o.integration_order_id = x.ext where o.imported`,
        [JSON.stringify(prepared.map((q) => ({ channel: q.o.channel, ext: q.o.externalId })))]) : [];
      const done = new Set(existing.map((e) => `${e.channel}\u0000${e.ext}`));
      const todo = prepared.filter((q) => !done.has(q.key));
      alreadyImported = prepared.length - todo.length;
      if (todo.length) {
        try {
          await em.execute('savepoint import_batch');
          await this.insertOrders(em, ctx, todo);
          await em.execute('release savepoint import_batch');
          imported = todo.length;
        } catch {
          await em.execute('rollback to savepoint import_batch');
          for (const q of todo) {
            try {
              await em.execute('savepoint import_order');
              await this.insertOrders(em, ctx, [q]);
              await em.execute('release savepoint import_order');
              imported++;
            } catch (e) {
              await em.execute('rollback to savepoint import_order');
              const msg = (e as Error).message;
              if (/orders_imported_channel_external_id/.test(msg)) { alreadyImported++; continue; }
              refused++;
              errors.push({ line: q.o.line, externalId: q.o.externalId, reason: `the database refused the order: ${msg.split(' - ').pop()}` });
            }
          }
        }
      }
      const failed = failedCount + refused;
      if (errors.length) {
        await em.execute(`insert into import_run_errors (run_id, line, external_id, reason)
          select ?, x.line, x.ext, x.reason from jsonb_to_recordset(?::jsonb) as x(line int, ext text, reason text)`,
        [p.runId, JSON.stringify(errors.map((e) => ({ line: e.line, ext: e.externalId.slice(0, 200), reason: e.reason.slice(0, 1000) })))]);
      }
      const seen = prepared.length + failedCount;
      await em.execute(`update import_runs set orders_seen = orders_seen + ?, imported_count = imported_count + ?, already_imported_count = already_imported_count + ?,
        failed_count = failed_count + ? where id = ?`, [seen, imported, alreadyImported, failed, p.runId]);
      p.ordersSeen += seen;
      p.imported += imported;
      p.alreadyImported += alreadyImported;
      p.failed += failed;
    });
    for (const e of errors) opts.onError?.(e);
    opts.onProgress?.({ ...p });
  }

  /** Writes orders with their lines and an "imported" history entry: one statement each, numbers from the shop's numbering. */
  private async insertOrders(em: EntityManager, ctx: Context, orders: Prepared[]): Promise<void> {
    const numbers = new Map<Prepared, string>();
    for (const shopId of new Set(orders.map((q) => q.shopId))) {
      const mine = orders.filter((q) => q.shopId === shopId);
      const taken = await nextOrderNumbers(em, shopId, mine.length);
      mine.forEach((q, i) => numbers.set(q, taken[i]));
    }
    const productNumbers = [...new Set(orders.flatMap((q) => q.o.lines.map((l) => l.productNumber)))];
    const products = await em.execute<{ id: number; number: string; unit: string }[]>(
      `select p.id, p.number, p.unit from products p join jsonb_array_elements_text(?::jsonb) as x(n) on p.number = x.n`, [JSON.stringify(productNumbers)]);
    const productBy = new Map(products.map((r) => [r.number, r]));
    const emails = [...new Set(orders.map((q) => q.o.userEmail?.toLowerCase()).filter((x): x is string => !!x))];
    const users = emails.length ? await em.execute<{ id: number; e: string }[]>(
      `select u.id, lower(u.email) as e from users u join jsonb_array_elements_text(?::jsonb) as x(e) on lower(u.email) = x.e`, [JSON.stringify(emails)]) : [];
    const userBy = new Map(users.map((u) => [u.e, u.id]));
    const custNos = [...new Set(orders.map((q) => q.o.customerNumber).filter((x): x is string => !!x))];
    const companies = custNos.length ? await em.execute<{ id: number; customer_number: string }[]>(
      `select id, customer_number from companies where customer_number in (select jsonb_array_elements_text(?::jsonb))`, [JSON.stringify(custNos)]) : [];
    const companyBy = new Map(companies.map((c) => [c.customer_number, c.id]));

    const now = new Date().toISOString();
    const rows = orders.map((q) => {
      const { o, totals: t } = q;
      const shop = ctx.shops.get(q.shopId)!;
      const r: Record<string, unknown> = {
        number: numbers.get(q), shop_id: q.shopId, type: 'order', state_id: q.stateId, completed: true, completed_at: o.completedAt.toISOString(),
        checkout_step: 'confirmation', user_id: o.userEmail ? userBy.get(o.userEmail.toLowerCase()) ?? null : null,
        company_id: o.customerNumber ? companyBy.get(o.customerNumber) ?? null : null,
        delivery_same_as_billing: o.delivery == null,
        shipping_method_id: o.shippingMethodCode ? ctx.shippingMethods.get(o.shippingMethodCode) ?? null : null,
        payment_method_id: o.paymentMethodCode ? ctx.paymentMethods.get(o.paymentMethodCode) ?? null : null,
        voucher_code: o.voucherCode, customer_comment: o.customerComment,
        currency_code: shop.currencyCode, currency_name: shop.currencyName, currency_rate: shop.currencyRate,
        shipping_fee_minor: t.shippingFeeMinor, payment_fee_minor: t.paymentFeeMinor, discount_minor: t.discountExclVatMinor,
        subtotal_minor: t.subtotalMinor, total_excl_vat_minor: t.totalExclVatMinor, vat_minor: t.vatMinor, total_minor: t.totalMinor, totals: t,
        imported: true, integration_order_id: o.externalId, channel: o.channel, capture_state: 'not_supported', transaction_number: o.transactionNumber,
        price_calculation_date: o.createdAt.toISOString(), created_at: o.createdAt.toISOString(), updated_at: now,
      };
      for (const f of ADDRESS_FIELDS) { r[`billing_${f}`] = o.billing[f]; r[`delivery_${f}`] = o.delivery ? o.delivery[f] : ''; }
      return r;
    });
    const cols = Object.keys(rows[0]);
    const inserted = await em.execute<{ id: string; number: string }[]>(
      `insert into orders (${cols.join(', ')}) select ${cols.join(', ')} from jsonb_populate_recordset(null::orders, ?::jsonb) returning id, number`,
      [JSON.stringify(rows)]);
    const idOf = new Map(inserted.map((r) => [r.number, Number(r.id)]));
    const lines = orders.flatMap((q) => {
      const used = new Set<number>();
      return q.o.lines.map((l) => {
        const p = productBy.get(l.productNumber);
        const productId = p && !used.has(p.id) ? p.id : null;
        if (productId) used.add(productId);
        return {
          order_id: idOf.get(numbers.get(q)!), product_id: productId, product_number: l.productNumber, product_name: l.productName,
          unit: l.unit ?? p?.unit ?? 'pcs', quantity: l.quantity, unit_price_minor: l.unitPriceMinor, vat_rate_bp: l.vatRateBp, discount_minor: l.discountMinor,
          created_at: q.o.createdAt.toISOString(),
        };
      });
    });
    const lineCols = Object.keys(lines[0]);
    await em.execute(`insert into order_lines (${lineCols.join(', ')}) select ${lineCols.join(', ')} from jsonb_populate_recordset(null::order_lines, ?::jsonb) order by order_id`,
      [JSON.stringify(lines)]);
    const history = orders.map((q) => ({
      order_id: idOf.get(numbers.get(q)!), to_state_id: q.stateId, event: 'imported',
      message: `Imported from ${q.o.channel} (external id ${q.o.externalId}, line ${q.o.line} of the file).`,
      actor_user_id: ctx.actor.userId, actor_kind: ctx.actor.kind, source: ctx.actor.source, created_at: now,
    }));
    const hCols = Object.keys(history[0]);
    await em.execute(`insert into order_state_history (${hCols.join(', ')}) select ${hCols.join(', ')} from jsonb_populate_recordset(null::order_state_history, ?::jsonb)`,
      [JSON.stringify(history)]);
  }
}

/**
 * The state a file's `state_name` means: by role code before name, in the file's flow (found by its code, then its
 * name) before any order flow.
 */
function stateNamedInFile(states: Map<string, number>, flowCode: string | undefined, flow: string | undefined, named: string): number | undefined {
  const text = stateKey(named);
  const inFlow = (key: string | undefined) => (key == null ? [] : [`${key}\u0000role:${text}`, `${key}\u0000name:${text}`]);
  return [...inFlow(flowCode && `\u0001${flowCode}`), ...inFlow(flow), `\u0000role:${text}`, `\u0000name:${text}`].map((k) => states.get(k)).find((id) => id != null);
}

/** A role code or state name as files write it: "Shipped", "SHIPPED" and " shipped " are the same state. */
function stateKey(text: string): string {
  return text.trim().toLowerCase();
}
