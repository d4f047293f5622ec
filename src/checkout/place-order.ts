import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { visibleSql } from '../accounts/access-policy';
import { firstUnpicked, giveBackStock, takeStockCtes, takeStockWith } from '../stock/stock';
import type { Shopper } from '../shared/shopper';
import { emSql, emSqlTransaction, sqlArray, sqlRead, sqlTransaction, type Sql, type SqlTransaction } from '../db/sql';
import { ENQUEUE_ORDER_EXPORT_SQL } from '../exports/auto-export.service';
import type { OutboxService } from '../mail/outbox.service';
import { totalsColumns } from '../orders/order-lifecycle';
import type { CaptureState } from '../orders/order.entities';
import type { PaymentProviderCode } from '../payments/payment.entities';
import { DomainError } from '../shared/errors';
import { formatMoney } from '../shared/money';
import { priceOrder, type Totals } from '../pricing/pricing';
import { PRICING_COLUMNS, PRICING_JOINS, pricingInputOf, type PricingRow } from '../pricing/pricing-sql';
import { receiptMail } from '../orders/receipt-mail';
import { assertReadyToPlace, outOfStockMessage, placedMessage, type PlaceInput } from './placement';

/**
 * The SQL steps of placing an order, each its own short transaction, so no stock row and no lock is held while the
 * payment provider answers (CheckoutService.place runs them: reserve → authorize → confirm, or release). An offered
 * quote the customer accepts is placed the same way (CheckoutService.placeQuote): reserved while still a quote, and
 * accepted — it becomes the order — in the confirming transaction, just before it is completed.
 *
 * - reserveOrder: locks the order row, checks it, takes its stock (conditional updates, never below zero) and records
 *   a payment attempt with its stock reservations and an expiry. 2 statements + 1 per line.
 * - confirmAttempt: the one writer of a placed order — completes the order, its lines' stock locations, payment
 *   transaction, history entry, receipt mail and export job, exactly once (the attempt moves from reserved to
 *   completed only once). 2 statements.
 * - releaseAttempt: a declined, failed, abandoned or expired attempt gives its stock back, once, and says whether an
 *   authorization may exist that must be voided.
 */

/** An attempt that holds stock, ready for the provider. */
export interface ReservedAttempt {
  id: number; orderId: number; number: string; amountMinor: number; currencyCode: string; provider: PaymentProviderCode; paymentName: string;
  /**
   * The order as it was reserved (checkout's reserveOrder): the request that reserved it confirms it with this in one
   * statement (confirmReserved), as long as the order's version is still the reserved one.
   */
  reserved?: ReservedOrder;
}

/** What the reserving transaction read and priced: enough to complete the order unchanged without reading it again. */
interface ReservedOrder { order: LockedOrder; totals: Totals; customerComment: string; ip: string; actorUserId: number | null }

export type Reservation =
  | { kind: 'reserved'; attempt: ReservedAttempt }
  /** The order was placed already (a double click, the back button): show its receipt. */
  | { kind: 'placed'; orderId: number; number: string }
  /** Another attempt for this order is under way; `expired` when it ran out of time and may be released. */
  | { kind: 'busy'; attemptId: number; provider: PaymentProviderCode; expired: boolean }
  /** Catalog prices changed since the order was priced: reprice it first. */
  | { kind: 'stale' }
  /** Authorized in process (ReserveOptions.settle) and placed by the reserving transaction. */
  | { kind: 'completed'; orderId: number; number: string };

export interface ReserveOptions {
  reservationSeconds: number; acceptStoredPrices: boolean;
  /** Placing an offered quote (by its quote id) that the shopper or their company may accept, rather than the shopper's order in checkout. */
  quote?: boolean;
  /**
   * For a provider that authorizes in process (DirectPaymentProvider.inProcess): `authorize` answers its
   * authorization of the reserved attempt (null for every other provider, or when it declines), and the reserving
   * transaction then completes the order too — the stock take and confirmReserved's statement in its last round trip,
   * one commit. Without it, or when it answers null, the attempt is reserved and committed for the caller to confirm.
   */
  settle?: { outbox: OutboxService; authorize: (attempt: ReservedAttempt) => Promise<Authorization | null> };
}

export async function reserveOrder(orm: MikroORM, shopper: Shopper, input: PlaceInput, options: ReserveOptions): Promise<Reservation> {
  return reserveIn(orm, shopper, input, options).catch(async (e) => {
    // Settling in one transaction found a line's stock short (no attempt to confirm: 22012, all rolled back): the
    // reservation alone says which line, or reserves what was given back meanwhile.
    if (stoppedByGuard(e) && options.settle) return reserveOrder(orm, shopper, input, { ...options, settle: undefined });
    // A second click that waited on the order lock read the attempts before the first click committed its own:
    // the unique index refuses the second attempt (and so rolls back its stock), and the second click waits.
    if ((e as { constraint?: string }).constraint !== 'payment_attempts_one_open_per_order') throw e;
    const [open] = await orm.em.getConnection().execute<{ id: string; provider: PaymentProviderCode }[]>(
      `select a.id, a.provider from payment_attempts a join orders o on o.id = a.order_id where o.number = ? and a.status = 'reserved'`, [input.orderNumber]);
    return open ? { kind: 'busy', attemptId: Number(open.id), provider: open.provider, expired: false } : reserveIn(orm, shopper, input, options);
  });
}

