import { assertStaffMay } from '../accounts/access-policy';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { User } from '../accounts/account.entities';
import type { FlowService } from '../flows/flow.service';
import type { Totals } from '../pricing/pricing';
import { FlowState } from '../flows/flow.entities';
import { recordHistory, type Actor } from '../orders/order-lifecycle';
import { Order } from '../orders/order.entities';
import type { PaymentService } from '../payments/payment.service';
import { DomainError, type DomainErrorCode, invalid, notFound } from '../shared/errors';
import { formatMoney, vatOf } from '../shared/money';
import { API_SCOPES, ApiKey, type ApiScope } from './api.entities';
import { replicaReads } from '../db/replicas';
import { decodeCursor, encodeCursor, isExactTimestamp, type Cursor } from '../shared/cursor';

/** Who is calling: the API key that authenticated the request. */
/** An API key: its scopes say what it may call; it acts with the staff role of the staff user who created it (`ownerUserId`). */
export interface ApiCaller { keyId: number; name: string; scopes: ApiScope[]; ownerUserId: number | null }

/** A write's answer: status and JSON body. */
export interface ApiAnswer { status: number; body: unknown }
/**
 * What a write has set in motion: once a payment provider may have acted, `unknownOutcome` is the answer a failure
 * gets (and stores for the Idempotency-Key) instead of a 5xx that would let a retry call the provider again.
 */
export interface WriteProgress { unknownOutcome: DomainError | null }
/** The answer as sent, serialized once; `replayed` when it is the stored answer to an earlier request with the same key. */
export interface StoredAnswer { status: number; json: string; replayed: boolean }

/** A DomainError with a finer code for API clients (e.g. IDEMPOTENCY_KEY_REUSED); the status still comes from `code`. */
export class ApiError extends DomainError {
  constructor(code: DomainErrorCode, readonly apiCode: string, message: string, fields: Record<string, string> = {}) {
    super(code, message, fields);
    this.name = 'ApiError';
  }
}

export const KEY_PREFIX = 'of_live_';
/** of_live_ + 32 random bytes, base64url (43 characters). */
const KEY_FORMAT = /^of_live_[A-Za-z0-9_-]{43}$/;
const LAST_USED_RESOLUTION_MS = 60_000;
const keyInUse = () => new ApiError('CONFLICT', 'IDEMPOTENCY_KEY_IN_USE',
  'A request with this Idempotency-Key is still being processed. Retry in a moment: you will get that request\'s answer.');
/** How long a repeat of a claimed request waits for the first one's answer (polling, no lock held), and how often it looks. */
const CLAIM_WAIT_MS = 10_000;
const CLAIM_POLL_MS = 25;
export const MAX_PAGE_SIZE = 200;

export interface OrderListQuery { changedSince?: string; state?: number; shop?: string; exported?: boolean; cursor?: string; limit: number }
export interface StateChangeInput { stateId: number; expectedVersion?: number }
export interface TrackingInput { trackingNumber: string; trackingUrl?: string | null }

export interface ApiAddress { name: string; company: string; address: string; address2: string; zip: string; city: string; country: string; region: string; phone: string; email: string }
export interface ApiOrderSummary {
  number: string;
  shopId: string;
  state: { id: number; name: string; flowId: number; flowName: string } | null;
  version: number;
  createdAt: string;
  completedAt: string | null;
  updatedAt: string;
  currencyCode: string;
  totalMinor: number;
  captureState: string | null;
  paymentStatus: string;
  capturedMinor: number;
  refundedMinor: number;
  exported: boolean;
  trackingNumber: string | null;
  trackingUrl: string | null;
  customer: { name: string; email: string; customerNumber: string | null };
}
export interface ApiOrderLine {
  productNumber: string; productName: string; unit: string; quantity: number; unitPriceMinor: number; vatRateBp: number;
  discountMinor: number; totalExclVatMinor: number; totalMinor: number;
}
export interface ApiOrder extends ApiOrderSummary {
  billingAddress: ApiAddress;
  deliveryAddress: ApiAddress;
  shippingMethod: { code: string; name: string } | null;
  paymentMethod: { code: string; name: string } | null;
  voucherCode: string;
  customerComment: string;
  lines: ApiOrderLine[];
  totals: {
    subtotalMinor: number; discountMinor: number; shippingFeeMinor: number; paymentFeeMinor: number;
    totalExclVatMinor: number; vatMinor: number; totalMinor: number;
    vat: { rateBp: number; netMinor: number; vatMinor: number }[];
  };
}
export interface ApiOrderPage { data: ApiOrderSummary[]; nextCursor: string | null }
/**
 * What a write answers about the order to a key that may not read orders: the facts the write changed, nothing
 * about the customer, the addresses or the lines.
 */
