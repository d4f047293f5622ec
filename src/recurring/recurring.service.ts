import type { PlacementSettings } from '../checkout/checkout.service';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import { ownedOrRefuse } from '../accounts/access-policy';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { SessionUser } from '../accounts/account.service';
import { OutboxService } from '../mail/outbox.service';
import { Order } from '../orders/order.entities';
import { recordHistory, type Actor } from '../orders/order-lifecycle';
import { PaymentProviders } from '../payments/payment-providers';
import { DomainError, invalid, notFound } from '../shared/errors';
import { log } from '../shared/log';
import { formatMoney } from '../shared/money';
import type { Confirmation } from '../shared/confirmation';
import { spendLimitOf } from '../accounts/spend-limit';
import type { DrainJob } from '../jobs/job-queue';
import { RecurringRun, RecurringSeries, type IntervalUnit, type SeriesStatus } from './recurring.entities';
import { RecurringScheduler, type RunDueResult } from './scheduler';
import {
  addDaysIso, describeSchedule, dueAt, isoDay, occurrenceDate, occurrenceExists, type Schedule, scheduleOf, type ScheduleInput,
} from './schedule';

export type SeriesActor = { kind: 'staff'; userId: number } | { kind: 'customer'; user: SessionUser };

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

/**
 * Recurring order series: create, list, pause, resume, cancel; scheduler.ts creates their orders exactly once.
 *
 * Each new order copies the template order's lines at TODAY's catalog prices (like "Order again"; products no
 * longer sold are left out and noted in the order's history), the same customer, addresses, shipping and payment
 * methods, in the default state of the default order flow, completed. Vouchers and staff discounts of the template
 * are not repeated. Payment is never re-authorized: a method without a card (invoice) is authorized like at
 * checkout (capture state 'not_supported'); a card template gives payment status 'none' and a history entry saying
 * that payment must be collected. Stock is taken with the same conditional update as checkout.
 */
export class RecurringService {
  private readonly scheduler: RecurringScheduler;

  constructor(private readonly orm: MikroORM, outbox?: OutboxService, providers?: PaymentProviders, placement?: PlacementSettings) {
    this.scheduler = new RecurringScheduler(orm, outbox, providers, placement);
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

  /**
   * Why a customer cannot make this order (its payment method populated) recurring themselves, or null: a payment by
   * card or on a provider's page needs them there every time, and nobody would pay the repeats.
   */
  customerRepeatRefusal(order: Order): string | null {
    const method = order.paymentMethod;
    if (!method || this.scheduler.paysUnattended(method.provider)) return null;
    return `${order.number} was paid with ${method.name}, which needs you at every payment, so it cannot repeat on its own. Orders paid by invoice can be repeated.`;
  }

  async createForCustomer(user: SessionUser, orderNumber: string, input: ScheduleInput, now = new Date()): Promise<RecurringSeries> {
    return this.em.transactional(async (em) => {
      const template = await this.templateForCustomer(user, orderNumber, em);
      const refusal = this.customerRepeatRefusal(template);
      if (refusal) throw new DomainError('VALIDATION', refusal, { orderNumber: 'cannot repeat on its own' });
      await assertWithinSpendLimit(em, user, template);
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

  /** What cancelling does, for the confirmation step before it: refused as cancel itself would be. Changes nothing. */
  async cancelConfirmation(id: number, actor: SeriesActor): Promise<Confirmation> {
    const series = await this.em.findOne(RecurringSeries, actor.kind === 'customer' ? { id, user: actor.user.id } : { id }, { populate: ['templateOrder'] });
    if (!series) throw notFound('The recurring order');
    assertOpen(series);
    const placed = series.ordersCreated;
    const next = series.status === 'active' && series.nextDueAt ? `; the next would have been placed on ${isoDay(series.nextDueAt)}` : '';
    return {
      number: `Recurring order #${series.id}`, title: `Cancel recurring order #${series.id}?`, confirmLabel: 'Cancel recurring order',
      consequences: [
        `No more orders are placed from ${series.templateOrder.number}${next}.`,
        placed ? `The ${placed === 1 ? 'order' : `${placed} orders`} already placed from it ${placed === 1 ? 'stays' : 'stay'} as ${placed === 1 ? 'it is' : 'they are'}.` : 'No order has been placed from it yet.',
        'A cancelled recurring order cannot be resumed; to stop it for a while, pause it instead.',
      ],
    };
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

  /** Creates every order that is due at `now`, each exactly once (scheduler.ts). */
  runDue(now: Date = new Date()): Promise<RunDueResult> {
    return this.scheduler.runDue(now);
  }

  /** The scheduler as a job (src/jobs/job-queue.ts). */
  schedulerJob(everyMs: number): DrainJob {
    return this.scheduler.schedulerJob(everyMs);
  }
}

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

/**
 * A company buyer's spend limit holds for the orders a series places too: above it an order needs an approval that a
 * series never asks for, so a buyer cannot make such an order recurring (the shop's staff can, or a colleague whose
 * limit covers it). The same limit checkout reads (the buyer's own, for their company).
 */
async function assertWithinSpendLimit(em: EntityManager, user: SessionUser, template: Order): Promise<void> {
  const limit = await spendLimitOf(em, user.id, template.company?.id ?? null);
  if (limit == null || template.totalMinor <= limit) return;
  const money = (m: number) => formatMoney(m, template.currencyCode);
  throw new DomainError('VALIDATION', `${template.number}'s total of ${money(template.totalMinor)} is above your spend limit of ${money(limit)}, and a recurring order is placed without an approval. A colleague whose limit covers it, or the shop, can set it up.`);
}
