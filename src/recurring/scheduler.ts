import { attemptKey, confirmAttempt, markVoided, placeInTransaction, releaseAttempt, reserveInTransaction, type ReservedAttempt } from '../checkout/place-order';
import type { PlacementSettings } from '../checkout/checkout.service';
import { withinMs } from '../shared/deadline';
import { PROVIDER_TIMED_OUT } from '../payments/payment-provider';
import { createViewEnv } from '../shared/views';
import { LockMode, type EntityManager, type MikroORM } from '@mikro-orm/postgresql';
import { Product, Shop } from '../catalog/catalog.entities';
import { FlowService } from '../flows/flow.service';
import { OutboxService } from '../mail/outbox.service';
import { Address, Order, OrderLine } from '../orders/order.entities';
import { recordHistory, reprice, type Actor } from '../orders/order-lifecycle';
import { nextOrderNumber } from '../orders/order-numbers';
import { PaymentMethod, type PaymentProviderCode } from '../payments/payment.entities';
import { PaymentProviders } from '../payments/payment-providers';
import { DomainError } from '../shared/errors';
import { ShippingMethod } from '../shipping/shipping-method.entity';
import { log } from '../shared/log';
import type { DrainJob } from '../jobs/job-queue';
import { RecurringSeries } from './recurring.entities';
import { emSql } from '../db/sql';
import { pricesOn } from '../catalog/prices';
import { formatDecimal, formatMoney } from '../shared/money';
import { spendLimitOf } from '../accounts/spend-limit';
import { dueAt, isoDay, occurrenceExists, retryDelayMs, type Schedule, scheduleOf } from './schedule';


export interface RunDueResult {
  /** Order numbers created in this round. */
  created: string[];
  /** Occurrences that failed and will be retried. */
  failed: { seriesId: number; occurrence: number; error: string }[];
  /** Occurrences that were not created (missed while the scheduler was not running, or superseded while failing). */
  skipped: number;
}

const SYSTEM: Actor = { userId: null, kind: 'system', source: 'system' };
const PLACED_BY = { userId: null, kind: 'system', source: 'system' } as const;
const MAX_SERIES_PER_ROUND = 500;

/**
 * The scheduler of recurring series: takes each due series once (FOR UPDATE SKIP LOCKED), creates the latest due
 * occurrence's order through the one placement writer, records runs, retries failures with backoff.
 */
export class RecurringScheduler {
  private readonly flows = new FlowService();
  private readonly providers: PaymentProviders;

  constructor(private readonly orm: MikroORM, private readonly outbox?: OutboxService, providers?: PaymentProviders,
    private readonly placement: PlacementSettings = { reservationSeconds: 900, gatewayTimeoutMs: 20_000 }) {
    this.providers = providers ?? new PaymentProviders(orm);
  }
  /** Whether orders paid this way can be placed with nobody there: the provider authorizes without the customer (invoice). */
  paysUnattended(provider: PaymentProviderCode): boolean {
    const direct = this.providers.direct(provider);
    return !!direct && !direct.needsCard;
  }


  /**
   * Creates every order that is due at `now`, each exactly once: a due series is taken with
   * FOR UPDATE SKIP LOCKED (another process skips it and takes the next), and the run row of an occurrence is
   * unique per (series, due time), so even a second attempt could not create a second order.
   */
  async runDue(now: Date = new Date()): Promise<RunDueResult> {
    const result: RunDueResult = { created: [], failed: [], skipped: 0 };
    for (let i = 0; i < MAX_SERIES_PER_ROUND; i++) {
      let picked: boolean | Reserved = false;
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
          return (await this.runSeries(em, series, now, result)) ?? true;
        });
        // The series lock and the stock rows are free again: the provider is asked outside any transaction.
        if (typeof picked === 'object') await this.pay(picked, result);
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