export interface ApiOrderRef {
  number: string; version: number; state: ApiOrderSummary['state']; paymentStatus: string; captureState: string | null;
  capturedMinor: number; exported: boolean; trackingNumber: string | null;
}
/** The full order for a key with orders:read; otherwise the reference only. */
export interface ApiWriteResult { message: string; order: ApiOrder | ApiOrderRef }

type Row = Record<string, any>;

/** Placed orders: what the API shows and acts on. Carts, orders still in checkout and deleted orders are not found. */
const PLACED = `o.type = 'order' and o.completed and not o.deleted`;
const SUMMARY_COLUMNS = `o.id, o.number, o.shop_id, o.version, o.created_at, o.completed_at, o.updated_at, o.currency_code, o.total_minor,
  o.capture_state, o.payment_status, o.captured_minor, o.refunded_minor, o.exported, o.api_tracking_number, o.tracking_url,
  o.billing_name, o.billing_email, o.state_id, s.name as state_name, f.id as flow_id, f.name as flow_name, c.customer_number,
  to_char(o.order_updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as cursor_at`;
const SUMMARY_JOINS = `left join flow_states s on s.id = o.state_id left join flows f on f.id = s.flow_id left join companies c on c.id = o.company_id`;

/**
 * API keys and the JSON API's use cases (orders changed since, one order, state, tracking, capture, exported).
 * State changes go through FlowService and captures through PaymentService, so the API follows the same rules as
 * the staff pages; both are passed in by the routes (see src/integration/api.routes.ts).
 */
export class ApiService {
  constructor(private readonly orm: MikroORM) {}

  private get em(): EntityManager {
    return this.orm.em as EntityManager;
  }

  // ——— keys (staff) ———

  async listKeys(): Promise<ApiKey[]> {
    const keys = await this.em.find(ApiKey, {}, { populate: ['createdBy', 'revokedBy'], orderBy: { createdAt: 'desc', id: 'desc' } });
    return [...keys.filter((k) => !k.revokedAt), ...keys.filter((k) => k.revokedAt)];
  }

  /** Creates a key; the secret is returned this once and only its hash is stored. */
  async createKey(input: { name: string; scopes: ApiScope[] }, staffUserId: number): Promise<{ key: ApiKey; secret: string }> {
    const name = input.name.trim();
    const scopes = API_SCOPES.filter((s) => input.scopes.includes(s));
    if (!scopes.length) throw invalid('Choose at least one permission.', { scopes: 'choose at least one' });
    return this.em.transactional(async (em) => {
      const [clash] = await em.execute<{ id: number }[]>('select id from api_keys where lower(trim(name)) = lower(?) and revoked_at is null', [name]);
      if (clash) throw invalid(`An active key is already called “${name}”. Choose another name, or revoke that key first.`, { name: 'is already used by an active key' });
      const secret = KEY_PREFIX + randomBytes(32).toString('base64url');
      const key = em.create(ApiKey, {
        name, scopes, prefix: secret.slice(0, KEY_PREFIX.length + 8), secretHash: sha256(secret), createdBy: staffUserId, createdAt: new Date(),
      });
      await em.flush();
      return { key, secret };
    });
  }

