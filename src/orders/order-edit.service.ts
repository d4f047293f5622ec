import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { staffMay } from '../accounts/access-policy';
import type { SessionUser } from '../accounts/account.service';
import { Product, Shop } from '../catalog/catalog.entities';
import { priceOrder, type PricingLine, type Totals } from '../pricing/pricing';
import { Voucher } from '../pricing/voucher.entity';
import { DomainError, invalid, notFound } from '../shared/errors';
import { formatMoney } from '../shared/money';
import { giveBackStock, type StockCause, takeFromFullestLocation, takeFromOneLocation } from '../stock/stock';
import { emSql } from '../db/sql';
import { OrderFieldDefinition, type OrderSnapshot, OrderVersion, type SnapshotLine } from './order-edit.entities';
import { editFormLabels, editFormValues, fieldFormValues } from './order-edit-form';
import { OrderFieldService } from './order-field.service';
import { fieldList, mergeValues, sameValues, type FieldDefs } from './order-fields';
import { diffSnapshots, snapshotOf } from './order-snapshot-diff';
import { recordHistory } from './order-lifecycle';
import { Address, Order, OrderLine } from './order.entities';
import { priceToday } from '../catalog/prices';
import { MAX_LINE_QUANTITY } from '../shared/quantity';
import { capturesAgainstAuthorization } from '../payments/payment-operations';

/** Goods above this (minor units) are refused: pricing works on safe integers only. */
const MAX_GOODS_MINOR = 100_000_000_000;

export interface LineChange {
  lineId: number;
  quantity?: number;
  unitPriceMinor?: number;
  discountMinor?: number;
  remove?: boolean;
  /** Raw typed values of order line fields, by system name ('' clears a value). */
  fields?: Record<string, string>;
}

/** One staff save. Parts left out stay as they are (the details page sends only custom field values). */
export interface OrderEdit {
  expectedVersion: number;
  lines?: LineChange[];
  add?: { productNumber: string; quantity: number; unitPriceMinor: number | null; discountMinor: number } | null;
  orderDiscountMinor?: number;
  removeVoucher?: boolean;
  addresses?: { billing: Address; deliverySameAsBilling: boolean; delivery: Address };
  /** Raw typed values of custom order fields, by system name ('' clears a value). */
  fields?: Record<string, string>;
  note?: string;
}

export type SaveResult = { order: Order; versionNo: number | null; summary: string[] };

/**
 * Staff order editing: customer and delivery details, quantities and prices, added and removed lines, line and
 * order discounts, custom order / order line fields. Every save is checked against the version the editor saw,
 * recalculates totals (fees stay as charged) and is kept as a version that can be shown and compared later.
 */
export class OrderEditService {
  private readonly fields: OrderFieldService;

  constructor(private readonly orm: MikroORM) {
    this.fields = new OrderFieldService(orm);
  }

  private get em() {
    return this.orm.em;
  }

  // ---- the staff order details page ----

  /** The "Additional information" box of /admin/orders/:number: field values, and whether (and why not) it can be edited. */
  async detailsBox(number: string, user: SessionUser) {
    const em = this.em.fork();
    const order = await em.findOne(Order, { number, deleted: false }, { populate: ['lines', 'state'] });
    if (!order) return null;
    const defs = await this.fields.fieldDefinitions(em);
    const lineValues = await lineFieldValues(em, order.id);
    const refusal = order.type === 'order' ? await this.editRefusal(em, order, user) : null;
    const [{ n }] = await em.execute<{ n: number }[]>('select count(*)::int as n from order_versions where order_id = ?', [order.id]);
    return {
      isOrder: order.type === 'order',
      orderFields: defs.order,
      lineFields: defs.line,
      values: order.customFields ?? {},
      lineValues: Object.fromEntries(lineValues),
      lines: order.lines.getItems().map((l) => ({ id: l.id, productName: l.productName, productNumber: l.productNumber })),
      version: order.version,
      editable: order.type === 'order' && !refusal,
      refusal: refusal?.message ?? null,
      versionCount: Number(n),
      formValues: fieldFormValues(order, lineValues),
      fields: {} as Record<string, string>,
    };
  }

