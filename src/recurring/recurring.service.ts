import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import { ownedOrRefuse } from '../accounts/access-policy';
import { placeInTransaction } from '../checkout/place-order';
import { createViewEnv } from '../http/views';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { SessionUser } from '../accounts/account.service';
import { Product, Shop } from '../catalog/catalog.entities';
import { FlowService } from '../flows/flow.service';
import { OutboxService } from '../mail/outbox.service';
import { Address, Order, OrderLine } from '../orders/order.entities';
import { nextOrderNumber, recordHistory, reprice, type Actor } from '../orders/order-lifecycle';
import { PaymentMethod } from '../payments/payment.entities';
import { PaymentProviders } from '../payments/payment-providers';
import { DomainError, invalid, notFound } from '../shared/errors';
import { ShippingMethod } from '../shipping/shipping-method.entity';
import { log } from '../shared/log';
import type { DrainJob } from '../jobs/job-queue';
import { RecurringRun, RecurringSeries, type IntervalUnit, type SeriesStatus } from './recurring.entities';
import { emSql } from '../db/sql';
import { pricesOn } from '../catalog/prices';
import { formatDecimal } from '../shared/money';
import {
  addDaysIso, describeSchedule, dueAt, isoDay, occurrenceDate, occurrenceExists, retryDelayMs, type Schedule, scheduleOf, type ScheduleInput,
} from './schedule';

export type SeriesActor = { kind: 'staff'; userId: number } | { kind: 'customer'; user: SessionUser };

export interface RunDueResult {
  /** Order numbers created in this round. */
  created: string[];
  /** Occurrences that failed and will be retried. */
  failed: { seriesId: number; occurrence: number; error: string }[];
  /** Occurrences that were not created (missed while the scheduler was not running, or superseded while failing). */
  skipped: number;
}

export interface SeriesRow {
  id: number;
  status: SeriesStatus;
  template_number: string;
  customer: string;
  company_name: string | null;
  interval_unit: IntervalUnit;
  interval_count: number;
  start_date: string;
  end_date: string | null;
  max_occurrences: number | null;
  next_due_at: Date | null;
  retry_at: Date | null;
  last_error: string;
  orders_created: number;
  payment_provider: string | null;
}

export const MAX_START_DAYS_AHEAD = 366;
export const MAX_SERIES_YEARS = 10;
const SYSTEM: Actor = { userId: null, kind: 'system', source: 'system' };
const MAX_SERIES_PER_ROUND = 500;

/**
 * Recurring order series and the scheduler that creates their orders exactly once.
 *
 * Each new order copies the template order's lines at TODAY's catalog prices (like "Order again"; products no
 * longer sold are left out and noted in the order's history), the same customer, addresses, shipping and payment
 * methods, in the default state of the default order flow, completed. Vouchers and staff discounts of the template
 * are not repeated. Payment is never re-authorized: a method without a card (invoice) is authorized like at
 * checkout (capture state 'not_supported'); a card template gives payment status 'none' and a history entry saying
 * that payment must be collected. Stock is taken with the same conditional update as checkout.
 */
export class RecurringService {
  private readonly flows = new FlowService();
  private readonly providers: PaymentProviders;

  constructor(private readonly orm: MikroORM, private readonly outbox?: OutboxService, providers?: PaymentProviders) {
    this.providers = providers ?? new PaymentProviders(orm);
  }

  private get em() {
    return this.orm.em;
  }

  // ——— creating a series ———

  /** The placed order a customer may repeat: one they placed themselves. */
  async templateForCustomer(user: SessionUser, orderNumber: string, em: EntityManager = this.em): Promise<Order> {
    const order = await em.findOne(Order, { number: orderNumber, type: 'order', completed: true, deleted: false }, { populate: ['lines', 'paymentMethod', 'shippingMethod'] });
    return ownedOrRefuse(user, order, 'The order', `Only the colleague who placed ${orderNumber} can make it a recurring order.`);
  }

  /** Any placed order, for staff. */
  async templateForStaff(orderNumber: string, em: EntityManager = this.em): Promise<Order> {
    const order = await em.findOne(Order, { number: orderNumber, type: 'order', deleted: false }, { populate: ['lines', 'paymentMethod', 'shippingMethod', 'user', 'company'] });
    if (!order) throw notFound('The order');
    if (!order.completed) throw new DomainError('CONFLICT', `${order.number} has not been placed, so it cannot be repeated.`);
    return order;
  }