  /** Revokes a key at once: its next request is refused. Revoking twice changes nothing. */
  async revokeKey(id: number, staffUserId: number): Promise<{ key: ApiKey; alreadyRevoked: boolean }> {
    return this.em.transactional(async (em) => {
      const key = await em.findOne(ApiKey, id);
      if (!key) throw notFound('The API key');
      if (key.revokedAt) return { key, alreadyRevoked: true };
      key.revokedAt = new Date();
      key.revokedBy = em.getReference(User, staffUserId);
      await em.flush();
      return { key, alreadyRevoked: false };
    });
  }

  // ——— authentication ———

  /** `Authorization: Bearer of_live_…` → the key's caller; UNAUTHENTICATED when missing, unknown or revoked. */
  async authenticate(authorization: string | undefined): Promise<ApiCaller> {
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization ?? '');
    if (!match) throw new ApiError('UNAUTHENTICATED', 'UNAUTHENTICATED', 'Send your API key in the Authorization header: “Authorization: Bearer of_live_…”.');
    const token = match[1];
    const rejected = new ApiError('UNAUTHENTICATED', 'UNAUTHENTICATED', 'The API key is not valid.');
    if (!KEY_FORMAT.test(token)) throw rejected;
    const [row] = await this.em.execute<{ id: number; name: string; scopes: ApiScope[]; revoked_at: Date | null; last_used_at: Date | null; created_by_user_id: number | null }[]>(
      'select id, name, scopes, revoked_at, last_used_at, created_by_user_id from api_keys where secret_hash = ?', [sha256(token)]);
    if (!row) throw rejected;
    if (row.revoked_at) throw new ApiError('UNAUTHENTICATED', 'UNAUTHENTICATED', 'This API key has been revoked.');
    // "Last used" to the minute: no write on every request.
    if (!row.last_used_at || Date.now() - new Date(row.last_used_at).getTime() > LAST_USED_RESOLUTION_MS) {
      await this.em.execute('update api_keys set last_used_at = now() where id = ?', [row.id]);
    }
    return { keyId: row.id, name: row.name, scopes: row.scopes, ownerUserId: row.created_by_user_id == null ? null : Number(row.created_by_user_id) };
  }

  assertScope(caller: ApiCaller, scope: ApiScope): void {
    if (!caller.scopes.includes(scope)) {
      throw new ApiError('FORBIDDEN', 'FORBIDDEN', `The API key “${caller.name}” may not do this: it needs the permission “${scope}”.`);
    }
  }

  // ——— idempotency ———

  /**
   * Runs a write at most once per (API key, Idempotency-Key). A different request with a used key is refused; a
   * repeat gets the stored answer. `run` returns the answer to store (errors the client caused included).
   *
   * 'one_transaction' (writes without a provider call): the key's row is inserted in the same transaction as the
   * write, so a concurrent request with the same key waits on the unique constraint until the first commits, then
   * replays its answer; an exception rolls everything back, key row included.
   *
   * 'claimed' (a capture, which calls the payment provider): no transaction may stay open across that call, so the
   * key is claimed and committed first, the write runs in its own transactions (the payment desk's reserve → call →
   * confirm), and the answer is stored after. A concurrent request with the same key waits — holding no lock,
   * polling the claim — for the answer and replays it; still unanswered after CLAIM_WAIT_MS it is refused with 409
   * IDEMPOTENCY_KEY_IN_USE (retry later). An exception (a 5xx: the provider certainly did nothing, see WriteProgress)
   * drops the claim, so the request may be retried; if even storing the answer fails, the claim stays (never run twice).
   */
  async idempotent(caller: ApiCaller, idempotencyKey: string | null, requestHash: string, run: () => Promise<ApiAnswer>, mode: 'one_transaction' | 'claimed' = 'one_transaction'): Promise<StoredAnswer> {
    if (!idempotencyKey) {
      const answer = await run();
      return { status: answer.status, json: JSON.stringify(answer.body), replayed: false };
    }
    if (mode === 'claimed') return this.claimed(caller, idempotencyKey, requestHash, run);
    return this.em.transactional(async (tx) => {
      const claim = await this.claim(tx, caller, idempotencyKey, requestHash);
      if ('replay' in claim) return claim.replay;
      if (!claim.id) throw keyInUse();
      return this.answer(tx, claim.id, await run());
    });
  }

  /** Claims the key (its row inserted), or answers the stored response; `id: null` while another request holds the claim. */
  private async claim(em: EntityManager, caller: ApiCaller, idempotencyKey: string, requestHash: string): Promise<{ id: number | null } | { replay: StoredAnswer }> {
    const [inserted] = await em.execute<{ id: number }[]>(
      `insert into api_idempotency_keys (api_key_id, idempotency_key, request_hash) values (?, ?, ?)
       on conflict (api_key_id, idempotency_key) do nothing returning id`, [caller.keyId, idempotencyKey, requestHash]);
    if (inserted) return { id: inserted.id };
    const [prior] = await em.execute<{ request_hash: string; response_status: number | null; response_body: string }[]>(
      'select request_hash, response_status, response_body from api_idempotency_keys where api_key_id = ? and idempotency_key = ?',
      [caller.keyId, idempotencyKey]);
    if (!prior) return { id: null }; // the other request dropped its claim just now: claim again
    if (prior.request_hash !== requestHash) {
      throw new ApiError('VALIDATION', 'IDEMPOTENCY_KEY_REUSED',
        'This Idempotency-Key was already used for a different request. Use a new key for each new request.',
        { 'Idempotency-Key': 'was already used for a different request' });
    }
    if (prior.response_status == null) return { id: null };
    return { replay: { status: prior.response_status, json: prior.response_body, replayed: true } };
  }

  private async claimed(caller: ApiCaller, idempotencyKey: string, requestHash: string, run: () => Promise<ApiAnswer>): Promise<StoredAnswer> {
    const until = Date.now() + CLAIM_WAIT_MS;
    let id: number;
    for (;;) {
      const claim = await this.claim(this.em, caller, idempotencyKey, requestHash);
      if ('replay' in claim) return claim.replay;
      if (claim.id) { id = claim.id; break; }
      if (Date.now() > until) {
        throw keyInUse();
      }
      await sleep(CLAIM_POLL_MS);
    }
    let answer: ApiAnswer;
    try {
      answer = await run();
    } catch (e) {
      await this.em.execute('delete from api_idempotency_keys where id = ? and response_status is null', [id]);
      throw e;
    }
    return this.answer(this.em, id, answer);
  }

  /** Stores the answer as the exact text sent, so a replay is byte for byte the first answer. */
  private async answer(em: EntityManager, id: number, answer: ApiAnswer): Promise<StoredAnswer> {
    const json = JSON.stringify(answer.body);
    await em.execute('update api_idempotency_keys set response_status = ?, response_body = ? where id = ?', [answer.status, json, id]);
    return { status: answer.status, json, replayed: false };
  }

  // ——— reads ———

  /** Placed orders, oldest change first, paged on (updated_at, id): a cursor continues exactly after the last row. */
  async listOrders(q: OrderListQuery): Promise<ApiOrderPage> {
    const where = [PLACED];
    const params: unknown[] = [];
    // order_updated_at: updated_at of an order, the column orders_api_changed_idx holds (see the Order entity).
    if (q.changedSince) { where.push('o.order_updated_at >= ?::timestamptz'); params.push(q.changedSince); }
    if (q.state != null) { where.push('o.state_id = ?'); params.push(q.state); }
    if (q.shop) { where.push('o.shop_id = ?'); params.push(q.shop); }
    if (q.exported != null) { where.push('o.exported = ?'); params.push(q.exported); }
    if (q.cursor) {
      const after = feedCursor(q.cursor);
      where.push('(o.order_updated_at, o.id) > (?::timestamptz, ?::bigint)');
      params.push(after.key, after.id);
    }
    const limit = Math.min(Math.max(1, q.limit), MAX_PAGE_SIZE);
    const rows = await replicaReads(this.orm).execute<Row[]>(
      `select ${SUMMARY_COLUMNS} from orders o ${SUMMARY_JOINS} where ${where.join(' and ')} order by o.order_updated_at, o.id limit ${limit + 1}`, params);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { data: page.map(summaryOf), nextCursor: rows.length > limit && last ? encodeCursor({ key: last.cursor_at, id: String(last.id) }) : null };
  }

  async order(number: string): Promise<ApiOrder> {
    const [row] = await this.em.execute<Row[]>(
      `select ${SUMMARY_COLUMNS}, o.totals, o.voucher_code, o.customer_comment, o.delivery_same_as_billing,
              o.subtotal_minor, o.discount_minor, o.shipping_fee_minor, o.payment_fee_minor, o.total_excl_vat_minor, o.vat_minor,
              ${['billing', 'delivery'].flatMap((p) => ADDRESS_COLUMNS.map((f) => `o.${p}_${f}`)).join(', ')},
              sm.code as shipping_code, sm.name as shipping_name, pm.code as payment_code, pm.name as payment_name
       from orders o ${SUMMARY_JOINS}
       left join shipping_methods sm on sm.id = o.shipping_method_id left join payment_methods pm on pm.id = o.payment_method_id
       where ${PLACED} and o.number = ?`, [number]);
    if (!row) throw notFound(`Order ${number}`);
    const lines = await this.em.execute<Row[]>(
      `select product_number, product_name, unit, quantity, unit_price_minor, vat_rate_bp, discount_minor
       from order_lines where order_id = ? order by id`, [row.id]);
    return detailOf(row, lines);
  }

  /** A write's answer about the order: in full only to a key that may read orders (see ApiOrderRef). */
  private async orderAnswer(caller: ApiCaller, number: string): Promise<ApiOrder | ApiOrderRef> {
    if (caller.scopes.includes('orders:read')) return this.order(number);
    const [row] = await this.em.execute<Row[]>(`select ${SUMMARY_COLUMNS} from orders o ${SUMMARY_JOINS} where ${PLACED} and o.number = ?`, [number]);
    if (!row) throw notFound(`Order ${number}`);
    const { version, state, paymentStatus, captureState, capturedMinor, exported, trackingNumber } = summaryOf(row);
    return { number, version, state, paymentStatus, captureState, capturedMinor, exported, trackingNumber };
  }

  // ——— writes (each in its own transaction, which joins the idempotency transaction when there is one) ———

  /** Moves the order through FlowService: the same rules as the staff pages (flow switch allowed, optimistic version). */
  async changeState(caller: ApiCaller, number: string, input: StateChangeInput, flows: FlowService): Promise<ApiWriteResult> {
    let orderId = 0;
    const result = await this.em.transactional(async (em) => {
      orderId = await this.placedOrderId(em, number);
      const state = await em.findOne(FlowState, { id: input.stateId });
      if (!state) throw invalid(`There is no state with id ${input.stateId}.`, { stateId: 'is not a state' });
      // The message goes into notification e-mails to the customer; the key's name is added to the history only.
      const entry = await flows.changeState({
        orderId, toStateId: input.stateId, expectedVersion: input.expectedVersion, allowFlowSwitch: true,
        actor: { userId: null, kind: 'system', source: 'api' },
      }, em);
      await em.execute('update order_state_history set message = ? where id = ?', [viaKey('Changed', caller), entry.id]);
      return { message: `${number} is now “${state.name}”.`, order: await this.orderAnswer(caller, number) };
    });
    // A void the move owes is made once its transaction has committed (inside an idempotency transaction: by the void job).
    await flows.settleAfterCommit(orderId);
    return result;
  }

  /** Stores the carrier's tracking number (and link, shown to the customer) reported by a fulfilment system. */
  async setTracking(caller: ApiCaller, number: string, input: TrackingInput): Promise<ApiWriteResult> {
    return this.em.transactional(async (em) => {
      const orderId = await this.placedOrderId(em, number, true);
      const url = input.trackingUrl ?? null;
      await em.execute(
        `update orders set api_tracking_number = ?, tracking_url = coalesce(?, tracking_url), version = version + 1, updated_at = now() where id = ?`,
        [input.trackingNumber, url, orderId]);
      await recordHistory(em, em.getReference(Order, orderId), apiActor, 'tracking_number_set',
        viaKey(`Tracking number ${input.trackingNumber}${url ? ` (${url})` : ''} set`, caller));
      await em.flush();
      return { message: `Tracking number ${input.trackingNumber} saved on ${number}.`, order: await this.orderAnswer(caller, number) };
    });
  }

  /**
   * Captures through the payment desk (same limits: never more than is left to capture, split captures allowed).
   * Once the capture is on its way to the provider, `progress.unknownOutcome` is what a failure from then on answers.
   */
  async capture(caller: ApiCaller, number: string, amountMinor: number, desk: PaymentService, progress: WriteProgress): Promise<ApiWriteResult & { amountMinor: number }> {
    // Never more than the key's creator may do on the staff pages (a key without a creator acts as the system).
    await assertStaffMay(this.em, caller.ownerUserId, 'payment.capture');
    // The desk reserves, asks the provider with no transaction open, and confirms (with an Idempotency-Key the key
    // was claimed and committed before: see idempotent's 'claimed' mode).
    const orderId = await this.placedOrderId(this.em, number);
    const outcome = await desk.captureAmount(number, amountMinor, { userId: null, source: 'api' }, (op) => {
      progress.unknownOutcome = desk.noAnswer(op, number, `The capture of ${formatMoney(op.amountMinor, op.currencyCode)} on ${number} was sent to the payment provider, but the shop failed before recording its outcome`);
    });
    await this.em.execute(
      `update order_state_history set message = message || ? where id = (
         select max(id) from order_state_history where order_id = ? and event = 'payment_captured')`, [` ${viaKey('Captured', caller)}`, orderId]);
    return { message: `${number}: ${outcome.message}`, amountMinor, order: await this.orderAnswer(caller, number) };
  }

  /** Marks the order as exported (taken over by the ERP); marking it again changes nothing. */
  async markExported(caller: ApiCaller, number: string): Promise<ApiWriteResult> {
    return this.em.transactional(async (em) => {
      const orderId = await this.placedOrderId(em, number, true);
      const changed = await em.execute<{ id: number }[]>(
        'update orders set exported = true, version = version + 1, updated_at = now() where id = ? and not exported returning id', [orderId]);
      if (changed.length) {
        await recordHistory(em, em.getReference(Order, orderId), apiActor, 'exported', viaKey('Marked as exported', caller));
        await em.flush();
      }
      return { message: changed.length ? `${number} is marked as exported.` : `${number} was already marked as exported.`, order: await this.orderAnswer(caller, number) };
    });
  }

  /** Removes idempotency records older than the given age (clients may retry a write for that long). */
  async pruneIdempotencyKeys(olderThanHours = 24 * 7): Promise<number> {
    const rows = await this.em.execute<{ id: number }[]>(
      `delete from api_idempotency_keys where created_at < now() - (? * interval '1 hour') returning id`, [olderThanHours]);
    return rows.length;
  }

  // ——— internals ———

  /** The id of a placed order; with `lock`, the row stays locked until the transaction ends. */
  private async placedOrderId(em: EntityManager, number: string, lock = false): Promise<number> {
    const [row] = await em.execute<{ id: string }[]>(`select o.id from orders o where ${PLACED} and o.number = ?${lock ? ' for update' : ''}`, [number]);
    if (!row) throw notFound(`Order ${number}`);
    return Number(row.id);
  }
}