  // ---- editing ----

  /** What the edit form needs; refuses (403 / 409) when the order may not be edited now. */
  async editPage(number: string, user: SessionUser) {
    const em = this.em.fork();
    const order = await this.findOrder(em, number, ['lines', 'state', 'shippingMethod', 'paymentMethod']);
    const refusal = await this.editRefusal(em, order, user);
    if (refusal) throw refusal;
    const defs = await this.fields.fieldDefinitions(em);
    const lineValues = await lineFieldValues(em, order.id);
    const [{ n }] = await em.execute<{ n: number }[]>('select count(*)::int as n from order_versions where order_id = ?', [order.id]);
    const lines = order.lines.getItems();
    return {
      order, lines, orderFields: defs.order, lineFields: defs.line, versionCount: Number(n),
      values: editFormValues(order, lineValues),
      labels: editFormLabels(lines, defs),
    };
  }

  /**
   * One save: lock the order, check permission, version and state, validate the whole edit, recalculate totals
   * with the order's own fees, adjust reserved stock, apply, and keep the result as the next version.
   * A save that changes nothing makes no version.
   */
  async save(number: string, edit: OrderEdit, user: SessionUser): Promise<SaveResult> {
    return this.em.transactional(async (em) => {
      const order = await em.findOne(Order, { number, type: 'order', deleted: false }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!order) throw notFound('The order');
      if (!(await canEditOrders(em, user))) throw forbidden();
      if (order.version !== edit.expectedVersion) {
        throw new DomainError('CONFLICT', `${number} was changed meanwhile by someone else. Nothing was saved: reload it to see the changes, then make yours again.`);
      }
      await em.populate(order, ['lines', 'state', 'shop'], { refresh: true });
      const refusal = await this.editRefusal(em, order, user);
      if (refusal) throw refusal;

      const defs = await this.fields.fieldDefinitions(em);
      const lineValues = await lineFieldValues(em, order.id);
      const before = snapshotOf(order, lineValues);
      // Validate and plan without touching the entities, so a refusal leaves nothing half-changed in memory.
      const plan = await this.plan(em, order, before, edit, defs);
      const diff = diffSnapshots(before, plan.after, defs);
      if (diff.changes === 0) return { order, versionNo: null, summary: [] };

      if (order.stockReserved) await adjustStock(em, order, plan, { reason: 'edit', orderId: order.id, actor: { userId: user.id, kind: 'staff' } });
      await this.ensureFirstVersion(em, order, before);
      const added = this.apply(em, order, plan, user);
      await em.flush();

      const values = new Map(plan.lines.map((l) => [l.lineId, l.customFields]));
      if (added) values.set(added.id, {});
      for (const [lineId, fields] of values) {
        if (lineId && !sameValues(fields, lineValues.get(lineId) ?? {})) {
          await em.execute('update order_lines set custom_fields = ?::jsonb where id = ? and order_id = ?', [JSON.stringify(fields), lineId, order.id]);
        }
      }
      const after = snapshotOf(order, values);
      const versionNo = await nextVersionNo(em, order.id);
      em.create(OrderVersion, { order, versionNo, snapshot: after, createdBy: user.id, note: edit.note ?? '', createdAt: new Date() });
      const summary = diff.summary;
      await recordHistory(em, order, { userId: user.id, kind: 'staff', source: 'backend' }, 'order_edited',
        `Saved as version ${versionNo}: ${summary.slice(0, 6).join('; ')}${summary.length > 6 ? `; and ${summary.length - 6} more` : ''}.`);
      await em.flush();
      return { order, versionNo, summary };
    });
  }

  // ---- versions ----

  async versions(number: string) {
    const em = this.em.fork();
    const order = await this.findOrder(em, number, ['state']);
    const versions = await em.find(OrderVersion, { order }, { populate: ['createdBy'], orderBy: { versionNo: 'desc' } });
    return { order, versions, latest: versions[0]?.versionNo ?? null };
  }