  async createForCustomer(user: SessionUser, orderNumber: string, input: ScheduleInput, now = new Date()): Promise<RecurringSeries> {
    return this.em.transactional(async (em) => {
      const template = await this.templateForCustomer(user, orderNumber, em);
      return this.createSeries(em, template, input, { kind: 'customer', user }, now);
    });
  }

  async createForStaff(staffUserId: number, orderNumber: string, input: ScheduleInput, now = new Date()): Promise<RecurringSeries> {
    return this.em.transactional(async (em) => {
      const template = await this.templateForStaff(orderNumber, em);
      return this.createSeries(em, template, input, { kind: 'staff', userId: staffUserId }, now);
    });
  }

  private async createSeries(em: EntityManager, template: Order, input: ScheduleInput, actor: SeriesActor, now: Date): Promise<RecurringSeries> {
    const schedule = this.assertValidSchedule(input, now);
    if (!template.paymentMethod || !template.shippingMethod) throw new DomainError('CONFLICT', `${template.number} has no shipping or payment method to repeat.`);
    if (template.lines.length === 0) throw new DomainError('CONFLICT', `${template.number} has no products to repeat.`);
    const series = em.create(RecurringSeries, {
      templateOrder: template, shop: template.shop, user: template.user ?? null, company: template.company ?? null,
      intervalUnit: schedule.intervalUnit, intervalCount: schedule.intervalCount, startDate: schedule.startDate,
      endDate: schedule.endDate ?? null, maxOccurrences: schedule.maxOccurrences ?? null,
      status: 'active', nextOccurrence: 0, nextDueAt: dueAt(schedule, 0),
      createdBy: actor.kind === 'staff' ? actor.userId : actor.user.id, createdByKind: actor.kind,
      createdAt: now, updatedAt: now,
    });
    try {
      await em.flush();
    } catch (e) {
      if (!(e instanceof UniqueConstraintViolationException)) throw e;
      throw new DomainError('CONFLICT', `${template.number} already repeats in a recurring series. Pause or cancel that series first, or change it there.`);
    }
    const who = actor.kind === 'staff' ? 'Staff' : 'The customer';
    await recordHistory(em, template, actorOf(actor), 'recurring_series_created',
      `${who} made this order recurring (series #${series.id}): ${describeSchedule(schedule)}.`);
    return series;
  }

  /** Formats were checked by the route; here what depends on today: the start is today or later, the end after it. */
  private assertValidSchedule(input: ScheduleInput, now: Date): Schedule {
    const today = isoDay(now);
    const fields: Record<string, string> = {};
    if (input.startDate < today) fields.startDate = 'must be today or later';
    else if (input.startDate > addDaysIso(today, MAX_START_DAYS_AHEAD)) fields.startDate = `must be within ${MAX_START_DAYS_AHEAD} days from today`;
    const schedule: Schedule = { intervalUnit: input.intervalUnit, intervalCount: input.intervalCount, startDate: input.startDate };
    if (input.ends === 'date') {
      if (!input.endDate) fields.endDate = 'is required when the series ends on a date';
      else if (input.endDate < input.startDate) fields.endDate = 'must be on or after the start date';
      else if (input.endDate > addDaysIso(input.startDate, MAX_SERIES_YEARS * 366)) fields.endDate = `must be within ${MAX_SERIES_YEARS} years of the start date`;
      schedule.endDate = input.endDate;
    } else if (input.ends === 'count') {
      if (!input.occurrences) fields.occurrences = 'is required when the series ends after a number of orders';
      schedule.maxOccurrences = input.occurrences;
    }
    const first = Object.entries(fields)[0];
    if (first) throw invalid(`Please check the ${first[0] === 'startDate' ? 'start date' : first[0] === 'endDate' ? 'end date' : 'number of orders'}: it ${first[1]}.`, fields);
    return schedule;
  }

  // ——— viewing ———

  async listForStaff(status?: SeriesStatus): Promise<SeriesRow[]> {
    return this.rows(status ? 's.status = ?' : 'true', status ? [status] : []);
  }

  async listForCustomer(user: SessionUser): Promise<SeriesRow[]> {
    return this.rows('s.user_id = ?', [user.id]);
  }