  /**
   * Works on one due series; the caller holds its row lock. Answers the reserved order when its provider must still
   * be asked (after the caller's commit).
   */
  private async runSeries(em: EntityManager, series: RecurringSeries, now: Date, result: RunDueResult): Promise<Reserved | undefined> {
    const schedule = scheduleOf(series);
    if (!(await this.settleInterrupted(em, series, now))) return;
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
      const made = await em.transactional((tx) => this.createOrder(tx, series, k, due, now));
      if ('attempt' in made) {
        // Not due again before its reservation expires: no other round takes the series while the provider answers.
        series.retryAt = new Date(now.getTime() + this.placement.reservationSeconds * 1000);
        series.updatedAt = now;
        return { seriesId: series.id, occurrence: k, due, now, attempts: series.attempts + 1, attempt: made.attempt };
      }
      result.created.push(made.order.number);
      this.created(series, schedule, k);
    } catch (e) {
      if (e instanceof AlreadyCreated) {
        this.advance(series, schedule, k + 1);
        return;
      }
      const message = e instanceof DomainError ? e.message : 'The order could not be created because of an unexpected error (see the server log).';
      if (!(e instanceof DomainError)) log.error({ err: e }, `[recurring] series ${series.id} occurrence ${k} failed`);
      await this.failed(em, series, k, due, message, now, result);
    }
  }

  private created(series: RecurringSeries, schedule: Schedule, k: number): void {
    series.ordersCreated += 1;
    series.attempts = 0;
    series.retryAt = null;
    series.lastError = '';
    this.advance(series, schedule, k + 1);
  }

  /** Logs a failed occurrence on its run and the series, and when it is retried (with backoff). */
  private async failed(em: EntityManager, series: RecurringSeries, k: number, due: Date, message: string, now: Date, result: RunDueResult): Promise<void> {
    const schedule = scheduleOf(series);
    const attempts = series.attempts + 1;
    let retryAt = new Date(now.getTime() + retryDelayMs(attempts));
    // Never wait past the next occurrence: when it is due, it replaces this one.
    if (occurrenceExists(schedule, k + 1)) retryAt = new Date(Math.min(retryAt.getTime(), dueAt(schedule, k + 1).getTime()));
    await this.saveRun(em, series.id, k, due, 'failed', null, attempts, message, retryAt, now);
    Object.assign(series, { nextOccurrence: k, nextDueAt: due, attempts, retryAt, lastError: message.slice(0, 1000), updatedAt: now });
    result.failed.push({ seriesId: series.id, occurrence: k, error: message });
  }

  /**
   * A run still `placing` was interrupted (the process died between reserve and confirm). While its attempt is
   * reserved the series waits for the reservation job (which gives the stock back and voids); once released, its
   * order — never placed — is deleted and the occurrence is created again. Answers whether the series may run now.
   */
  private async settleInterrupted(em: EntityManager, series: RecurringSeries, now: Date): Promise<boolean> {
    const [placing] = await em.execute<{ order_id: string; status: string | null }[]>(
      `select r.order_id, (select a.status from payment_attempts a where a.order_id = r.order_id order by a.id desc limit 1) as status
       from recurring_runs r where r.series_id = ? and r.status = 'placing'`, [series.id]);
    if (!placing) return true;
    if (placing.status === 'reserved') {
      series.retryAt = new Date(now.getTime() + 60_000);
      return false;
    }
    await em.execute(`update orders set deleted = true, updated_at = now() where id = ? and not completed`, [placing.order_id]);
    return true;
  }

  /**
   * Asks the provider for a reserved recurring order outside any transaction (its attempt key is the idempotency
   * key), then confirms it through the one placement writer, or releases its stock and logs the failure.
   */
  private async pay(reserved: Reserved, result: RunDueResult): Promise<void> {
    const { attempt } = reserved;
    const provider = this.providers.direct(attempt.provider)!;
    let auth;
    try {
      auth = await withinMs(provider.authorize({ attemptKey: attemptKey(attempt.id), orderNumber: attempt.number, amountMinor: attempt.amountMinor, currencyCode: attempt.currencyCode }),
        this.placement.gatewayTimeoutMs, PROVIDER_TIMED_OUT);
    } catch (e) {
      log.error({ err: e }, `[recurring] payment provider failed for attempt ${attempt.id}`);
      await releaseAttempt(this.orm, attempt.id, { mayBeAuthorized: true, byJob: true, message: 'The payment provider failed or did not answer in time.' });
      return this.unplaced(reserved, `${attempt.paymentName} could not be reached, so the order was not created.`, result);
    }
    if (!auth.success) {
      await releaseAttempt(this.orm, attempt.id, { mayBeAuthorized: false, byJob: true, message: auth.message });
      return this.unplaced(reserved, `${attempt.paymentName} refused the order: ${auth.message}`, result);
    }
    const confirmed = await confirmAttempt(this.orm, this.outbox ?? new OutboxService(createViewEnv()), attempt.id, {
      reference: auth.reference, message: auth.message, cardType: auth.cardType ?? '', cardLast4: auth.cardLast4 ?? '', initialCaptureState: provider.initialCaptureState,
    }, undefined, { actor: PLACED_BY, placedAt: reserved.now, book: (em) => this.book(em, reserved) });
    if (confirmed.kind === 'placed') result.created.push(confirmed.number);
    if (confirmed.kind !== 'gone') return;
    // Nothing may stay authorized without an order: release (the order changed meanwhile) and void.
    await releaseAttempt(this.orm, attempt.id, { mayBeAuthorized: true, byJob: true, message: 'The order changed while the payment was authorized.' });
    const voided = await provider.voidAttempt(attemptKey(attempt.id)).catch((e: Error) => ({ success: false, message: e.message }));
    if (voided.success) await markVoided(this.orm, attempt.id);
    await this.unplaced(reserved, 'The order changed while its payment was authorized, so it was not created.', result);
  }

  /** In the confirming transaction: the run is created and the series moves on. */
  private async book(em: EntityManager, reserved: Reserved): Promise<void> {
    const series = await em.findOneOrFail(RecurringSeries, reserved.seriesId, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    await em.execute(
      `update recurring_runs set status = 'created', last_error = '', next_attempt_at = null, updated_at = ? where series_id = ? and due_at = ? and status = 'placing'`,
      [reserved.now, reserved.seriesId, reserved.due]);
    this.created(series, scheduleOf(series), reserved.occurrence);
    await em.flush();
  }

  /** A reserved order that was not placed (its stock already given back): deleted, and the occurrence's failure logged. */
  private async unplaced(reserved: Reserved, message: string, result: RunDueResult): Promise<void> {
    await this.orm.em.fork().transactional(async (em) => {
      const series = await em.findOneOrFail(RecurringSeries, reserved.seriesId, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      await em.execute(`update orders set deleted = true, updated_at = now() where id = ? and not completed`, [reserved.attempt.orderId]);
      // A late answer (the reservation expired, another round took the occurrence over) leaves the run as it is now.
      const [run] = await em.execute<{ status: string }[]>(
        `select status from recurring_runs where series_id = ? and due_at = ? and order_id = ? and status = 'placing'`, [reserved.seriesId, reserved.due, reserved.attempt.orderId]);
      if (run) await this.failed(em, series, reserved.occurrence, reserved.due, message, reserved.now, result);
    });
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
  private async createOrder(em: EntityManager, series: RecurringSeries, k: number, due: Date, now: Date): Promise<{ order: Order } | { attempt: ReservedAttempt }> {
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
    // A buyer's own series stays within their spend limit on every run (prices and limits change after set-up); one the
    // shop's staff set up was their decision.
    const limit = series.createdByKind === 'customer' && order.user ? await spendLimitOf(em, order.user.id, order.company?.id ?? null) : null;
    if (limit != null && order.totalMinor > limit) {
      throw new DomainError('CONFLICT', `Not created: its total of ${formatMoney(order.totalMinor, order.currencyCode)} is above the buyer's spend limit of ${formatMoney(limit, order.currencyCode)}, and a recurring order is placed without an approval.`);
    }

    // A buyer's own series from a card order would make orders nobody pays (set-up refuses those now; older ones stop here).
    if (series.createdByKind === 'customer' && !this.paysUnattended(payment.provider)) {
      throw new DomainError('CONFLICT', `Not created: ${payment.name} needs the customer at every payment, so a recurring order cannot be paid with it. Set up a new recurring order from an order paid by invoice.`);
    }
    const provider = this.providers.direct(payment.provider);
    const state = await this.flows.defaultState(em, 'order');
    order.number = await nextOrderNumber(em, shop.id);
    await em.flush();
    const notes = [`Recurring order ${k + 1} of series #${series.id} (from ${template.number}), due ${isoDay(due)}.`];
    if (left.length) notes.push(`Left out, no longer sold: ${left.map((l) => `${l.productName} (${l.productNumber})`).join(', ')}.`);
    await this.flows.move(em, order, state, { actor: SYSTEM, check: 'enter', event: 'recurring', message: notes.join(' ') });
    await em.flush();
    const placing = { actor: PLACED_BY, allowOutOfStock: shop.allowOutOfStockOrders, refusal: (line: { quantity: number; productName: string }) => `Not enough stock: ${line.quantity} × ${line.productName} is not in stock.` };
    if (provider && !provider.needsCard) {
      // Reserved here (stock taken, held by a payment attempt); the provider is asked after this transaction commits.
      const attempt = await reserveInTransaction(em, order.id, { ...placing, reservationSeconds: this.placement.reservationSeconds });
      await this.claim(em, series, k, due, order.id, 'placing', now);
      return { attempt };
    }
    // Nothing to authorize (a card is never charged again): placed by the one placement writer in this transaction.
    const totalMinor = await placeInTransaction(em, this.outbox ?? new OutboxService(createViewEnv()), order.id, {
      ...placing, placedAt: now,
      pay: async () => ({ auth: null, captureState: 'not_captured', paymentName: payment.name, message: 'no payment authorized' }),
    });
    await em.refresh(order);
    await this.claim(em, series, k, due, order.id, 'created', now);

    if (order.paymentStatus !== 'authorized') {
      await recordHistory(em, order, SYSTEM, 'payment_required',
        `No card payment was authorized: recurring orders never charge a card again. Collect ${formatAmount(totalMinor, order.currencyCode)} from the customer (for example by invoice) before shipping.`);
    }
    return { order };
  }

  /** The run row claims the occurrence (unique per series and date): a second order for it cannot be committed. */
  private async claim(em: EntityManager, series: RecurringSeries, k: number, due: Date, orderId: number, status: 'created' | 'placing', now: Date): Promise<void> {
    const claimed = await em.execute<{ id: string }[]>(
      `insert into recurring_runs (series_id, occurrence, due_at, status, order_id, attempts, last_error, next_attempt_at, created_at, updated_at)
       values (?, ?, ?, ?, ?, ?, '', null, ?, ?)
       on conflict (series_id, due_at) do update set status = excluded.status, order_id = excluded.order_id, attempts = excluded.attempts,
         last_error = '', next_attempt_at = null, updated_at = excluded.updated_at
       where recurring_runs.status <> 'created'
       returning id`,
      [series.id, k, due, status, orderId, series.attempts + 1, now, now],
    );
    if (!claimed.length) throw new AlreadyCreated();
  }
}

/** A recurring order reserved in the series-locked transaction, whose provider is asked after its commit. */
interface Reserved { seriesId: number; occurrence: number; due: Date; now: Date; attempts: number; attempt: ReservedAttempt }

class AlreadyCreated extends Error {}

function formatAmount(minor: number, currency: string): string {
  return `${formatDecimal(minor)} ${currency}`;
}