  async version(number: string, versionNo: number) {
    const em = this.em.fork();
    const order = await this.findOrder(em, number, ['state']);
    const version = await em.findOne(OrderVersion, { order, versionNo }, { populate: ['createdBy'] });
    if (!version) throw notFound('That version');
    const defs = await this.fields.fieldDefinitions(em);
    return { order, version, snap: version.snapshot, orderFields: fieldList(defs.order, version.snapshot.customFields), lineFields: fieldList(defs.line, ...version.snapshot.lines.map((l) => l.customFields)) };
  }

  /** A version beside the order as it is now, field by field and line by line. */
  async compare(number: string, versionNo: number) {
    const em = this.em.fork();
    const order = await this.findOrder(em, number, ['lines', 'state']);
    const version = await em.findOne(OrderVersion, { order, versionNo }, { populate: ['createdBy'] });
    if (!version) throw notFound('That version');
    const versions = await em.find(OrderVersion, { order }, { orderBy: { versionNo: 'desc' }, fields: ['versionNo', 'createdAt'] });
    const defs = await this.fields.fieldDefinitions(em);
    const current = snapshotOf(order, await lineFieldValues(em, order.id));
    return { order, version, versions, diff: diffSnapshots(version.snapshot, current, defs) };
  }

  // ---- internals ----

  private async findOrder(em: EntityManager, number: string, populate: ('lines' | 'state' | 'shippingMethod' | 'paymentMethod')[]): Promise<Order> {
    const order = await em.findOne(Order, { number, type: 'order', deleted: false }, { populate });
    if (!order) throw notFound('The order');
    return order;
  }

  /** Why this user may not edit this order now (403 without the permission, 409 in a state that does not allow it), or null. */
  private async editRefusal(em: EntityManager, order: Order, user: SessionUser): Promise<DomainError | null> {
    if (!(await canEditOrders(em, user))) return forbidden();
    if (!order.completed) return new DomainError('CART_NOT_EDITABLE', `${order.number} has not been placed yet. It can be edited once the customer has placed it.`);
    if (!order.state?.allowEdit) {
      return new DomainError('CART_NOT_EDITABLE', `${order.number} cannot be edited while it is “${order.state?.name ?? 'without a state'}”. Move it to a state that allows editing first.`);
    }
    return null;
  }