const apiActor: Actor = { userId: null, kind: 'system', source: 'api' };
const viaKey = (what: string, caller: ApiCaller) => `${what} through the API by key “${caller.name}” (#${caller.keyId}).`;

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The cursor is the last row's exact (order_updated_at, id) — the order's updated_at — microseconds included (shared/cursor.ts). */
function feedCursor(raw: string): Cursor {
  const cursor = decodeCursor(raw, isExactTimestamp);
  if (!cursor) throw invalid('The cursor is not valid; use nextCursor from the previous page as it is.', { cursor: 'is not a cursor from this API' });
  return cursor;
}

const ADDRESS_COLUMNS = ['name', 'company', 'address', 'address2', 'zip', 'city', 'country', 'region', 'phone', 'email'] as const;
const iso = (d: unknown) => (d ? new Date(d as string).toISOString() : null);
const int = (v: unknown) => Number(v ?? 0);

function summaryOf(r: Row): ApiOrderSummary {
  return {
    number: r.number,
    shopId: r.shop_id,
    state: r.state_id ? { id: r.state_id, name: r.state_name, flowId: r.flow_id, flowName: r.flow_name } : null,
    version: r.version,
    createdAt: iso(r.created_at)!,
    completedAt: iso(r.completed_at),
    updatedAt: r.cursor_at,
    currencyCode: r.currency_code,
    totalMinor: int(r.total_minor),
    captureState: r.capture_state ?? null,
    paymentStatus: r.payment_status,
    capturedMinor: int(r.captured_minor),
    refundedMinor: int(r.refunded_minor),
    exported: r.exported,
    trackingNumber: r.api_tracking_number ?? null,
    trackingUrl: r.tracking_url ?? null,
    customer: { name: r.billing_name, email: r.billing_email, customerNumber: r.customer_number ?? null },
  };
}