async function reserveIn(orm: MikroORM, shopper: Shopper, input: PlaceInput, options: ReserveOptions): Promise<Reservation> {
  return sqlTransaction(orm, async (sql) => {
    const owner = shopper.userId != null ? 'o.user_id = ?' : 'o.user_id is null and o.anonymous_token = ?::uuid';
    // A quote is found by its quote id also once it became an order (a second accept then shows that order).
    // A quote is accepted by whoever may see it (the access policy: its owner or a member of its company).
    const quoteVisible = visibleSql({ id: shopper.userId ?? -1, companyId: shopper.companyId });
    // Settling in process, the attempt's id is taken with the lock: the provider is asked with its key before the attempt is written.
    const attemptIdColumn = options.settle ? `, nextval('payment_attempts_id_seq') as next_attempt_id` : '';
    const [order] = await sql<LockedOrder & { next_attempt_id?: string }>('with ' + (options.quote
      ? lockOrderSql(`? in (o.number, o.quote_number) and not o.deleted and ${quoteVisible.sql}`, attemptIdColumn)
      : lockOrderSql(`o.number = ? and not o.deleted and (${owner} or o.id = any(?::bigint[]))`, UNAPPROVED_LIMIT_COLUMN + attemptIdColumn)),
    options.quote ? [input.orderNumber, ...quoteVisible.params] : [input.orderNumber, shopper.userId ?? shopper.anonymousToken ?? NO_TOKEN, sqlArray(input.placedInSession)]);
    if (!order) throw orderChanged();
    const orderId = Number(order.id);
    if (order.completed) return { kind: 'placed', orderId, number: order.number };
    if (!placeable(order, options.quote ? 'quote' : 'basket')) throw orderChanged();
    if (order.open_attempt) return { kind: 'busy', attemptId: order.open_attempt.id, provider: order.open_attempt.provider, expired: order.open_attempt.expired };
    if (!options.acceptStoredPrices && order.lines.some((l) => l.stale)) return { kind: 'stale' };
    assertReadyToPlace({
      lineCount: order.lines.length, hasShipping: order.shipping_name != null, hasPayment: order.payment_provider != null,
      billing: { name: order.billing_name, address: order.billing_address, zip: order.billing_zip, city: order.billing_city, country: order.billing_country, email: order.billing_email },
    });
    const totals = priceOrder(pricingInputOf(order));
    // Checked out without an approval because its goods were within the buyer's limit: with shipping and fees too.
    const limit = order.unapproved_limit_minor != null ? Number(order.unapproved_limit_minor) : null;
    if (limit != null && totals.totalMinor > limit) throw aboveSpendLimit(totals.totalMinor, limit, order.currency_code);
    // What was shown is what is charged: a total that changed since the review page (a new price, a fee) is shown first.
    if (input.shownTotalMinor != null && totals.totalMinor !== input.shownTotalMinor) throw totalChanged(input.shownTotalMinor, totals.totalMinor, order.currency_code);
    const cause = { reason: 'order', orderId, actor: { userId: shopper.userId, kind: 'customer' } } as const;
    const by = { customerComment: input.customerComment, ip: input.ip, userId: shopper.userId, reservationSeconds: options.reservationSeconds };
    const reserved: ReservedOrder = { order, totals, customerComment: input.customerComment, ip: input.ip, actorUserId: shopper.userId };
    if (order.allow_out_of_stock) {
      // A line may have to be taken down to zero at the fullest location instead: line by line (takeStockWith).
      const taken = [...(await takeStockWith(sql, order.lines.map((l) => ({ ...l, product: l.productId == null ? null : { id: l.productId } })), true, outOfStockMessage, cause))];
      const attempt = recordAttemptSql(order, totals.totalMinor, taken, by);
      const [row] = await sql.commitWith<{ id: string }>(attempt.text, attempt.values);
      return { kind: 'reserved', attempt: { ...reservedAttempt(Number(row.id), order, totals.totalMinor), reserved } };
    }
    // The stock of every line and the attempt with its reservations in one statement, committed with it: the stock
    // rows are locked for this one round trip. A line without stock takes nothing and records no attempt.
    const lines = order.lines.filter((l) => l.productId != null).map((l) => ({ line: l, lineId: l.id, productId: l.productId!, quantity: l.quantity }));
    const stock = takeStockCtes(lines, cause);
    const attemptId = order.next_attempt_id != null ? Number(order.next_attempt_id) : null;
    const attempt = attemptColumns(order, totals.totalMinor, by, attemptId);
    const take = {
      text: `with ${stock.text},
       attempt as (
         insert into payment_attempts (${attempt.columns}) select ${attempt.placeholders} where (select count(*) from stock_taken) = ? returning id),
       reserved as (
         insert into stock_reservations (attempt_id, order_line_id, product_id, location_id, quantity)
         select attempt.id, t.line_id, t.product_id, t.location_id, -t.change from attempt, stock_taken t)
       select (select id from attempt) as id, (select coalesce(json_agg(line_id), '[]') from stock_picked) as picked`,
      values: [...stock.values, ...attempt.values, lines.length],
    };
    const settled = attemptId != null && options.settle ? { ...reservedAttempt(attemptId, order, totals.totalMinor), reserved } : null;
    const auth = settled && (await options.settle!.authorize(settled));
    if (settled && auth) {
      // No attempt when a line's stock is short: the confirming statement then stops with 22012 (reserveOrder reserves again).
      const confirm = confirmReservedSql(options.settle!.outbox, settled, auth);
      await sql.all([take, confirm], true);
      return { kind: 'completed', orderId, number: order.number };
    }
    const [row] = await sql.commitWith<{ id: string | null; picked: number[] }>(take.text, take.values);
    if (row.id == null) throw new DomainError('INSUFFICIENT_STOCK', outOfStockMessage(firstUnpicked(lines, row.picked)!.line));
    return { kind: 'reserved', attempt: { ...reservedAttempt(Number(row.id), order, totals.totalMinor), reserved } };
  });
}