  private async plan(em: EntityManager, order: Order, before: OrderSnapshot, edit: OrderEdit, defs: FieldDefs) {
    const errors: Record<string, string> = {};
    const byId = new Map(order.lines.getItems().map((l) => [l.id, l]));
    const changes = new Map((edit.lines ?? []).map((c) => [c.lineId, c]));
    for (const c of changes.values()) if (!byId.has(c.lineId)) throw notFound('That order line');

    const shipped = await shippedQuantities(em, order.id);
    const lines: SnapshotLine[] = [];
    const removed: number[] = [];
    for (const old of before.lines) {
      const c = changes.get(old.lineId);
      const units = shipped.get(old.lineId) ?? 0;
      if (units > 0 && (c?.remove || (c?.quantity ?? old.quantity) < units)) {
        // Shipped units stay on the order (order_lines_shipped_within_ordered): goods coming back are a return.
        errors[`line_${old.lineId}_quantity`] = `cannot go below the ${units} already shipped${c?.remove ? ', so the line cannot be removed' : ''}`;
      }
      if (c?.remove) {
        removed.push(old.lineId);
        continue;
      }
      const line: SnapshotLine = {
        ...old,
        quantity: c?.quantity ?? old.quantity,
        unitPriceMinor: c?.unitPriceMinor ?? old.unitPriceMinor,
        discountMinor: c?.discountMinor ?? old.discountMinor,
        customFields: c?.fields ? mergeValues(old.customFields, c.fields, defs.line, (name) => `line_${old.lineId}_field_${name}`, errors) : old.customFields,
      };
      checkLine(line, `line_${old.lineId}_`, errors);
      lines.push(line);
    }

    let addProduct: Product | null = null;
    if (edit.add) {
      const product = await em.findOne(Product, { number: edit.add.productNumber });
      if (!product) errors.addProductNumber = 'is not a product we know';
      else if (!product.active) errors.addProductNumber = `is ${product.name}, which is no longer sold`;
      else if (byId.size && [...byId.values()].some((l) => l.product?.id === product.id)) errors.addProductNumber = `is ${product.name}, which is already on the order: change the quantity of its line instead`;
      else {
        addProduct = product;
        const line: SnapshotLine = {
          lineId: 0, productNumber: product.number, productName: product.name, unit: product.unit, quantity: edit.add.quantity,
          unitPriceMinor: edit.add.unitPriceMinor ?? await priceToday(emSql(em), product.id), vatRateBp: product.vatRateBp, discountMinor: edit.add.discountMinor, customFields: {},
        };
        checkLine(line, 'add', errors);
        lines.push(line);
      }
    }
    if (lines.length === 0) errors.lines = 'An order needs at least one line; to stop it entirely, cancel it instead.';

    const customFields = edit.fields ? mergeValues(before.customFields, edit.fields, defs.order, (name) => `order_field_${name}`, errors) : before.customFields;
    const orderDiscountMinor = edit.orderDiscountMinor ?? before.orderDiscountMinor;
    const voucherCode = edit.removeVoucher ? '' : before.voucherCode;
    if (Object.keys(errors).length) throw invalid('Nothing was saved. Please check the marked fields.', errors);

    // Totals: the order's own fees as charged (never recalculated), the voucher it was placed with, the staff discounts.
    const shop = await em.findOneOrFail(Shop, order.shop.id);
    const voucher = voucherCode ? await em.findOne(Voucher, { code: voucherCode }) : null;
    const price = (discount: number) => safePrice({
      lines,
      shipping: { feeMinor: before.shippingFeeMinor, freeAboveMinor: null },
      paymentFeeMinor: before.paymentFeeMinor,
      feeVatRateBp: shop.defaultVatRateBp,
      voucher: voucher ? { kind: voucher.kind, value: voucher.value } : null,
      orderDiscountMinor: discount,
    });
    const goods = price(0);
    const goodsLeft = goods.subtotalExclVatMinor - goods.discountExclVatMinor;
    if (orderDiscountMinor > goodsLeft) {
      throw invalid(`Nothing was saved: an order discount of ${money(orderDiscountMinor, order)} would make the total less than 0.`,
        { orderDiscount: `would make the total less than 0: at most ${money(goodsLeft, order)} is left to discount` });
    }
    const totals = price(orderDiscountMinor);
    const kept = order.capturedMinor - order.refundedMinor;
    if (totals.totalMinor < kept) {
      const refunded = order.refundedMinor ? ` (${money(order.capturedMinor, order)} captured, ${money(order.refundedMinor, order)} refunded)` : '';
      throw invalid(`Nothing was saved: the new total ${money(totals.totalMinor, order)} would be less than the ${money(kept, order)} already captured and not refunded${refunded}. Refund first, then edit.`,
        { _: 'total below the captured amount' });
    }
    // Returns' credits are taken off what is owed: the total holds them and the money kept (orders_kept_within_total).
    if (order.creditedMinor && totals.totalMinor < kept + order.creditedMinor) {
      throw invalid(`Nothing was saved: the new total ${money(totals.totalMinor, order)} would be less than the ${money(kept + order.creditedMinor, order)} already captured (not refunded) or credited for returns.`,
        { _: 'total below the captured and credited amount' });
    }
    if (capturesAgainstAuthorization(order) && totals.totalMinor > order.authorizedMinor) {
      throw invalid(`Nothing was saved: the card authorization covers ${money(order.authorizedMinor, order)}, and the new total would be ${money(totals.totalMinor, order)}. Lower the total, or have the customer pay the difference another way.`,
        { _: 'total above the authorized amount' });
    }

    const a = edit.addresses;
    const after: OrderSnapshot = {
      ...before,
      billing: a ? a.billing : before.billing,
      deliverySameAsBilling: a ? a.deliverySameAsBilling : before.deliverySameAsBilling,
      delivery: a ? (a.deliverySameAsBilling ? a.billing : a.delivery) : before.delivery,
      lines, orderDiscountMinor, voucherCode, customFields, totals,
    };
    return { after, lines, removed, addProduct, addresses: a ?? null, totals, addedLocation: null as number | null };
  }

