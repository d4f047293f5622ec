import { CheckConstraintViolationException, LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { OutboxService } from '../mail/outbox.service';
import { recordHistory, type Actor } from '../orders/order-lifecycle';
import { Order } from '../orders/order.entities';
import { afterPendingOperations, assertNoOperationPending, claimEffect, leftToCapture, type RecoveredOperation } from '../payments/payment-operations';
import type { PaymentService } from '../payments/payment.service';
import { DomainError, invalid, notFound } from '../shared/errors';
import { divRound, formatMoney, withVat } from '../shared/money';
import {
  PARTLY_SHIPPED, SHIPMENT_STATUS_LABELS, SHIPPED, Shipment, ShipmentLine, TrackAndTraceConfig, type ShipmentStatus,
} from './shipment.entities';

/** Staff shipping from the order details page. */
export interface ShipmentActor { userId: number | null }
/** The payment desk captures, the outbox mails; passed in by the routes until the constructor takes them. */
export interface ShipmentDeps { payments: PaymentService; outbox: OutboxService }

export interface NewShipment {
  /** Units to ship per order line id; lines left out (or 0) are not in this shipment. */
  quantities: { lineId: number; quantity: number }[];
  trackingNumber: string;
  trackAndTraceId: number | null;
}
export interface TrackingInput { trackingNumber: string; trackAndTraceId: number | null }
export interface TrackAndTraceInput { name: string; urlTemplate: string }

/** Why a shipment (or a fee capture) was refused; all are 409 with the reason. */
export type ShipmentRefusal =
  | 'NOT_PLACED'
  | 'CANCELLED'
  | 'ALREADY_SHIPPED'
  | 'NOTHING_SELECTED'
  | 'OVER_SHIPPING'
  | 'FEE_NOT_CAPTURABLE'
  | 'TRACKING_ALREADY_SET';

export class ShipmentRefused extends DomainError {
  constructor(readonly refusal: ShipmentRefusal, message: string, fields: Record<string, string> = {}) {
    super('CONFLICT', message, fields);
    this.name = 'ShipmentRefused';
  }
}

export interface ShipmentOutcome { number: string; shipmentNo: number; message: string }

/** How shipping relates to the payment: card orders capture per shipment; the others capture nothing here. */
export type ShipmentCaptureMode = 'per_shipment' | 'not_supported' | 'already_captured' | 'none';

export interface ShipmentLineView { productNumber: string; productName: string; unit: string; quantity: number; valueMinor: number }
export interface ShipmentView {
  id: number; no: number; createdAt: Date; createdBy: string | null;
  lines: ShipmentLineView[]; units: number;
  trackingNumber: string; trackingUrl: string | null; carrier: string | null;
  itemsValueMinor: number; capturedMinor: number; includesShippingFee: boolean; isLast: boolean;
}
export interface ShippableLine { id: number; productNumber: string; productName: string; unit: string; ordered: number; shipped: number; left: number }

/** Everything the shipments box on the staff order details page shows, and which of its forms apply. */
export interface ShipmentBox {
  number: string;
  status: ShipmentStatus;
  statusLabel: string;
  currencyCode: string;
  lines: ShippableLine[];
  unitsLeft: number;
  shipments: ShipmentView[];
  configs: { id: number; name: string }[];
  captureMode: ShipmentCaptureMode;
  captureNote: string;
  fee: { amountMinor: number; captured: boolean; capturedWithShipment: number | null; note: string };
  /** Why no shipment can be created (not placed, cancelled, everything shipped), else null. */
  blocked: string | null;
  can: { ship: boolean; captureFee: boolean };
}

export interface TrackAndTraceRow { id: number; name: string; urlTemplate: string; shipments: number; updatedAt: Date }

/** The parameters a track & trace URL may use, and what each is filled with. */
export const TRACKING_PARAMETERS: Record<string, string> = {
  TrackingNumber: 'the tracking number given with the shipment',
  Zip: 'the postcode of the delivery address',
  Country: 'the country of the delivery address',
  OrderNumber: 'the order id, e.g. ORDER1001',
};
const SAMPLE_PARAMETERS: Record<string, string> = { TrackingNumber: '00370726201234567', Zip: '2100', Country: 'DK', OrderNumber: 'ORDER1001' };

interface LockedOrder { order: Order; stateRole: string | null; shipmentStatus: ShipmentStatus; feeCaptured: boolean }
interface LineRow { id: number; productNumber: string; productName: string; unit: string; quantity: number; shipped: number; grossMinor: number; chargeMinor: number }

/**
 * Partial shipments and track & trace. Creating a shipment runs in one transaction with the order row locked
 * (SELECT … FOR NO KEY UPDATE, so two staff shipping the same order are served one after the other): it checks
 * the quantities against what is left to ship, raises each line's shipped quantity (the database refuses more than
 * was ordered), captures the value of the shipped goods through the payment desk (joining this transaction), sets
 * the order's shipment status, writes the history and queues the customer's mail. All of it, or nothing.
 */
export class ShipmentService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  // ——— shipments ———

  /**
   * Ships some units. When the shipment captures (card orders), the capture is reserved under the order's lock and
   * committed, the provider is asked with no transaction open, and the shipment is written together with the capture's
   * confirmation — so a refused capture leaves no shipment, and no lock waits on the provider. A shipment that captures
   * nothing is written at once. Each shipment's capture is a record_effects row (one per shipment number): once.
   */
  async createShipment(number: string, input: NewShipment, actor: ShipmentActor, deps: ShipmentDeps): Promise<ShipmentOutcome> {
    const wanted = mergeQuantities(input.quantities);
    const first = await afterPendingOperations(() => this.em.transactional(async (em) => {
      const locked = await this.lockOrder(em, number);
      const plan = await this.plan(em, locked, wanted, input);
      if (!plan.captureMinor) return { done: await this.write(em, locked, plan, input, actor, deps) };
      // The shipment's capture is claimed with its reservation: a capture the recovery job confirms later (its answer
      // was lost) stays this shipment number's, so shipping again credits it instead of capturing it twice.
      const claim = plan.prepaidMinor ? null : await claimShipmentCapture(em, locked.order.id, plan.shipmentNo, plan.captureMinor);
      return { reserved: await deps.payments.reserveCapture(em, locked.order, plan.captureMinor, payer(actor), claim) };
    }));
    if (first.done) return first.done;
    const op = first.reserved!;
    const result = await deps.payments.askProvider(op);
    if (!result.success) throw await deps.payments.refusedBy(op, result);
    try {
      return await this.em.transactional(async (em) => {
        const locked = await this.lockOrder(em, number);
        const plan = await this.plan(em, locked, wanted, input, op.id);
        if (plan.captureMinor !== op.amountMinor) throw new DomainError('CONFLICT', `${number} changed while the payment provider captured; reload it and ship again.`);
        await deps.payments.confirmIn(em, locked.order, op, result);
        return this.write(em, locked, plan, input, actor, deps);
      });
    } catch (e) {
      // The money was captured: record that, whatever became of the shipment.
      await deps.payments.settle(op, result);
      throw e;
    }
  }

  /** What a shipment of `wanted` would be, checked under the order's lock: lines, value, whether it is the last, what it captures. */
  private async plan(em: EntityManager, locked: LockedOrder, wanted: Map<number, number>, input: NewShipment, ownOperationId = 0) {
    const { order } = locked;
    this.assertShippable(locked);
    const config = await this.trackingConfig(em, input);
    const lines = await this.lines(em, order);
    if (lines.every((l) => l.shipped >= l.quantity)) throw new ShipmentRefused('ALREADY_SHIPPED', `Every item of ${order.number} has been shipped already.`);

    // What is asked for, checked against what is left — under the lock, so nobody else ships meanwhile.
    const byId = new Map(lines.map((l) => [l.id, l]));
    const unknown = [...wanted.keys()].filter((id) => !byId.has(id));
    if (unknown.length) throw invalid(`Please check the quantities: ${unknown.length === 1 ? 'one line is' : 'some lines are'} not part of ${order.number}. Reload the order and try again.`);
    const picked = lines.filter((l) => (wanted.get(l.id) ?? 0) > 0).map((l) => ({ line: l, quantity: wanted.get(l.id)! }));
    if (!picked.length) throw new ShipmentRefused('NOTHING_SELECTED', `Nothing was selected for the shipment of ${order.number}: enter how many units of which lines are shipped.`);
    const over = picked.filter((p) => p.quantity > p.line.quantity - p.line.shipped);
    if (over.length) throw overShipping(order.number, over.map((p) => ({ ...p.line, asked: p.quantity })));

    const valued = picked.map((p) => ({ ...p, valueMinor: valueOfUnits(p.line.chargeMinor, p.line.quantity, p.line.shipped, p.quantity) }));
    const itemsValueMinor = valued.reduce((s, p) => s + p.valueMinor, 0);
    const isLast = lines.every((l) => l.shipped + (wanted.get(l.id) ?? 0) === l.quantity);
    const capture = captureModeOf(order);
    const left = leftToCapture(order);
    const { shipmentNo, prepaidMinor } = await this.prepaid(em, order, ownOperationId);
    const captureMinor = capture === 'per_shipment' ? (isLast ? left : Math.min(Math.max(0, itemsValueMinor - prepaidMinor), left)) : 0;
    const includesShippingFee = capture === 'per_shipment' && isLast && !locked.feeCaptured && shippingFeeOf(order) > 0 && captureMinor + prepaidMinor > 0;
    return { config, valued, itemsValueMinor, isLast, capture, captureMinor, prepaidMinor, shipmentNo, includesShippingFee };
  }

  /**
   * The next shipment's number, and what was captured for it already: a shipment capture whose answer was lost and
   * that the recovery job confirmed (its claim stays with the shipment number; a pending one makes the caller wait).
   * The capture being confirmed (`ownOperationId`) is not prepaid: it is the one this shipment makes.
   */
  private async prepaid(em: EntityManager, order: Order, ownOperationId: number): Promise<{ shipmentNo: number; prepaidMinor: number }> {
    const [row] = await em.execute<{ n: number; prepaid: string | null; pending: boolean }[]>(
      `select n, e.amount_minor as prepaid, exists (select 1 from payment_operations p where p.effect_id = e.id and p.status = 'pending') as pending
       from (select (coalesce(max(shipment_no), 0) + 1)::int as n from shipments where order_id = ?) next
       left join record_effects e on e.order_id = ? and e.effect = 'shipment_capture' and e.line_id = next.n
         and not exists (select 1 from payment_operations p where p.effect_id = e.id and p.id = ?)`, [order.id, order.id, ownOperationId]);
    if (row.pending) await assertNoOperationPending(em, order);
    return { shipmentNo: row.n, prepaidMinor: Number(row.prepaid ?? 0) };
  }

  /** Writes the planned shipment (its capture, if any, confirmed in this transaction): shipped quantities, shipment, status, history, mail. */
  private async write(em: EntityManager, locked: LockedOrder, plan: Awaited<ReturnType<ShipmentService['plan']>>, input: NewShipment, actor: ShipmentActor, deps: ShipmentDeps): Promise<ShipmentOutcome> {
    const { order } = locked;
    const { config, valued, itemsValueMinor, isLast, capture, includesShippingFee, shipmentNo: n } = plan;
    const captureMinor = plan.captureMinor + plan.prepaidMinor;
    // Raise the shipped quantities first: the check constraint refuses over-shipping even if the guard above were wrong.
    for (const p of [...valued].sort((a, b) => a.line.id - b.line.id)) {
      const rows = await this.raiseShipped(em, order, p.line, p.quantity);
      if (!rows) throw overShipping(order.number, [{ ...p.line, asked: p.quantity }]);
    }
    const trackingNumber = input.trackingNumber.trim();
    const trackingUrl = config && trackingNumber ? buildTrackingUrl(config.urlTemplate, trackingParameters(order, trackingNumber)) : null;
    const shipment = em.create(Shipment, {
      order, shipmentNo: n, trackingNumber, trackAndTrace: config, trackingUrl, itemsValueMinor, isLast,
      createdBy: actor.userId, createdAt: new Date(), capturedMinor: captureMinor, includesShippingFee,
    });
    for (const p of valued) em.create(ShipmentLine, { shipment, orderLine: p.line.id, quantity: p.quantity, valueMinor: p.valueMinor });
    await em.flush();
    // Capture-on-ship happens once per shipment, whatever else is retried (record_effects_once): claimed with the
    // capture's reservation, its amount is now the shipment's.
    if (captureMinor) {
      await em.execute(`insert into record_effects (order_id, effect, line_id, amount_minor) values (?, 'shipment_capture', ?, ?)
        on conflict on constraint record_effects_once do update set amount_minor = excluded.amount_minor`, [order.id, n, captureMinor]);
    }

    const feeInclVatMinor = shippingFeeOf(order);
    const captureSummary = capture === 'per_shipment'
      ? captureMinor > 0 ? `captured ${money(captureMinor, order)}${includesShippingFee ? ` incl. the shipping fee of ${money(feeInclVatMinor, order)}` : ''}` : 'nothing left to capture'
      : capture === 'not_supported' ? `nothing captured (${methodNameOf(order)}: the payment is settled outside the shop)`
        : capture === 'already_captured' ? 'nothing captured (the payment was captured already)' : 'nothing captured';

    const status: ShipmentStatus = isLast ? SHIPPED : PARTLY_SHIPPED;
    await em.execute('update orders set shipment_status = ?, shipping_fee_captured = shipping_fee_captured or ? where id = ?', [status, includesShippingFee, order.id]);
    // Through the entity, so its version moves on like after any other change to the order.
    order.updatedAt = new Date();
    if (trackingUrl) order.trackingUrl = trackingUrl;

    const units = valued.map((p) => `${p.quantity} × ${p.line.productNumber}`).join(', ');
    const tracking = trackingNumber ? ` Tracking number ${trackingNumber}${config ? ` (${config.name})` : ''}.` : '';
    await recordHistory(em, order, staffActor(actor), 'shipment_created',
      `Shipment ${n}: ${units}, worth ${money(itemsValueMinor, order)}; ${captureSummary}.${tracking} The order is ${SHIPMENT_STATUS_LABELS[status].toLowerCase()}.`);
    await em.flush();

    if (trackingNumber) await this.queueShippedMail(em, deps.outbox, order, shipment, valued.map((p) => ({ ...p.line, quantity: p.quantity })), config);
    return {
      number: order.number, shipmentNo: n,
      message: `shipment ${n} created (${units}); ${captureSummary}. The order is ${SHIPMENT_STATUS_LABELS[status].toLowerCase()}.${trackingNumber && order.billing.email ? ` The customer is mailed the tracking ${trackingUrl ? 'link' : 'number'}.` : ''}`,
    };
  }

  /** Staff capture the shipping fee before the last shipment (seeds: "you can also decide when to capture the shipping amount"). */
  async captureShippingFee(number: string, actor: ShipmentActor, deps: ShipmentDeps): Promise<{ number: string; message: string }> {
    const op = await afterPendingOperations(() => this.em.transactional(async (em) => {
      const locked = await this.lockOrder(em, number);
      const { order } = locked;
      const fee = shippingFeeOf(order);
      const refuse = (why: string) => new ShipmentRefused('FEE_NOT_CAPTURABLE', `The shipping fee of ${order.number} cannot be captured: ${why}`);
      if (!order.completed) throw refuse('the order has not been placed.');
      if (isCancelled(locked)) throw refuse('the order has been cancelled.');
      if (fee <= 0) throw refuse('the order has no shipping fee.');
      if (locked.feeCaptured) throw refuse('it has been captured already.');
      const mode = captureModeOf(order);
      if (mode === 'not_supported') throw refuse(`${methodNameOf(order)} payments are not captured from here.`);
      if (mode !== 'per_shipment') throw refuse('the payment has been captured in full already.');
      if ((await this.lines(em, order)).every((l) => l.shipped >= l.quantity)) throw refuse('every item has been shipped already.');
      const amount = Math.min(fee, leftToCapture(order));
      if (amount <= 0) throw refuse('nothing is left to capture.');
      // Once per order, and tied to its operation: the job that settles a lost answer knows it was the fee's.
      const claim = await claimEffect(em, order, 'shipping_fee_capture', amount);
      if (claim == null) throw refuse('it has been captured already.');
      return deps.payments.reserveCapture(em, order, amount, payer(actor), claim);
    }));
    const result = await deps.payments.askProvider(op);
    if (!result.success) throw await deps.payments.refusedBy(op, result);
    return this.em.transactional(async (em) => {
      const { order } = await this.lockOrder(em, number);
      await deps.payments.confirmIn(em, order, op, result);
      await this.markFeeCaptured(em, order, staffActor(actor), op.amountMinor);
      return { number: order.number, message: `shipping fee of ${money(op.amountMinor, order)} captured; the last shipment will not capture it again.` };
    });
  }

  /**
   * A shipping fee capture whose answer was lost and that the recovery job confirmed with the provider
   * (PaymentService.recoverStale, onRecovered): the fee counts as captured, as if the answer had come — once.
   */
  async completeRecoveredFeeCapture(op: RecoveredOperation): Promise<void> {
    if (op.operation !== 'capture' || op.claim?.effect !== 'shipping_fee_capture') return;
    await this.orm.em.fork().transactional(async (em) => {
      const order = await em.findOneOrFail(Order, op.orderId, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      await this.markFeeCaptured(em, order, { userId: null, kind: 'system', source: 'system' }, op.amountMinor,
        " (the payment provider's answer was lost; confirmed with the provider afterwards)");
    });
  }

  /** The one writer of "the shipping fee was captured ahead of the last shipment": the order's flag and its history line, once. */
  private async markFeeCaptured(em: EntityManager, order: Order, actor: Actor, amountMinor: number, note = ''): Promise<void> {
    const [marked] = await em.execute(`update orders set shipping_fee_captured = true where id = ? and not shipping_fee_captured returning id`, [order.id]);
    if (!marked) return;
    order.updatedAt = new Date();
    await recordHistory(em, order, actor, 'shipping_fee_captured', `Shipping fee captured ahead of the last shipment: ${money(amountMinor, order)}${note}.`);
  }

  /** Adds the tracking number to a shipment sent without one (e.g. the carrier's label came later) and mails the customer. */
  async addTracking(number: string, shipmentNo: number, input: TrackingInput, actor: ShipmentActor, deps: ShipmentDeps): Promise<ShipmentOutcome> {
    return this.em.transactional(async (em) => {
      const { order } = await this.lockOrder(em, number);
      const shipment = await em.findOne(Shipment, { order: order.id, shipmentNo }, { populate: ['lines.orderLine'], refresh: true });
      if (!shipment) throw notFound('The shipment');
      if (shipment.trackingNumber) {
        throw new ShipmentRefused('TRACKING_ALREADY_SET', `Shipment ${shipmentNo} of ${order.number} already has the tracking number ${shipment.trackingNumber}, and the customer has been told it.`);
      }
      const trackingNumber = input.trackingNumber.trim();
      if (!trackingNumber) throw invalid('Please check tracking number: is required', { trackingNumber: 'is required' });
      const config = await this.trackingConfig(em, input);
      shipment.trackingNumber = trackingNumber;
      shipment.trackAndTrace = config;
      shipment.trackingUrl = config ? buildTrackingUrl(config.urlTemplate, trackingParameters(order, trackingNumber)) : null;
      // The order shows the latest shipment's link: only a link for the newest shipment that has one replaces it.
      const [newer] = await em.execute<{ n: number }[]>(`select 1 as n from shipments where order_id = ? and shipment_no > ? and tracking_url is not null limit 1`, [order.id, shipmentNo]);
      if (shipment.trackingUrl && !newer) order.trackingUrl = shipment.trackingUrl;
      order.updatedAt = new Date();
      await recordHistory(em, order, staffActor(actor), 'tracking_added',
        `Shipment ${shipmentNo}: tracking number ${trackingNumber}${config ? ` (${config.name})` : ''}.`);
      await em.flush();
      const lines = shipment.lines.getItems().map((l) => ({ productNumber: l.orderLine.productNumber, productName: l.orderLine.productName, unit: l.orderLine.unit, quantity: l.quantity }));
      await this.queueShippedMail(em, deps.outbox, order, shipment, lines, config);
      return {
        number: order.number, shipmentNo,
        message: `shipment ${shipmentNo} has tracking number ${trackingNumber}.${order.billing.email ? ` The customer is mailed the tracking ${shipment.trackingUrl ? 'link' : 'number'}.` : ''}`,
      };
    });
  }

  /** The shipments box of the order details page; null when the number is not an order (e.g. a cart). */
  async box(number: string): Promise<ShipmentBox | null> {
    const em = this.em;
    const order = await em.findOne(Order, { number, type: 'order', deleted: false }, { populate: ['paymentMethod'] });
    if (!order) return null;
    const [facts] = await em.execute<{ shipment_status: ShipmentStatus; shipping_fee_captured: boolean; state_role: string | null }[]>(
      `select o.shipment_status, o.shipping_fee_captured, s.role as state_role from orders o left join flow_states s on s.id = o.state_id where o.id = ?`, [order.id]);
    const locked: LockedOrder = { order, stateRole: facts.state_role, shipmentStatus: facts.shipment_status, feeCaptured: facts.shipping_fee_captured };
    const [lines, shipments, configs] = await Promise.all([
      this.lines(em, order),
      this.shipmentsOf(em, order),
      em.find(TrackAndTraceConfig, {}, { orderBy: { name: 'asc' } }),
    ]);
    const shippable = lines.map((l) => ({ id: l.id, productNumber: l.productNumber, productName: l.productName, unit: l.unit, ordered: l.quantity, shipped: l.shipped, left: l.quantity - l.shipped }));
    const unitsLeft = shippable.reduce((s, l) => s + l.left, 0);
    const mode = captureModeOf(order);
    const fee = shippingFeeOf(order);
    const feeShipment = shipments.find((s) => s.includesShippingFee) ?? null;
    const blocked = !order.completed ? `${order.number} has not been placed yet, so nothing can be shipped.`
      : isCancelled(locked) ? `${order.number} has been cancelled, so nothing can be shipped.`
      : unitsLeft === 0 ? 'Every item of this order has been shipped.' : null;
    return {
      number: order.number,
      status: locked.shipmentStatus,
      statusLabel: SHIPMENT_STATUS_LABELS[locked.shipmentStatus],
      currencyCode: order.currencyCode,
      lines: shippable,
      unitsLeft,
      shipments,
      configs: configs.map((c) => ({ id: c.id, name: c.name })),
      captureMode: mode,
      captureNote: captureNoteOf(order, mode),
      fee: {
        amountMinor: fee,
        captured: locked.feeCaptured,
        capturedWithShipment: feeShipment?.no ?? null,
        note: feeNoteOf(order, mode, fee, locked.feeCaptured, feeShipment?.no ?? null),
      },
      blocked,
      can: {
        ship: blocked == null,
        captureFee: blocked == null && mode === 'per_shipment' && fee > 0 && !locked.feeCaptured && leftToCapture(order) > 0,
      },
    };
  }

  /** One shipment of an order (its packing list), for /admin/orders/:number/shipments/:no. */
  async shipment(number: string, shipmentNo: number): Promise<{ order: Order; shipment: ShipmentView; configs: { id: number; name: string }[] }> {
    const order = await this.em.findOne(Order, { number, type: 'order', deleted: false });
    if (!order) throw notFound('The order');
    const [shipment] = await this.shipmentsOf(this.em, order, shipmentNo);
    if (!shipment) throw notFound('The shipment');
    const configs = await this.em.find(TrackAndTraceConfig, {}, { orderBy: { name: 'asc' } });
    return { order, shipment, configs: configs.map((c) => ({ id: c.id, name: c.name })) };
  }

  // ——— track & trace configurations ———

  async trackAndTraceList(): Promise<TrackAndTraceRow[]> {
    const rows = await this.em.execute<{ id: number; name: string; url_template: string; shipments: number; updated_at: Date }[]>(
      `select c.id, c.name, c.url_template, c.updated_at, (select count(*)::int from shipments s where s.track_and_trace_id = c.id) as shipments
       from track_and_trace_configs c order by lower(c.name), c.id`);
    return rows.map((r) => ({ id: r.id, name: r.name, urlTemplate: r.url_template, shipments: r.shipments, updatedAt: r.updated_at }));
  }

  async trackAndTrace(id: number): Promise<TrackAndTraceConfig> {
    const config = await this.em.findOne(TrackAndTraceConfig, id);
    if (!config) throw notFound('The track & trace configuration');
    return config;
  }

  /** Creates (id null) or updates a configuration; the URL must be http(s) and use only the known parameters. */
  async saveTrackAndTrace(id: number | null, input: TrackAndTraceInput): Promise<TrackAndTraceConfig> {
    const name = input.name.trim();
    const urlTemplate = input.urlTemplate.trim();
    const fields: Record<string, string> = {};
    if (!name) fields.name = 'is required';
    else if (name.length > 100) fields.name = 'must be at most 100 characters';
    const urlError = trackingTemplateError(urlTemplate);
    if (urlError) fields.urlTemplate = urlError;
    if (Object.keys(fields).length) throw invalidForm(fields);
    try {
      return await this.em.transactional(async (em) => {
        const clash = await em.execute<{ id: number }[]>('select id from track_and_trace_configs where lower(trim(name)) = lower(?) and id <> ?', [name, id ?? 0]);
        if (clash.length) throw invalidForm({ name: `“${name}” is taken by another configuration` });
        const config = id == null ? em.create(TrackAndTraceConfig, { name, urlTemplate, createdAt: new Date(), updatedAt: new Date() }) : await em.findOne(TrackAndTraceConfig, id);
        if (!config) throw notFound('The track & trace configuration');
        config.name = name;
        config.urlTemplate = urlTemplate;
        return config;
      });
    } catch (e) {
      // Two staff saving the same name at once: the unique index decides.
      if (e instanceof UniqueConstraintViolationException) throw invalidForm({ name: `“${name}” is taken by another configuration` });
      throw e;
    }
  }

  /** Deletes a configuration; shipments sent with it keep their tracking number and link. */
  async deleteTrackAndTrace(id: number): Promise<{ name: string; shipments: number }> {
    return this.em.transactional(async (em) => {
      const config = await em.findOne(TrackAndTraceConfig, id);
      if (!config) throw notFound('The track & trace configuration');
      const [{ n }] = await em.execute<{ n: number }[]>('select count(*)::int as n from shipments where track_and_trace_id = ?', [id]);
      em.remove(config);
      return { name: config.name, shipments: n };
    });
  }

  // ——— internals ———

  /**
   * Locks the order row and reads it fresh. FOR NO KEY UPDATE (not FOR UPDATE) still serializes shipments and
   * payment desk actions on the order, but lets the payment desk log a refused capture on its own connection (that
   * insert references the order, which needs a key-share lock) while this transaction waits for it.
   */
  private async lockOrder(em: EntityManager, number: string): Promise<LockedOrder> {
    const [row] = await em.execute<{ id: string; shipment_status: ShipmentStatus; shipping_fee_captured: boolean; state_role: string | null }[]>(
      `select o.id, o.shipment_status, o.shipping_fee_captured, s.role as state_role
       from orders o left join flow_states s on s.id = o.state_id
       where o.number = ? and o.type = 'order' and not o.deleted for no key update of o`, [number]);
    if (!row) throw notFound('The order');
    const order = await em.findOneOrFail(Order, Number(row.id), { refresh: true, populate: ['paymentMethod'] });
    return { order, stateRole: row.state_role, shipmentStatus: row.shipment_status, feeCaptured: row.shipping_fee_captured };
  }

  private assertShippable(locked: LockedOrder): void {
    const { order } = locked;
    if (!order.completed) throw new ShipmentRefused('NOT_PLACED', `${order.number} has not been placed, so nothing can be shipped yet.`);
    if (isCancelled(locked)) throw new ShipmentRefused('CANCELLED', `${order.number} has been cancelled, so nothing can be shipped.`);
  }

  private async trackingConfig(em: EntityManager, input: TrackingInput): Promise<TrackAndTraceConfig | null> {
    if (input.trackAndTraceId == null) return null;
    // FOR SHARE: a configuration deleted meanwhile waits until this shipment is saved (its link is kept).
    const config = await em.findOne(TrackAndTraceConfig, input.trackAndTraceId, { lockMode: LockMode.PESSIMISTIC_READ });
    if (!config) throw invalid('Please check track & trace: that configuration does not exist (any more). Reload the page.', { trackAndTraceId: 'does not exist' });
    if (!input.trackingNumber.trim()) {
      throw invalid(`Please check tracking number: is required for a ${config.name} link`, { trackingNumber: `is required for a ${config.name} link` });
    }
    return config;
  }

  /** The order's lines (id order, as the totals snapshot lists them) with what each has shipped and carries of the charged goods. */
  private async lines(em: EntityManager, order: Order): Promise<LineRow[]> {
    const rows = await em.execute<{ id: string; product_number: string; product_name: string; unit: string; quantity: number; shipped_quantity: number; unit_price_minor: string; vat_rate_bp: number; discount_minor: string }[]>(
      `select id, product_number, product_name, unit, quantity, shipped_quantity, unit_price_minor, vat_rate_bp, discount_minor
       from order_lines where order_id = ? order by id`, [order.id]);
    const charges = lineCharges(order, rows.map((r) => ({ quantity: r.quantity, unitPriceMinor: Number(r.unit_price_minor), vatRateBp: r.vat_rate_bp, discountMinor: Number(r.discount_minor) })));
    return rows.map((r, i) => ({
      id: Number(r.id), productNumber: r.product_number, productName: r.product_name, unit: r.unit,
      quantity: r.quantity, shipped: r.shipped_quantity, ...charges[i],
    }));
  }

  private async raiseShipped(em: EntityManager, order: Order, line: LineRow, quantity: number): Promise<number> {
    try {
      const rows = await em.execute<{ id: string }[]>(
        'update order_lines set shipped_quantity = shipped_quantity + ? where id = ? and order_id = ? and shipped_quantity + ? <= quantity returning id',
        [quantity, line.id, order.id, quantity]);
      return rows.length;
    } catch (e) {
      if (e instanceof CheckConstraintViolationException) return 0;
      throw e;
    }
  }

  private async shipmentsOf(em: EntityManager, order: Order, shipmentNo?: number): Promise<ShipmentView[]> {
    const list = await em.find(Shipment, { order: order.id, ...(shipmentNo != null ? { shipmentNo } : {}) }, {
      populate: ['lines.orderLine', 'createdBy', 'trackAndTrace'], orderBy: { shipmentNo: 'asc' },
    });
    return list.map((s) => {
      const lines = s.lines.getItems().map((l) => ({
        productNumber: l.orderLine.productNumber, productName: l.orderLine.productName, unit: l.orderLine.unit, quantity: l.quantity, valueMinor: l.valueMinor,
      }));
      return {
        id: s.id, no: s.shipmentNo, createdAt: s.createdAt, createdBy: s.createdBy?.name ?? null,
        lines, units: lines.reduce((n, l) => n + l.quantity, 0),
        trackingNumber: s.trackingNumber, trackingUrl: s.trackingUrl ?? null, carrier: s.trackAndTrace?.name ?? null,
        itemsValueMinor: s.itemsValueMinor, capturedMinor: s.capturedMinor, includesShippingFee: s.includesShippingFee, isLast: s.isLast,
      };
    });
  }

  private async queueShippedMail(em: EntityManager, outbox: OutboxService, order: Order, shipment: Shipment,
    lines: { productNumber: string; productName: string; unit: string; quantity: number }[], config: TrackAndTraceConfig | null): Promise<void> {
    if (!order.billing.email || !shipment.trackingNumber) return;
    await outbox.enqueue(em, {
      to: order.billing.email,
      subject: `Your order ${order.number} has shipped`,
      template: 'mail/shipment.njk',
      context: {
        order, lines, shipmentNo: shipment.shipmentNo, isLast: shipment.isLast,
        trackingNumber: shipment.trackingNumber, trackingUrl: shipment.trackingUrl ?? null, carrier: config?.name ?? null,
      },
      orderId: order.id,
      dedupeKey: `shipment:${shipment.id}`,
    });
  }
}

// ——— pure rules (tested directly) ———

/**
 * Splits `amount` over weights in proportion, integers only, largest remainder first: the shares always add up to
 * `amount` exactly. Used to spread the goods actually charged (after order discounts) over the lines.
 */
export function allocate(amount: number, weights: number[]): number[] {
  const total = weights.reduce((s, w) => s + w, 0);
  if (total <= 0 || amount <= 0) return weights.map(() => 0);
  const a = BigInt(amount);
  const t = BigInt(total);
  const exact = weights.map((w) => a * BigInt(Math.max(0, w)));
  const shares = exact.map((x) => x / t);
  let left = a - shares.reduce((s, x) => s + x, 0n);
  const byRemainder = exact.map((x, i) => ({ i, r: x % t })).sort((p, q) => (q.r > p.r ? 1 : q.r < p.r ? -1 : p.i - q.i));
  for (const { i } of byRemainder) {
    if (left <= 0n) break;
    shares[i] += 1n;
    left -= 1n;
  }
  return shares.map(Number);
}

/**
 * What each of the order's lines (in id order, as the totals snapshot lists them) carries of the goods actually
 * charged: the goods total after order-level discounts (voucher, staff discount) spread over the lines by their gross.
 * Shipments capture by it and returns are worth it, so the goods never capture or refund more than was charged.
 */
export function lineCharges(order: Pick<Order, 'totals'>, lines: { quantity: number; unitPriceMinor: number; vatRateBp: number; discountMinor: number }[]): { grossMinor: number; chargeMinor: number }[] {
  const snapshot = order.totals?.lines?.length === lines.length ? order.totals : null;
  const gross = lines.map((l, i) => snapshot ? snapshot.lines[i].grossMinor : withVat(Math.max(0, l.quantity * l.unitPriceMinor - l.discountMinor), l.vatRateBp));
  const goodsCharged = snapshot ? snapshot.subtotalMinor - snapshot.discountMinor : gross.reduce((s, g) => s + g, 0);
  const charges = allocate(goodsCharged, gross);
  return gross.map((grossMinor, i) => ({ grossMinor, chargeMinor: charges[i] }));
}

/**
 * The value of `units` more units of a line that carries `chargeMinor` for `ordered` units, after `shippedBefore` have
 * gone (shipped, or returned). Cumulative, so the shipments (or returns) of a line add up to exactly its charge.
 */
export function valueOfUnits(chargeMinor: number, ordered: number, shippedBefore: number, units: number): number {
  if (ordered <= 0) return 0;
  const upTo = (n: number) => (n >= ordered ? chargeMinor : divRound(chargeMinor * n, ordered));
  return upTo(shippedBefore + units) - upTo(shippedBefore);
}

/** Why a track & trace URL is not acceptable, or null when it is. */
export function trackingTemplateError(template: string): string | null {
  if (!template) return 'is required';
  if (template.length > 2000) return 'must be at most 2000 characters';
  if (!/^https?:\/\//i.test(template)) return 'must start with http:// or https://';
  if (/\s/.test(template)) return 'must not contain spaces';
  const withoutParams = template.replace(/\{[A-Za-z]+\}/g, '');
  if (/[{}]/.test(withoutParams)) return 'has a { or } that is not part of a parameter such as {TrackingNumber}';
  const unknown = [...new Set([...template.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1]).filter((p) => !(p in TRACKING_PARAMETERS)))];
  if (unknown.length) return `uses ${unknown.map((p) => `{${p}}`).join(', ')}, which is not a parameter; use ${Object.keys(TRACKING_PARAMETERS).map((p) => `{${p}}`).join(', ')}`;
  if (!template.includes('{TrackingNumber}')) return 'must contain {TrackingNumber}, where the tracking number goes';
  let url: URL;
  try {
    url = new URL(buildTrackingUrlUnchecked(template, SAMPLE_PARAMETERS));
  } catch {
    return 'is not a valid web address';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must start with http:// or https://';
  if (!url.hostname || !url.hostname.includes('.')) return 'must name a web site, e.g. https://tracking.example.com/…';
  if (url.username || url.password) return 'must not contain a user name or password';
  return null;
}

/** Fills a track & trace URL's parameters (URL-encoded); only an http(s) result is returned. */
export function buildTrackingUrl(template: string, params: Record<string, string>): string | null {
  const built = buildTrackingUrlUnchecked(template, params);
  try {
    const url = new URL(built);
    return url.protocol === 'http:' || url.protocol === 'https:' ? built : null;
  } catch {
    return null;
  }
}

function buildTrackingUrlUnchecked(template: string, params: Record<string, string>): string {
  return template.replace(/\{([A-Za-z]+)\}/g, (_m, key: string) => encodeURIComponent(params[key] ?? ''));
}

function trackingParameters(order: Order, trackingNumber: string): Record<string, string> {
  const d = order.shipTo();
  return { TrackingNumber: trackingNumber, Zip: d.zip, Country: d.country, OrderNumber: order.number };
}

function mergeQuantities(list: { lineId: number; quantity: number }[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const q of list) out.set(q.lineId, (out.get(q.lineId) ?? 0) + q.quantity);
  return out;
}

function overShipping(number: string, lines: { productNumber: string; quantity: number; shipped: number; asked: number }[]): ShipmentRefused {
  const parts = lines.map((l) => {
    const left = l.quantity - l.shipped;
    return `${l.productNumber}: ${l.asked} asked, but only ${left} of ${l.quantity} ${left === 1 ? 'is' : 'are'} left to ship${l.shipped ? ` (${l.shipped} shipped already)` : ''}`;
  });
  return new ShipmentRefused('OVER_SHIPPING', `Cannot ship more than was ordered on ${number}. ${parts.join('; ')}. Nothing was shipped.`);
}

function isCancelled(locked: LockedOrder): boolean {
  return locked.order.paymentStatus === 'cancelled' || locked.stateRole === 'cancelled';
}

function captureModeOf(order: Order): ShipmentCaptureMode {
  const state = order.captureState;
  // Nothing was authorized (a recurring order repeating a card order): there is nothing to capture from.
  if (order.paymentStatus === 'none') return 'none';
  if (state === 'not_captured' || state === 'split_captured') return 'per_shipment';
  if (state === 'not_supported') return 'not_supported';
  if (state === 'captured') return 'already_captured';
  return 'none';
}

function shippingFeeOf(order: Order): number {
  return order.totals?.shippingFeeInclVatMinor ?? order.shippingFeeMinor;
}

function methodNameOf(order: Order): string {
  return order.paymentMethod?.name ?? 'This payment method';
}

function captureNoteOf(order: Order, mode: ShipmentCaptureMode): string {
  switch (mode) {
    case 'per_shipment': return 'Each shipment captures the value of its items (incl. VAT) from the card payment; the last shipment captures the rest of the order total.';
    case 'not_supported': return `Paid by ${methodNameOf(order)}: nothing is captured when you ship; the payment is settled outside the shop.`;
    case 'already_captured': return 'The payment has been captured in full already, so shipping captures nothing more.';
    default: return order.paymentStatus === 'none'
      ? `No payment was authorized for this order, so nothing is captured when you ship: collect the ${money(order.totalMinor, order)} from the customer another way (for example by invoice).`
      : 'No payment is captured when shipping this order.';
  }
}

function feeNoteOf(order: Order, mode: ShipmentCaptureMode, fee: number, captured: boolean, withShipment: number | null): string {
  if (fee <= 0) return 'This order has no shipping fee.';
  if (mode === 'not_supported') return `Shipping fee ${money(fee, order)}: settled with the invoice, not captured here.`;
  if (withShipment != null) return `Shipping fee ${money(fee, order)}: captured with shipment ${withShipment}.`;
  if (captured) return `Shipping fee ${money(fee, order)}: captured already.`;
  if (mode === 'already_captured') return `Shipping fee ${money(fee, order)}: captured with the full payment.`;
  if (mode === 'per_shipment') return `Shipping fee ${money(fee, order)}: not captured yet; it is captured with the last shipment unless you capture it now.`;
  return `Shipping fee ${money(fee, order)}.`;
}

function invalidForm(fields: Record<string, string>): DomainError {
  const [key, message] = Object.entries(fields)[0];
  const label = key === 'urlTemplate' ? 'URL' : key;
  return invalid(`Please check ${label}: ${message}`, fields);
}

const payer = (actor: ShipmentActor) => ({ userId: actor.userId, source: 'backend' as const });

function staffActor(actor: ShipmentActor): Actor {
  return { userId: actor.userId, kind: 'staff', source: 'backend' };
}

function money(minor: number, order: Order): string {
  return formatMoney(minor, order.currencyCode);
}

/** Claims shipment `shipmentNo`'s capture with its reservation (released by PaymentService.settle when the provider refuses). */
async function claimShipmentCapture(em: EntityManager, orderId: number, shipmentNo: number, amountMinor: number): Promise<number> {
  const [row] = await em.execute<{ id: string }[]>(
    `insert into record_effects (order_id, effect, line_id, amount_minor) values (?, 'shipment_capture', ?, ?) returning id`, [orderId, shipmentNo, amountMinor]);
  return Number(row.id);
}