/** The columns of a new payment attempt (status reserved, with its expiry; its id when taken before) and their values. */
function attemptColumns(order: LockedOrder, totalMinor: number, by: { customerComment: string; ip: string; userId: number | null; reservationSeconds: number }, id: number | null = null) {
  const attempt = {
    columns: 'order_id, order_version, provider, amount_minor, currency_code, customer_comment, ip, actor_user_id, expires_at',
    placeholders: '?::bigint, ?::int, ?, ?::bigint, ?, ?, ?, ?::int, now() + make_interval(secs => ?)',
    values: [Number(order.id), order.version, order.payment_provider, totalMinor, order.currency_code, by.customerComment, by.ip, by.userId, by.reservationSeconds],
  };
  return id == null ? attempt : { columns: `id, ${attempt.columns}`, placeholders: `?::bigint, ${attempt.placeholders}`, values: [id, ...attempt.values] };
}

type Taken = Iterable<readonly [{ id: number; productId: number | null }, { locationId: number; quantity: number }]>;

/** The statement recording a payment attempt that holds the stock taken for the order, with its expiry. */
function recordAttemptSql(order: LockedOrder, totalMinor: number, taken: Taken, by: { customerComment: string; ip: string; userId: number | null; reservationSeconds: number }) {
  const lines = [...taken];
  const attempt = attemptColumns(order, totalMinor, by);
  return {
    text: `with attempt as (
         insert into payment_attempts (${attempt.columns}) values (${attempt.placeholders}) returning id),
       reserved as (
         insert into stock_reservations (attempt_id, order_line_id, product_id, location_id, quantity)
         select attempt.id, t.* from attempt, unnest(?::bigint[], ?::int[], ?::int[], ?::int[]) t)
       select id from attempt`,
    values: [...attempt.values, sqlArray(lines.map(([l]) => l.id)), sqlArray(lines.map(([l]) => l.productId)), sqlArray(lines.map(([, t]) => t.locationId)), sqlArray(lines.map(([, t]) => t.quantity))],
  };
}

function reservedAttempt(id: number, order: LockedOrder, totalMinor: number): ReservedAttempt {
  return { id, orderId: Number(order.id), number: order.number, amountMinor: totalMinor, currencyCode: order.currency_code, provider: order.payment_provider!, paymentName: order.payment_name! };
}

/**
 * Reserves a recurring order for its provider in the caller's (ORM) transaction, which holds the series lock: takes its
 * stock (as reserveOrder does) and records a payment attempt with an expiry. The caller commits, authorizes outside
 * any transaction, then confirms with confirmAttempt (or releases); after a crash the reservation job releases it.
 */
export async function reserveInTransaction(em: EntityManager, orderId: number, how: { actor: PlacedBy; allowOutOfStock: boolean; refusal: (line: { quantity: number; productName: string }) => string; reservationSeconds: number }): Promise<ReservedAttempt> {
  const sql = emSql(em);
  const [order] = await sql<LockedOrder>('with ' + lockOrderSql('o.id = ?'), [orderId]);
  if (!order || order.completed || !placeable(order, 'placing')) throw orderChanged();
  const totals = priceOrder(pricingInputOf(order));
  const taken = await takeStockWith(sql, order.lines.map((l) => ({ ...l, product: l.productId == null ? null : { id: l.productId } })), how.allowOutOfStock, how.refusal,
    { reason: 'order', orderId, actor: { userId: how.actor.userId, kind: how.actor.kind } });
  const attempt = recordAttemptSql(order, totals.totalMinor, taken, { customerComment: '', ip: '', userId: how.actor.userId, reservationSeconds: how.reservationSeconds });
  const [row] = await sql<{ id: string }>(attempt.text, attempt.values);
  return reservedAttempt(Number(row.id), order, totals.totalMinor);
}