  private apply(em: EntityManager, order: Order, plan: Awaited<ReturnType<OrderEditService['plan']>>, user: SessionUser): OrderLine | null {
    for (const line of [...order.lines.getItems()]) {
      if (plan.removed.includes(line.id)) {
        order.lines.remove(line);
        em.remove(line);
      }
    }
    const byId = new Map(order.lines.getItems().map((l) => [l.id, l]));
    let added: OrderLine | null = null;
    for (const l of plan.lines) {
      if (l.lineId) {
        Object.assign(byId.get(l.lineId)!, { quantity: l.quantity, unitPriceMinor: l.unitPriceMinor, discountMinor: l.discountMinor });
      } else if (plan.addProduct) {
        const p = plan.addProduct;
        added = em.create(OrderLine, {
          order, product: p, productNumber: p.number, productName: p.name, unit: p.unit, quantity: l.quantity, unitPriceMinor: l.unitPriceMinor,
          vatRateBp: p.vatRateBp, discountMinor: l.discountMinor, addedBy: user.id, stockLocation: plan.addedLocation, createdAt: new Date(),
        });
      }
    }
    if (plan.addresses) {
      const { billing, deliverySameAsBilling, delivery } = plan.addresses;
      order.billing = Address.of(billing);
      // "Same as billing" keeps the last separate delivery address on file, as before.
      if (!deliverySameAsBilling) order.delivery = Address.of(delivery);
      order.deliverySameAsBilling = deliverySameAsBilling;
    }
    const t = plan.totals;
    Object.assign(order, {
      orderDiscountMinor: plan.after.orderDiscountMinor, voucherCode: plan.after.voucherCode, customFields: plan.after.customFields,
      subtotalMinor: t.subtotalMinor, discountMinor: t.discountExclVatMinor, totalExclVatMinor: t.totalExclVatMinor, vatMinor: t.vatMinor,
      totalMinor: t.totalMinor, totals: t, priceCalculationDate: new Date(), updatedAt: new Date(),
    });
    return added;
  }

  /** Version 1 is the order exactly as it was before anyone edited it. */
  private async ensureFirstVersion(em: EntityManager, order: Order, before: OrderSnapshot): Promise<void> {
    const [{ n }] = await em.execute<{ n: number }[]>('select count(*)::int as n from order_versions where order_id = ?', [order.id]);
    if (Number(n) > 0) return;
    em.create(OrderVersion, { order, versionNo: 1, snapshot: before, createdBy: null, note: 'Before the first edit', createdAt: new Date() });
    await em.flush();
  }
}

// ---- pure helpers (exported for the views and tests) ----

const forbidden = () => new DomainError('FORBIDDEN', 'You do not have permission to edit orders: your staff role may not edit placed orders. An administrator can allow it under Settings → Staff roles.');

/** The staff role's "edit placed orders" permission (src/accounts/staff-permissions.ts). */
async function canEditOrders(em: EntityManager, user: SessionUser): Promise<boolean> {
  return user.role === 'staff' && staffMay(em, user.id, 'order.edit');
}

async function lineFieldValues(em: EntityManager, orderId: number): Promise<Map<number, Record<string, string>>> {
  const rows = await em.execute<{ id: string | number; custom_fields: Record<string, string> }[]>('select id, custom_fields from order_lines where order_id = ?', [orderId]);
  return new Map(rows.map((r) => [Number(r.id), r.custom_fields ?? {}]));
}

/** Units shipped per line (a lazy column, read here only). */
async function shippedQuantities(em: EntityManager, orderId: number): Promise<Map<number, number>> {
  const rows = await em.execute<{ id: string; shipped_quantity: number }[]>('select id, shipped_quantity from order_lines where order_id = ? and shipped_quantity > 0', [orderId]);
  return new Map(rows.map((r) => [Number(r.id), r.shipped_quantity]));
}