  private rows(where: string, params: unknown[]): Promise<SeriesRow[]> {
    return this.em.execute<SeriesRow[]>(
      `select s.id, s.status, o.number as template_number,
              coalesce(nullif(o.billing_name, ''), u.name, 'Guest') as customer, c.name as company_name,
              s.interval_unit, s.interval_count, to_char(s.start_date, 'YYYY-MM-DD') as start_date,
              to_char(s.end_date, 'YYYY-MM-DD') as end_date, s.max_occurrences, s.next_due_at, s.retry_at, s.last_error,
              s.orders_created, pm.provider as payment_provider
       from recurring_series s
       join orders o on o.id = s.template_order_id
       left join users u on u.id = s.user_id
       left join companies c on c.id = s.company_id
       left join payment_methods pm on pm.id = o.payment_method_id
       where ${where}
       order by (s.status in ('active', 'paused')) desc, s.next_due_at nulls last, s.id desc
       limit 500`,
      params,
    );
  }

  /** A series with its template, its log of runs (newest first) and the orders it created. */
  async details(id: number, user?: SessionUser) {
    const series = await this.em.findOne(RecurringSeries, user ? { id, user: user.id } : { id }, {
      populate: ['templateOrder.lines', 'templateOrder.paymentMethod', 'templateOrder.shippingMethod', 'user', 'company', 'createdBy'],
    });
    if (!series) throw notFound('The recurring order');
    const runs = await this.em.find(RecurringRun, { series: series.id }, { orderBy: { occurrence: 'desc', id: 'desc' }, populate: ['order'], limit: 200 });
    const schedule = scheduleOf(series);
    const upcoming: string[] = [];
    if (series.status === 'active' || series.status === 'paused') {
      for (let k = series.nextOccurrence; upcoming.length < 5 && occurrenceExists(schedule, k); k++) upcoming.push(occurrenceDate(schedule, k));
    }
    return { series, template: series.templateOrder, runs, schedule: describeSchedule(schedule), upcoming };
  }

  // ——— pause, resume, cancel ———

  async pause(id: number, actor: SeriesActor): Promise<RecurringSeries> {
    return this.change(id, actor, async (em, series) => {
      if (series.status === 'paused') throw new DomainError('CONFLICT', `Recurring order #${series.id} is already paused.`);
      assertOpen(series);
      series.status = 'paused';
      series.retryAt = null;
      return 'paused';
    });
  }

  /**
   * Occurrences that fell due while paused are not created afterwards: the series carries on with the first
   * occurrence due today or later (today's, if it was not created yet).
   */
  async resume(id: number, actor: SeriesActor, now = new Date()): Promise<RecurringSeries> {
    return this.change(id, actor, async (em, series) => {
      if (series.status === 'active') throw new DomainError('CONFLICT', `Recurring order #${series.id} is already active.`);
      assertOpen(series);
      const schedule = scheduleOf(series);
      const today = isoDay(now);
      let k = series.nextOccurrence;
      while (occurrenceExists(schedule, k) && occurrenceDate(schedule, k) < today) k++;
      if (k !== series.nextOccurrence) {
        // A failed occurrence that was waiting for a retry is no longer retried.
        await em.execute(
          `update recurring_runs set status = 'skipped', next_attempt_at = null, updated_at = now(),
             last_error = last_error || case when last_error = '' then '' else ' ' end || 'Not retried: the series was paused.'
           where series_id = ? and status = 'failed'`,
          [series.id],
        );
      }
      series.attempts = 0;
      series.retryAt = null;
      series.lastError = '';
      if (!occurrenceExists(schedule, k)) {
        series.status = 'finished';
        series.nextOccurrence = k;
        series.nextDueAt = null;
        return 'resumed; it has no occurrences left, so it is finished';
      }
      series.status = 'active';
      series.nextOccurrence = k;
      series.nextDueAt = dueAt(schedule, k);
      return `resumed; the next order is due ${occurrenceDate(schedule, k)}`;
    });
  }

  async cancel(id: number, actor: SeriesActor): Promise<RecurringSeries> {
    return this.change(id, actor, async (em, series) => {
      assertOpen(series);
      series.status = 'cancelled';
      series.nextDueAt = null;
      series.retryAt = null;
      await em.execute(`update recurring_runs set next_attempt_at = null, updated_at = now() where series_id = ? and status = 'failed'`, [series.id]);
      return 'cancelled';
    });
  }