/** What the provider said when it authorized the attempt. */
export interface Authorization { reference: string; message: string; cardType: string; cardLast4: string; initialCaptureState: CaptureState }

export type Confirmation =
  | { kind: 'placed'; orderId: number; number: string }
  /** Completed before (the webhook and the shopper's return both confirm; the first one wins). */
  | { kind: 'already'; orderId: number; number: string }
  /** The attempt was released (expired, abandoned) or the order changed while the provider answered. */
  | { kind: 'gone'; orderId: number; reason: 'released' | 'changed' };

/**
 * Turns a reserved quote into the order (its acceptance: state changes, order number) inside the confirming
 * transaction, just before the order is completed; answers the order's number.
 */
export type QuoteAcceptance = (em: EntityManager, orderId: number) => Promise<string>;

/**
 * Completes the order of a reserved attempt in one transaction — the one place a placed order is written. The order
 * must still be exactly what was reserved (same version, same total); otherwise nothing is written. A quote's attempt
 * is confirmed with its acceptance, in the same transaction (an ORM one, as accepting moves the quote's flow state).
 */
export async function confirmAttempt(orm: MikroORM, outbox: OutboxService, attemptId: number, auth: Authorization, accepting?: QuoteAcceptance, system?: SystemPlacement): Promise<Confirmation> {
  const hook = accepting ?? (system && (async (em: EntityManager, orderId: number) => { await system.book(em, orderId); return ''; }));
  const inTransaction = <T>(fn: (sql: SqlTransaction, accept?: (orderId: number) => Promise<string>) => Promise<T>): Promise<T> => hook
    ? orm.em.fork().transactional((em) => fn(emSqlTransaction(em), (orderId) => hook(em, orderId)))
    : sqlTransaction(orm, (sql) => fn(sql));
  let seen: { status: string; orderId: number; number: string } | undefined;
  const outcome = await inTransaction(async (sql, accept): Promise<Confirmation | null> => {
    // The order row is locked first, as every placement step does (order → attempt → stock): no step waits on another's attempt row while holding the order.
    const [order] = await sql<LockedOrder & { attempt: { version: number; amount: number; customerComment: string; ip: string; actorUserId: number | null } | null; attempt_status: string | null }>(
      'with ' + lockOrderSql('o.id = (select order_id from payment_attempts where id = ?)', ', (select attempt from attempt) as attempt, (select status from payment_attempts where id = ?) as attempt_status', `,
       attempt as (
         update payment_attempts set status = 'completed', provider_reference = ?, outcome_message = ?, finished_at = now()
         where id = ? and status = 'reserved' and exists (select 1 from target)
         returning json_build_object('version', order_version, 'amount', amount_minor, 'customerComment', customer_comment, 'ip', ip, 'actorUserId', actor_user_id) as attempt)`),
      [attemptId, auth.reference, auth.message, attemptId, attemptId]);
    if (order && !order.attempt) seen = { status: order.attempt_status ?? '', orderId: Number(order.id), number: order.number };
    if (!order?.attempt) return null;
    const orderId = Number(order.id);
    const totals = priceOrder(pricingInputOf(order));
    const { attempt } = order;
    const unchanged = !order.completed && placeable(order, system ? 'placing' : accepting ? 'quote' : 'basket') && order.version === attempt.version && totals.totalMinor === Number(attempt.amount);
    if (!unchanged) throw new OrderChangedMeanwhile(orderId);
    if (accepting) order.number = await accept!(orderId);
    else if (accept) await accept(orderId);
    const complete = completeOrderSql(outbox, orderId, order, totals, { auth, paymentName: order.payment_name! }, { attemptId },
      { customerComment: attempt.customerComment, ip: attempt.ip, actor: system?.actor ?? { userId: attempt.actorUserId, kind: 'customer', source: 'checkout' }, placedAt: system?.placedAt });
    await sql.commitWith(complete.text, complete.values);
    return { kind: 'placed', orderId, number: order.number };
  }).catch((e) => {
    if (e instanceof OrderChangedMeanwhile) return { kind: 'gone', orderId: e.orderId, reason: 'changed' } as const;
    throw e;
  });
  if (outcome) return outcome;
  // Completed or released before (a duplicate webhook, the shopper's return after the webhook): that read says so. The
  // statement's snapshot may predate a confirm it waited for (its status still 'reserved'): then read it again.
  if (seen?.status === 'completed') return { kind: 'already', orderId: seen.orderId, number: seen.number };
  if (seen?.status === 'released') return { kind: 'gone', orderId: seen.orderId, reason: 'released' };
  const [attempt] = await orm.em.getConnection().execute<{ status: string; order_id: string; number: string }[]>(
    `select a.status, a.order_id, o.number from payment_attempts a join orders o on o.id = a.order_id where a.id = ?`, [attemptId]);
  if (attempt?.status === 'completed') return { kind: 'already', orderId: Number(attempt.order_id), number: attempt.number };
  return { kind: 'gone', orderId: Number(attempt?.order_id), reason: 'released' };
}

