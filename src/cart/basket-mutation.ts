import { TransactionPropagation } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Shop } from '../catalog/catalog.entities';
import { FlowService } from '../flows/flow.service';
import type { Order } from '../orders/order.entities';
import { nextCartNumber, reprice, type Actor } from '../orders/order-lifecycle';
import { notEditable } from './basket-rules';

/**
 * The one way a basket, a named cart or an order still in checkout changes (lines, quantities, voucher, addresses,
 * methods, a staff edit, a merge at login). It applies the rules every change shares, so a new mutation cannot forget
 * one: a record being placed (or placed) refuses; an order in checkout that changes goes back to being a cart with a
 * new cart number (downgrade-on-change); a cart moved on in its flow (submitted, approved) goes back to its starting
 * state, so an approval covers what was approved and nothing added after it; the record is priced again. The hot
 * "add to basket" keeps its lean SQL (quick-add.ts) inside this function as `quick`, which changes a plain cart in its
 * starting state only (basketEditability) and otherwise declines, so the ORM path below downgrades.
 */
export async function changeBasket(em: EntityManager, change: BasketChange): Promise<Order | null> {
  if (change.quick && (await change.quick())) return null;
  return em.transactional(async (tx) => {
    const order = await change.lock(tx);
    basketEditability(order);
    const reason = await change.apply(tx, order);
    if (reason) {
      await downgradeToCart(tx, order, change.actor, reason);
      await backToStartingState(tx, order, change.actor, reason);
    }
    await reprice(tx, order, change.priceDate);
    await change.afterPricing?.(tx, order);
    return order;
  }, { propagation: TransactionPropagation.REQUIRED });
}

export interface BasketChange {
  actor: Actor;
  /** Finds the record and locks its row, in the change's transaction (creating a basket when the change may). */
  lock(em: EntityManager): Promise<Order>;
  /**
   * Changes the locked record. Answers why an order in checkout goes back to being a cart (the history says it), or
   * null when nothing changed that the checkout's order depends on.
   */
  apply(em: EntityManager, order: Order): Promise<string | null>;
  /** A staff user's context date (YYYY-MM-DD): the record is priced as of that day. */
  priceDate?: string | null;
  /** Runs last in the transaction, once the record is priced (a checkout POST converts a cart to an order here). */
  afterPricing?(em: EntityManager, order: Order): Promise<void>;
  /** Lean SQL tried first (quick-add.ts): true when it made the change; false hands it to `apply`. */
  quick?(): Promise<boolean>;
}

/**
 * Whether a record may change and how: a placed record, or one being placed, refuses (409); a cart changes in place;
 * an order in checkout changes only together with its downgrade. Both paths ask this, the SQL one with its row.
 */
export function basketEditability(record: { type: string; completed: boolean; checkoutStep: string }): 'cart' | 'in-checkout' {
  if (record.completed || record.checkoutStep === 'placing') throw notEditable();
  return record.type === 'cart' ? 'cart' : 'in-checkout';
}

const flows = new FlowService();

/** An order in checkout that changes goes back to being a cart; the next checkout gives it a new order number. */
async function downgradeToCart(em: EntityManager, order: Order, actor: Actor, reason: string): Promise<void> {
  if (order.type !== 'order' || order.completed) return;
  const from = order.number;
  const state = await flows.defaultState(em, 'cart', order.company?.id);
  order.number = await nextCartNumber(em, await em.findOneOrFail(Shop, order.shop.id));
  order.type = 'cart';
  await flows.move(em, order, state, { actor, check: 'enter', event: 'downgraded', message: `Order ${from} went back to cart ${order.number}: ${reason}.` });
}

/**
 * A cart whose contents change leaves the state it had reached (e.g. approved for its total, or submitted for
 * approval) for its flow's starting state: whatever that state allowed was given for the cart as it was. Keyed on the
 * flow's default state, never on a state's name. An order in checkout that changed was moved there by its downgrade.
 */
async function backToStartingState(em: EntityManager, order: Order, actor: Actor, reason: string): Promise<void> {
  if (order.type !== 'cart' || order.completed || !order.state) return;
  const start = await flows.defaultState(em, 'cart', order.company?.id);
  if (order.state.id === start.id) return;
  await em.populate(order, ['state']);
  await flows.move(em, order, start, { actor, check: 'enter', event: 'state_reset', message: `Cart ${order.number} changed (${reason}) while “${order.state.name}”: back to “${start.name}”.` });
}