async function nextVersionNo(em: EntityManager, orderId: number): Promise<number> {
  const [{ n }] = await em.execute<{ n: number }[]>('select coalesce(max(version_no), 0) + 1 as n from order_versions where order_id = ?', [orderId]);
  return Number(n);
}

/** Reserved stock follows the edit: more taken for higher quantities and added lines, given back for lower ones and removed lines. */
async function adjustStock(em: EntityManager, order: Order, plan: { lines: SnapshotLine[]; removed: number[]; addProduct: Product | null; addedLocation?: number | null }, cause: StockCause): Promise<void> {
  const shop = await em.findOneOrFail(Shop, order.shop.id);
  const moves: { productId: number; name: string; delta: number; locationId: number | null; isNew: boolean }[] = [];
  for (const line of order.lines.getItems()) {
    if (!line.product) continue;
    const planned = plan.lines.find((l) => l.lineId === line.id);
    const delta = (planned?.quantity ?? 0) - line.quantity;
    if (delta !== 0) moves.push({ productId: line.product.id, name: line.productName, delta, locationId: line.stockLocation?.id ?? null, isNew: false });
  }
  const addedLine = plan.lines.find((l) => l.lineId === 0);
  if (plan.addProduct && addedLine) moves.push({ productId: plan.addProduct.id, name: plan.addProduct.name, delta: addedLine.quantity, locationId: null, isNew: true });
  // In product order, like checkout, so concurrent edits and checkouts cannot deadlock.
  moves.sort((a, b) => a.productId - b.productId);
  const sql = emSql(em);
  for (const m of moves) {
    if (m.delta < 0) {
      // Back where the line's units came from; a line without a location (placed before locations) to the fullest one.
      const [fullest] = m.locationId != null ? [] : await sql<{ location_id: number }>(
        'select location_id from stock_levels where product_id = ? order by quantity desc, location_id limit 1', [m.productId]);
      const locationId = m.locationId ?? fullest?.location_id;
      if (locationId != null) await giveBackStock(sql, [{ productId: m.productId, locationId, quantity: -m.delta }], cause);
      continue;
    }
    let locationId = (await takeFromOneLocation(sql, m.productId, m.delta, cause, m.locationId)) ?? null;
    if (locationId == null && shop.allowOutOfStockOrders) {
      locationId = (await takeFromFullestLocation(sql, m.productId, m.delta, cause))?.locationId ?? null;
    } else if (locationId == null) {
      throw new DomainError('INSUFFICIENT_STOCK', `Nothing was saved: there are not ${m.delta} more × ${m.name} in stock.`);
    }
    if (m.isNew) plan.addedLocation = locationId;
  }
}

function checkLine(line: SnapshotLine, prefix: string, errors: Record<string, string>): void {
  const key = (f: string) => (prefix === 'add' ? `add${cap(f)}` : `${prefix}${f}`);
  if (line.quantity < 1 || line.quantity > MAX_LINE_QUANTITY) errors[key('quantity')] = `must be between 1 and ${MAX_LINE_QUANTITY}`;
  const amount = line.quantity * line.unitPriceMinor;
  if (amount > MAX_GOODS_MINOR) errors[key('unitPrice')] = 'makes the line too large';
  else if (line.discountMinor > amount) errors[key('discount')] = `would make the line less than 0: at most ${formatMoney(amount, '').trim()}`;
}

/** Pricing on safe integers only; amounts too large to calculate are a mistake in the form, not a crash. */
function safePrice(input: Parameters<typeof priceOrder>[0] & { lines: PricingLine[] }): Totals {
  const goods = input.lines.reduce((s, l) => s + l.quantity * l.unitPriceMinor, 0);
  if (goods > MAX_GOODS_MINOR) throw invalid('Nothing was saved: the order is too large to calculate.', { _: 'amounts too large' });
  try {
    return priceOrder(input);
  } catch (e) {
    if (e instanceof RangeError) throw invalid('Nothing was saved: the amounts are too large to calculate.', { _: 'amounts too large' });
    throw e;
  }
}

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);
const money = (minor: number, order: { currencyCode: string }) => formatMoney(minor, order.currencyCode);