/**
 * Completes the order of an attempt reserved by this request (reserveOrder's snapshot) in one statement with its
 * COMMIT: the order row is locked first and must still be the reserved version (not completed, still in checkout),
 * the attempt moves from reserved to completed, and the order is completed with the totals that were reserved and
 * authorized. When any of that does not hold (the order changed, the attempt was released or completed meanwhile),
 * nothing is written and confirmAttempt reads it all again and says what happened.
 */
export async function confirmReserved(orm: MikroORM, outbox: OutboxService, attempt: ReservedAttempt, auth: Authorization): Promise<Confirmation> {
  if (!attempt.reserved) return confirmAttempt(orm, outbox, attempt.id, auth);
  const complete = confirmReservedSql(outbox, attempt, auth);
  const placed = await sqlTransaction(orm, (sql) => sql.commitWith(complete.text, complete.values)).then(() => true, (e: unknown) => {
    if (stoppedByGuard(e)) return false;
    throw e;
  });
  return placed ? { kind: 'placed', orderId: attempt.orderId, number: attempt.reserved.order.number } : confirmAttempt(orm, outbox, attempt.id, auth);
}

/**
 * True when a statement stopped at its guard — `1 / count(*)` of a CTE that changed nothing divided by zero (22012) —
 * so its transaction rolled back with nothing written (confirmReservedSql's `placedIf`).
 */
function stoppedByGuard(e: unknown): boolean {
  return (e as { code?: string } | undefined)?.code === '22012';
}

/**
 * confirmReserved's statement: completes the reserved order when it is still the reserved version and the attempt
 * moves from reserved to completed; otherwise it stops with division by zero (22012), and the transaction rolls back.
 */
function confirmReservedSql(outbox: OutboxService, attempt: ReservedAttempt, auth: Authorization) {
  const reserved = attempt.reserved!;
  const { order, totals } = reserved;
  const first = {
    ctes: `target as (select id from orders where id = ? and version = ? and not completed and type = 'order' and basket_status = 'basket' for update),
     attempt as (
       update payment_attempts set status = 'completed', provider_reference = ?, outcome_message = ?, finished_at = now()
       where id = ? and status = 'reserved' and order_version = ? and exists (select 1 from target) returning id),
     `,
    values: [attempt.orderId, order.version, auth.reference, auth.message, attempt.id, order.version],
    // No attempt completed: division by zero (22012) stops the statement, and the transaction is rolled back.
    placedIf: '(select 1 / count(*) from attempt) = 1',
  };
  return completeOrderSql(outbox, attempt.orderId, order, totals, { auth, paymentName: order.payment_name! }, { attemptId: attempt.id },
    { customerComment: reserved.customerComment, ip: reserved.ip, actor: { userId: reserved.actorUserId, kind: 'customer', source: 'checkout' } }, first);
}

/**
 * A recurring order's attempt, confirmed by the system: placed by it at the scheduler's time, and `book` records the
 * run and the series in the confirming transaction (after the order row is locked), as a quote's acceptance does.
 */
export interface SystemPlacement { actor: PlacedBy; placedAt: Date; book: (em: EntityManager, orderId: number) => Promise<void> }

class OrderChangedMeanwhile extends Error {
  constructor(readonly orderId: number) {
    super('The order changed while its payment was authorized.');
  }
}

/**
 * How a placed order is paid: authorized by its provider (through a payment attempt at checkout; a recurring order's
 * invoice directly), or not at all — a return's replacement at zero price, or a recurring card order (the card is
 * never charged again): no payment transaction, payment status "none".
 */
export type PlacedPayment =
  | { auth: Authorization; paymentName: string }
  | { auth: null; captureState: CaptureState; paymentName: string; message: string };

/** Where each line's stock came from: the attempt's stock reservations, or the lines' locations as taken. */
type StockSource = { attemptId: number } | { taken: { lineId: number; locationId: number }[] };

/** Who placed the order, as its "placed" history entry records it. */
export interface PlacedBy { userId: number | null; kind: 'customer' | 'staff' | 'system'; source: 'checkout' | 'backend' | 'system' }

/**
 * The statement that turns the locked order into a placed one: the order row (completed, payment, totals), each
 * line's stock location, the payment transaction (when authorized), the "placed" history entry, the receipt mail and
 * the export job.
 */