  /** Staff: try a failing occurrence again at the next scheduler round instead of waiting for the backoff. */
  async retryNow(id: number, staffUserId: number): Promise<RecurringSeries> {
    return this.change(id, { kind: 'staff', userId: staffUserId }, async (_em, series) => {
      if (series.status !== 'active') throw new DomainError('CONFLICT', `Recurring order #${series.id} is ${series.status}; only an active series is retried.`);
      if (!series.retryAt) throw new DomainError('CONFLICT', `Recurring order #${series.id} has no failed order waiting for a retry.`);
      series.retryAt = null;
      return 'will be retried at the next scheduler round';
    });
  }

  private async change(id: number, actor: SeriesActor, fn: (em: EntityManager, series: RecurringSeries) => Promise<string>): Promise<RecurringSeries> {
    return this.em.transactional(async (em) => {
      // Locked, so the scheduler never creates an order for a series that is being paused or cancelled meanwhile.
      const where = actor.kind === 'customer' ? { id, user: actor.user.id } : { id };
      const series = await em.findOne(RecurringSeries, where, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!series) throw notFound('The recurring order');
      const what = await fn(em, series);
      series.updatedAt = new Date();
      const template = await em.findOneOrFail(Order, series.templateOrder.id);
      const who = actor.kind === 'staff' ? 'Staff' : 'The customer';
      await recordHistory(em, template, actorOf(actor), 'recurring_series_changed', `${who}: recurring series #${series.id} ${what}.`);
      return series;
    });
  }

  // ——— the scheduler ———

  /**
   * Creates every order that is due at `now`, each exactly once: a due series is taken with
   * FOR UPDATE SKIP LOCKED (another process skips it and takes the next), and the run row of an occurrence is
   * unique per (series, due time), so even a second attempt could not create a second order.
   */
  async runDue(now: Date = new Date()): Promise<RunDueResult> {
    const result: RunDueResult = { created: [], failed: [], skipped: 0 };
    for (let i = 0; i < MAX_SERIES_PER_ROUND; i++) {
      let picked = false;
      try {
        picked = await this.orm.em.fork().transactional(async (em) => {
          const [row] = await em.execute<{ id: string }[]>(
            `select id from recurring_series
             where status = 'active' and next_due_at <= ? and (retry_at is null or retry_at <= ?)
             order by next_due_at, id limit 1 for update skip locked`,
            [now, now],
          );
          if (!row) return false;
          const series = await em.findOneOrFail(RecurringSeries, Number(row.id), { refresh: true });
          await this.runSeries(em, series, now, result);
          return true;
        });
      } catch (e) {
        // Bookkeeping itself failed (e.g. the database went away): stop this round, the next one tries again.
        log.error({ err: e }, '[recurring] scheduler round failed');
        break;
      }
      if (!picked) break;
    }
    return result;
  }

  /** The scheduler as a job (src/jobs/job-queue.ts): each tick runs runDue once. */
  schedulerJob(everyMs: number): DrainJob {
    // runDue works through everything that is due, so a tick is one call (batch size 0).
    return {
      name: 'recurring', everyMs, batchSize: 0,
      drain: async () => {
        const r = await this.runDue(new Date());
        if (r.created.length || r.failed.length) {
          log.info(`[recurring] created ${r.created.length} order(s)${r.created.length ? ' ' + r.created.join(', ') : ''}; ${r.failed.length} failed, will be retried`);
        }
        return r.created.length;
      },
    };
  }

  /** Works on one due series; the caller holds its row lock. */
  private async runSeries(em: EntityManager, series: RecurringSeries, now: Date, result: RunDueResult): Promise<void> {
    const schedule = scheduleOf(series);
    const first = series.nextOccurrence;
    let k = first;
    // Only the latest due occurrence is created: one order per period, never a burst of late ones.
    while (occurrenceExists(schedule, k + 1) && dueAt(schedule, k + 1) <= now) k++;
    for (let j = first; j < k; j++) {
      const reason = j === first && series.attempts > 0
        ? `Not created: ${series.lastError} Not retried any more, because the next order is due.`
        : 'Not created: it fell due while the scheduler was not running; only the latest due order is created.';
      await this.saveRun(em, series.id, j, dueAt(schedule, j), 'skipped', null, j === first ? series.attempts : 0, reason, null, now);
      result.skipped++;
    }
    if (k !== first) series.attempts = 0;

    const due = dueAt(schedule, k);
    try {
      const order = await em.transactional((tx) => this.createOrder(tx, series, k, due, now));
      result.created.push(order.number);
      series.ordersCreated += 1;
      series.attempts = 0;
      series.retryAt = null;
      series.lastError = '';
      this.advance(series, schedule, k + 1);
    } catch (e) {
      if (e instanceof AlreadyCreated) {
        this.advance(series, schedule, k + 1);
        return;
      }
      const message = e instanceof DomainError ? e.message : 'The order could not be created because of an unexpected error (see the server log).';
      if (!(e instanceof DomainError)) log.error({ err: e }, `[recurring] series ${series.id} occurrence ${k} failed`);
      const attempts = series.attempts + 1;
      let retryAt = new Date(now.getTime() + retryDelayMs(attempts));
      // Never wait past the next occurrence: when it is due, it replaces this one.
      if (occurrenceExists(schedule, k + 1)) retryAt = new Date(Math.min(retryAt.getTime(), dueAt(schedule, k + 1).getTime()));
      await this.saveRun(em, series.id, k, due, 'failed', null, attempts, message, retryAt, now);
      Object.assign(series, { nextOccurrence: k, nextDueAt: due, attempts, retryAt, lastError: message.slice(0, 1000), updatedAt: now });
      result.failed.push({ seriesId: series.id, occurrence: k, error: message });
    }
  }