function addressOf(r: Row, prefix: 'billing' | 'delivery'): ApiAddress {
  return Object.fromEntries(ADDRESS_COLUMNS.map((f) => [f, r[`${prefix}_${f}`] ?? ''])) as unknown as ApiAddress;
}

function detailOf(r: Row, lines: Row[]): ApiOrder {
  const t = r.totals as Totals | null;
  const billing = addressOf(r, 'billing');
  return {
    ...summaryOf(r),
    billingAddress: billing,
    deliveryAddress: r.delivery_same_as_billing ? billing : addressOf(r, 'delivery'),
    shippingMethod: r.shipping_code ? { code: r.shipping_code, name: r.shipping_name } : null,
    paymentMethod: r.payment_code ? { code: r.payment_code, name: r.payment_name } : null,
    voucherCode: r.voucher_code,
    customerComment: r.customer_comment,
    lines: lines.map((l, i) => {
      const net = Math.max(0, l.quantity * int(l.unit_price_minor) - int(l.discount_minor));
      return {
        productNumber: l.product_number, productName: l.product_name, unit: l.unit, quantity: l.quantity,
        unitPriceMinor: int(l.unit_price_minor), vatRateBp: l.vat_rate_bp, discountMinor: int(l.discount_minor),
        totalExclVatMinor: t?.lines?.[i]?.netMinor ?? net, totalMinor: t?.lines?.[i]?.grossMinor ?? net + vatOf(net, l.vat_rate_bp),
      };
    }),
    totals: {
      subtotalMinor: t?.subtotalMinor ?? int(r.subtotal_minor),
      discountMinor: t?.discountMinor ?? int(r.discount_minor),
      shippingFeeMinor: t?.shippingFeeInclVatMinor ?? int(r.shipping_fee_minor),
      paymentFeeMinor: t?.paymentFeeInclVatMinor ?? int(r.payment_fee_minor),
      totalExclVatMinor: int(r.total_excl_vat_minor),
      vatMinor: int(r.vat_minor),
      totalMinor: int(r.total_minor),
      vat: (t?.vatGroups ?? []).map((g) => ({ rateBp: g.rateBp, netMinor: g.netMinor, vatMinor: g.vatMinor })),
    },
  };
}