function completeOrderSql(outbox: OutboxService, orderId: number, order: LockedOrder, totals: Totals, payment: PlacedPayment, stock: StockSource,
  input: { customerComment: string; ip: string; actor: PlacedBy; placedAt?: Date },
  /** Statements (CTEs) that run first, and a condition the order's update needs; an error when it is not met rolls all back. */
  first: { ctes: string; values: unknown[]; placedIf: string } = { ctes: '', values: [], placedIf: 'true' }) {
  const customerComment = input.customerComment || order.customer_comment;
  const { auth } = payment;
  const receipt = outbox.insertStatement(receiptMail(orderId, {
    number: order.number, billing: { name: order.billing_name, email: order.billing_email }, currencyCode: order.currency_code,
    cardType: auth?.cardType ?? '', cardLast4: auth?.cardLast4 ?? '', customerComment,
  }, order.lines, totals, order.shipping_name != null ? { name: order.shipping_name } : null, { name: payment.paymentName }, order.vat_on_one_line));
  const columns = totalsColumns(totals);
  const located = 'attemptId' in stock
    ? { text: 'update order_lines l set stock_location_id = r.location_id from stock_reservations r where r.attempt_id = ? and l.id = r.order_line_id', values: [stock.attemptId] }
    : {
      text: 'update order_lines l set stock_location_id = t.location_id from unnest(?::bigint[], ?::int[]) t(line_id, location_id) where l.id = t.line_id',
      values: [sqlArray(stock.taken.map((t) => t.lineId)), sqlArray(stock.taken.map((t) => t.locationId))],
    };
  const paid = auth
    ? { text: `payment as (insert into payment_transactions (order_id, operation, amount_minor, success, message, provider_reference) values (?, 'authorize', ?, true, ?, ?)),`, values: [orderId, totals.totalMinor, auth.message, auth.reference] }
    : { text: '', values: [] };
  return {
    text: `with ${first.ctes}placed as (
       update orders set ${columns.assignments}, basket_status = null, completed = true, completed_at = coalesce(?::timestamptz, now()), checkout_step = 'confirmation',
         capture_state = ?, payment_status = ?, authorized_minor = ?, transaction_number = ?, card_type = ?, card_last4 = ?, stock_reserved = true,
         customer_comment = ?, ip = ?, price_calculation_date = coalesce(price_calculation_date, now()), version = version + 1, updated_at = now()
       where id = ? and ${first.placedIf}),
     located as (${located.text}),
     ${paid.text}
     history as (
       insert into order_state_history (order_id, event, message, actor_user_id, actor_kind, source) values (?, 'placed', ?, ?, ?, ?)),
     receipt as (${receipt.text}),
     export as (${ENQUEUE_ORDER_EXPORT_SQL})
     select 1`,
    values: [
      ...first.values, ...columns.values, input.placedAt ?? null, auth ? auth.initialCaptureState : payment.captureState, auth ? 'authorized' : 'none', auth ? totals.totalMinor : 0,
      auth?.reference ?? '', auth?.cardType ?? '', auth?.cardLast4 ?? '', customerComment, input.ip, orderId,
      ...located.values,
      ...paid.values,
      orderId, placedMessage(payment.paymentName, auth ? auth.message : payment.message), input.actor.userId, input.actor.kind, input.actor.source,
      ...receipt.values,
      orderId,
    ],
  };
}

/** What placeInTransaction is told: how to pay (after the stock is taken) and whom the history names. */
export interface InTransactionPlacement {
  /** Authorizes (or says why nothing is authorized) once the stock is taken, with the total the order is completed with. */
  pay: (order: { number: string; totalMinor: number; currencyCode: string }) => Promise<PlacedPayment>;
  actor: PlacedBy; allowOutOfStock: boolean; refusal: (line: { quantity: number; productName: string }) => string;
  /** When it counts as placed (a recurring order: its scheduler's time); now by default. */
  placedAt?: Date;
}

/**
 * Places an order that is not placed through a payment attempt — a return's replacement (no payment) and a
 * recurring order — in the caller's (ORM) transaction, which holds what makes it happen once. Its stock is taken by
 * the function reserveOrder uses (never below zero, in product order) and the order is completed by the statement
 * confirmAttempt uses (status fields, lines' stock locations, payment transaction, "placed" history, receipt, export
 * job). The order must exist, not be completed, and be in its flow already. Answers the total it was placed with.
 */
export async function placeInTransaction(em: EntityManager, outbox: OutboxService, orderId: number, how: InTransactionPlacement): Promise<number> {
  const sql = emSql(em);
  const [order] = await sql<LockedOrder>('with ' + lockOrderSql('o.id = ?'), [orderId]);
  if (!order || order.completed) throw orderChanged();
  const totals = priceOrder(pricingInputOf(order));
  const taken = await takeStockWith(sql, order.lines.map((l) => ({ ...l, product: l.productId == null ? null : { id: l.productId } })), how.allowOutOfStock, how.refusal,
    { reason: 'order', orderId, actor: { userId: how.actor.userId, kind: how.actor.kind } });
  const payment = await how.pay({ number: order.number, totalMinor: totals.totalMinor, currencyCode: order.currency_code });
  const complete = completeOrderSql(outbox, orderId, order, totals, payment, { taken: [...taken].map(([l, t]) => ({ lineId: l.id, locationId: t.locationId })) },
    { customerComment: '', ip: '', actor: how.actor, placedAt: how.placedAt });
  await sql(complete.text, complete.values);
  return totals.totalMinor;
}

/** Why an attempt is released, and what is recorded with it. */
export interface Release {
  /** An authorization may exist (or the outcome is unknown): the provider must be told to void it. */
  mayBeAuthorized: boolean;
  message: string;
  /** The provider declined: logged as a failed authorization with a history entry, and the order shows it. */
  declined?: boolean;
  /** Released by the reservation job (time ran out), not while the shopper waited: its stock movement names the system. */
  byJob?: boolean;
}