  private advance(series: RecurringSeries, schedule: Schedule, k: number): void {
    series.nextOccurrence = k;
    series.updatedAt = new Date();
    if (occurrenceExists(schedule, k)) {
      series.nextDueAt = dueAt(schedule, k);
    } else {
      series.nextDueAt = null;
      series.status = 'finished';
    }
  }

  private async saveRun(em: EntityManager, seriesId: number, occurrence: number, due: Date, status: 'failed' | 'skipped', orderId: null,
    attempts: number, error: string, nextAttemptAt: Date | null, now: Date): Promise<void> {
    await em.execute(
      `insert into recurring_runs (series_id, occurrence, due_at, status, order_id, attempts, last_error, next_attempt_at, created_at, updated_at)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       on conflict (series_id, due_at) do update set status = excluded.status, attempts = excluded.attempts,
         last_error = excluded.last_error, next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at
       where recurring_runs.status <> 'created'`,
      [seriesId, occurrence, due, status, orderId, attempts, error.slice(0, 1000), nextAttemptAt, now, now],
    );
  }

  /**
   * Creates occurrence k's order inside a savepoint: anything that fails (stock, a method no longer offered)
   * rolls back the order, the stock taken and the order number, and is logged on the run instead.
   */
  private async createOrder(em: EntityManager, series: RecurringSeries, k: number, due: Date, now: Date): Promise<Order> {
    const template = await em.findOne(Order, { id: series.templateOrder.id }, { populate: ['lines'] });
    if (!template || template.deleted) throw new DomainError('CONFLICT', 'The template order was deleted, so there is nothing to repeat.');
    const shop = await em.findOneOrFail(Shop, template.shop.id);
    const shipping = template.shippingMethod ? await em.findOne(ShippingMethod, template.shippingMethod.id) : null;
    const payment = template.paymentMethod ? await em.findOne(PaymentMethod, template.paymentMethod.id) : null;
    if (!shipping?.active) throw new DomainError('CONFLICT', `The shipping method ${shipping ? `“${shipping.name}” ` : ''}of ${template.number} is no longer offered.`);
    if (!payment?.active) throw new DomainError('CONFLICT', `The payment method ${payment ? `“${payment.name}” ` : ''}of ${template.number} is no longer offered.`);

    const templateLines = template.lines.getItems();
    const ids = templateLines.map((l) => l.product?.id).filter((id): id is number => id != null);
    const products = new Map((ids.length ? await em.find(Product, { id: { $in: ids } }) : []).map((p) => [p.id, p]));
    const prices = await pricesOn(emSql(em), ids, null);
    const sellable = templateLines.filter((l) => l.product && products.get(l.product.id)?.active);
    const left = templateLines.filter((l) => !sellable.includes(l));
    if (sellable.length === 0) throw new DomainError('CONFLICT', `None of the products of ${template.number} are sold any more.`);

    const order = em.create(Order, {
      number: '', shop, type: 'order', basketStatus: null, user: template.user ?? null, company: template.company ?? null,
      currencyCode: shop.currencyCode, currencyName: shop.currencyName, currencyRate: shop.currencyRate,
      shippingMethod: shipping, paymentMethod: payment, customFields: { ...(template.customFields ?? {}) },
      checkoutStep: 'placing', recurringSeriesId: series.id, createdAt: now, updatedAt: now, version: 1,
      staffComment: `Recurring order from ${template.number} (series #${series.id}).`,
    });
    order.billing = Address.of(template.billing);
    order.delivery = Address.of(template.delivery);
    order.deliverySameAsBilling = template.deliverySameAsBilling;
    for (const l of sellable) {
      const p = products.get(l.product!.id)!;
      order.lines.add(em.create(OrderLine, {
        order, product: p, productNumber: p.number, productName: p.name, unit: p.unit, quantity: l.quantity,
        unitPriceMinor: prices.get(p.id) ?? p.priceMinor, vatRateBp: p.vatRateBp, createdAt: now,
      }));
    }
    await reprice(em, order);

    const provider = this.providers.direct(payment.provider);
    const state = await this.flows.defaultState(em, 'order');
    // Last but the placing, so the shop's numbering row stays locked only until the commit that follows.
    order.number = await nextOrderNumber(em, shop.id);
    await em.flush();
    const notes = [`Recurring order ${k + 1} of series #${series.id} (from ${template.number}), due ${isoDay(due)}.`];
    if (left.length) notes.push(`Left out, no longer sold: ${left.map((l) => `${l.productName} (${l.productNumber})`).join(', ')}.`);
    await this.flows.move(em, order, state, { actor: SYSTEM, check: 'enter', event: 'recurring', message: notes.join(' ') });
    // Placed by the one placement writer: stock, the invoice's authorization, status fields, "placed" history, receipt, export job.
    // (The provider is still asked inside this transaction: only direct providers without a card, e.g. invoice.)
    const totalMinor = await placeInTransaction(em, this.outbox ?? new OutboxService(createViewEnv()), order.id, {
      actor: { userId: null, kind: 'system', source: 'system' }, allowOutOfStock: shop.allowOutOfStockOrders, placedAt: now,
      refusal: (line) => `Not enough stock: ${line.quantity} × ${line.productName} is not in stock.`,
      pay: async (placing) => {
        if (!provider || provider.needsCard) return { auth: null, captureState: 'not_captured', paymentName: payment.name, message: 'no payment authorized' };
        const auth = await provider.authorize({ attemptKey: `recurring-${placing.number}`, orderNumber: placing.number, amountMinor: placing.totalMinor, currencyCode: placing.currencyCode });
        if (!auth.success) throw new DomainError('PAYMENT_DECLINED', `${payment.name} refused the order: ${auth.message}`);
        return { auth: { reference: auth.reference, message: auth.message, cardType: auth.cardType ?? '', cardLast4: auth.cardLast4 ?? '', initialCaptureState: provider.initialCaptureState }, paymentName: payment.name };
      },
    });
    await em.refresh(order);

    // The run row claims the occurrence: a second order for it cannot be committed.
    const claimed = await em.execute<{ id: string }[]>(
      `insert into recurring_runs (series_id, occurrence, due_at, status, order_id, attempts, last_error, next_attempt_at, created_at, updated_at)
       values (?, ?, ?, 'created', ?, ?, '', null, ?, ?)
       on conflict (series_id, due_at) do update set status = 'created', order_id = excluded.order_id, attempts = excluded.attempts,
         last_error = '', next_attempt_at = null, updated_at = excluded.updated_at
       where recurring_runs.status <> 'created'
       returning id`,
      [series.id, k, due, order.id, series.attempts + 1, now, now],
    );
    if (!claimed.length) throw new AlreadyCreated();

    if (order.paymentStatus !== 'authorized') {
      await recordHistory(em, order, SYSTEM, 'payment_required',
        `No card payment was authorized: recurring orders never charge a card again. Collect ${formatAmount(totalMinor, order.currencyCode)} from the customer (for example by invoice) before shipping.`);
    }
    return order;
  }
}

class AlreadyCreated extends Error {}

function assertOpen(series: RecurringSeries): void {
  if (series.status === 'cancelled' || series.status === 'finished') {
    throw new DomainError('CONFLICT', `Recurring order #${series.id} is ${series.status} and cannot be changed any more.`);
  }
}

function actorOf(actor: SeriesActor): Actor {
  return actor.kind === 'staff'
    ? { userId: actor.userId, kind: 'staff', source: 'backend' }
    : { userId: actor.user.id, kind: 'customer', source: 'frontend' };
}

function formatAmount(minor: number, currency: string): string {
  return `${formatDecimal(minor)} ${currency}`;
}