/**
 * Gives a reserved attempt's stock back, once (only a `reserved` attempt moves to `released`). Answers false when the
 * attempt was no longer reserved (completed or released before).
 */
export async function releaseAttempt(orm: MikroORM, attemptId: number, release: Release): Promise<boolean> {
  return sqlTransaction(orm, async (sql) => {
    const [attempt] = await sql<{ order_id: string; amount_minor: string; actor_user_id: number | null; reserved: { productId: number; locationId: number; quantity: number }[] }>(
      `with target as (select id from orders where id = (select order_id from payment_attempts where id = ?) for update)
       update payment_attempts a set status = 'released', needs_void = ?, outcome_message = ?, finished_at = now()
       where id = ? and status = 'reserved' and exists (select 1 from target)
       returning order_id, amount_minor, actor_user_id, (select coalesce(json_agg(json_build_object('productId', r.product_id, 'locationId', r.location_id, 'quantity', r.quantity)), '[]')
         from stock_reservations r where r.attempt_id = a.id) as reserved`,
      [attemptId, release.mayBeAuthorized, release.message, attemptId]);
    if (!attempt) return false;
    await giveBackStock(sql, attempt.reserved, { reason: 'release', orderId: Number(attempt.order_id),
      actor: release.byJob ? { userId: null, kind: 'system' } : { userId: attempt.actor_user_id, kind: 'customer' } });
    if (release.declined) await recordDecline(sql, Number(attempt.order_id), Number(attempt.amount_minor), release.message);
    return true;
  });
}

async function recordDecline(sql: Sql, orderId: number, amountMinor: number, message: string): Promise<void> {
  await sql(
    `with declined as (update orders set payment_status = 'declined', updated_at = now() where id = ? and not completed returning id, user_id),
     payment as (insert into payment_transactions (order_id, operation, amount_minor, success, message, provider_reference) select id, 'authorize', ?, false, ?, '' from declined)
     insert into order_state_history (order_id, event, message, actor_user_id, actor_kind, source) select id, 'payment_declined', ?, user_id, 'customer', 'checkout' from declined`,
    [orderId, amountMinor, message, message]);
}

/** Reserved attempts whose time ran out (the shopper left the payment page, or the process died mid-payment). */
export async function expiredAttempts(orm: MikroORM, limit: number): Promise<number[]> {
  const rows = await orm.em.getConnection().execute<{ id: string }[]>(
    `select id from payment_attempts where status = 'reserved' and expires_at < now() order by expires_at limit ?`, [limit]);
  return rows.map((r) => Number(r.id));
}

/** Released attempts whose possible authorization is not voided yet. */
export async function attemptsToVoid(orm: MikroORM, limit: number): Promise<{ id: number; provider: PaymentProviderCode }[]> {
  const rows = await orm.em.getConnection().execute<{ id: string; provider: PaymentProviderCode }[]>(
    `select id, provider from payment_attempts where needs_void order by id limit ?`, [limit]);
  return rows.map((r) => ({ id: Number(r.id), provider: r.provider }));
}

export async function markVoided(orm: MikroORM, attemptId: number): Promise<void> {
  await orm.em.getConnection().execute(`update payment_attempts set needs_void = false where id = ?`, [attemptId]);
}

/** An attempt's status and order, e.g. for a second click waiting on the first. */
export async function attemptStatus(orm: MikroORM, attemptId: number): Promise<{ status: 'reserved' | 'completed' | 'released'; outcomeMessage: string; orderId: number; number: string } | undefined> {
  const [row] = await orm.em.getConnection().execute<{ status: 'reserved' | 'completed' | 'released'; outcome_message: string; order_id: string; number: string }[]>(
    `select a.status, a.outcome_message, a.order_id, o.number from payment_attempts a join orders o on o.id = a.order_id where a.id = ?`, [attemptId]);
  return row && { status: row.status, outcomeMessage: row.outcome_message, orderId: Number(row.order_id), number: row.number };
}

export async function recordProviderReference(orm: MikroORM, attemptId: number, reference: string): Promise<void> {
  await sqlRead(orm, `update payment_attempts set provider_reference = ? where id = ?`, [reference, attemptId]);
}

/**
 * An attempt as last committed: `completed` is final (the order is placed, `number` is its number); `owner` is whose
 * order it is (a user, else a guest's basket token).
 */
interface AttemptRow {
  id: number; orderId: number; provider: PaymentProviderCode; status: 'reserved' | 'completed' | 'released'; number: string;
  owner: { userId: number | null; anonymousToken: string | null };
}

async function findAttempt(orm: MikroORM, where: string, value: unknown): Promise<AttemptRow | undefined> {
  const [row] = await sqlRead<{ id: string; order_id: string; provider: PaymentProviderCode; status: AttemptRow['status']; number: string; user_id: string | null; anonymous_token: string | null }>(orm,
    `select a.id, a.order_id, a.provider, a.status, o.number, o.user_id, o.anonymous_token from payment_attempts a join orders o on o.id = a.order_id where ${where}`, [value]);
  return row && {
    id: Number(row.id), orderId: Number(row.order_id), provider: row.provider, status: row.status, number: row.number,
    owner: { userId: row.user_id == null ? null : Number(row.user_id), anonymousToken: row.anonymous_token },
  };
}

/** The attempt a provider's answer is about, by the idempotency key the shop gave it. */
export function attemptByKey(orm: MikroORM, key: string): Promise<AttemptRow | undefined> {
  const m = /^attempt-(\d{1,18})$/.exec(key);
  return m ? findAttempt(orm, 'a.id = ?', m[1]) : Promise.resolve(undefined);
}

export function attemptByReference(orm: MikroORM, reference: string): Promise<AttemptRow | undefined> {
  return findAttempt(orm, `a.provider_reference = ? and a.provider_reference <> ''`, reference);
}

/** The provider's idempotency key of an attempt. */
export function attemptKey(attemptId: number): string {
  return `attempt-${attemptId}`;
}

/**
 * A company buyer's order that left the cart flow's starting state without an approval (checkout let it through
 * because its goods were within the buyer's spend limit, src/checkout/checkout.service.ts assertCartOrderable):
 * the buyer's limit, read from the 'converted' history row — the one record of how it became an order. Else null.
 */
const UNAPPROVED_LIMIT_COLUMN = `, case when o.company_id is null then null else (
    select u.spend_limit_minor from users u where u.id = o.user_id and u.company_id = o.company_id
      and (select fs.is_default and not fs.allow_order from order_state_history h join flow_states fs on fs.id = h.from_state_id
           where h.order_id = o.id and h.event = 'converted' order by h.id desc limit 1)) end as unapproved_limit_minor`;

function aboveSpendLimit(totalMinor: number, limitMinor: number, currencyCode: string): DomainError {
  return new DomainError('CART_NOT_ORDERABLE', `With shipping and payment your order comes to ${formatMoney(totalMinor, currencyCode)}, above your spend limit of ${formatMoney(limitMinor, currencyCode)}, and it has not been approved. Choose a cheaper shipping or payment method, or change your basket to stay within the limit. Nothing was charged.`);
}

function totalChanged(shownMinor: number, nowMinor: number, currencyCode: string): DomainError {
  return new DomainError('CONFLICT', `The total changed since this page was shown: it is now ${formatMoney(nowMinor, currencyCode)}, not ${formatMoney(shownMinor, currencyCode)} (a price or a fee changed). Nothing was charged. Please check your order below and place it again.`);
}

export function orderChanged(): DomainError {
  return new DomainError('CONFLICT', 'Your order changed after you reviewed it (in another window, perhaps), so it was not placed and nothing was charged. Please check it and place it again.');
}

/**
 * Whether the locked order may be placed: an order in checkout, a quote offered, not answered and not expired, or an
 * order the system is placing (a recurring order: built, numbered and in its flow, never a basket).
 */
function placeable(order: LockedOrder, what: 'basket' | 'quote' | 'placing'): boolean {
  if (what === 'quote') return order.type === 'quote' && order.quote_open;
  return order.type === 'order' && order.basket_status === (what === 'basket' ? 'basket' : null);
}

/** Matches no basket: a guest without a basket cookie can only reach orders placed in this browser session. */
const NO_TOKEN = '00000000-0000-0000-0000-000000000000';

interface LockedOrder extends PricingRow {
  id: string; number: string; type: string; basket_status: string | null; completed: boolean; version: number;
  billing_name: string; billing_address: string; billing_zip: string; billing_city: string; billing_country: string; billing_email: string;
  currency_code: string; customer_comment: string; quote_open: boolean;
  open_attempt: { id: number; provider: PaymentProviderCode; expired: boolean } | null;
  /** Only where UNAPPROVED_LIMIT_COLUMN is read. */
  unapproved_limit_minor?: string | null;
}

/**
 * Locks (FOR UPDATE) and reads the order matching `where` with everything placing it needs, and its open attempt.
 * A double click waits on the lock and then finds the order placed or its attempt under way.
 */
function lockOrderSql(where: string, extraColumns = '', moreCtes = ''): string {
  return `target as (select o.* from orders o where ${where} for update)${moreCtes}
    select o.id, o.number, o.type, o.basket_status, o.completed, o.version, o.billing_name, o.billing_address, o.billing_zip, o.billing_city,
      o.billing_country, o.billing_email, o.currency_code, o.customer_comment,
      (o.quote_answer is null and o.quote_offered_at is not null and (o.quote_expires_on is null or o.quote_expires_on >= current_date)) as quote_open,
      (select json_build_object('id', a.id, 'provider', a.provider, 'expired', a.expires_at < now()) from payment_attempts a
        where a.order_id = o.id and a.status = 'reserved') as open_attempt,
      ${PRICING_COLUMNS}${extraColumns}
    from target o
    ${PRICING_JOINS}`;
}
