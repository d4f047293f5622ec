import { LockMode } from '@mikro-orm/core';
import { actsAs, ownerOf, relationTo, visibleOrRefuse } from '../accounts/access-policy';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { SessionUser } from '../accounts/account.service';
import { Product, Shop } from '../catalog/catalog.entities';
import { DEFAULT_SHOP_ID } from '../catalog/catalog.service';
import type { FlowService } from '../flows/flow.service';
import { Order, OrderLine } from '../orders/order.entities';
import { nextCartNumber, recordHistory } from '../orders/order-lifecycle';
import { changeBasket } from './basket-mutation';
import { DomainError, notFound } from '../shared/errors';

/**
 * Named carts for signed-in buyers (B2B cart management from the frontend). A user holds at most one cart as
 * the Basket; the others are Saved. Company carts are shared by the company's buyers: making one active moves
 * it to the caller as their basket, so exactly one person shops into a cart at a time.
 */
export class NamedCartService {
  constructor(private readonly orm: MikroORM, private readonly flows: FlowService) {}

  private get em() {
    return this.orm.em;
  }

  async create(user: SessionUser, name: string): Promise<Order> {
    return this.em.transactional(async (em) => {
      const shop = await em.findOneOrFail(Shop, DEFAULT_SHOP_ID);
      const state = await this.flows.defaultState(em, 'cart', user.companyId);
      const cart = em.create(Order, {
        number: await nextCartNumber(em, shop), shop, type: 'cart', basketStatus: 'saved', name,
        user: user.id, company: user.companyId, state, currencyCode: shop.currencyCode, currencyName: shop.currencyName, currencyRate: shop.currencyRate,
      } as never);
      await em.flush();
      await recordHistory(em, cart, actorOf(user), 'created', `Named cart “${name}” created.`);
      return cart;
    });
  }

  async rename(user: SessionUser, number: string, name: string): Promise<Order> {
    return this.em.transactional(async (em) => {
      const cart = await this.visibleCart(em, user, number);
      cart.name = name;
      return cart;
    });
  }

  /** A copy with the same lines at today's catalog prices, saved, in the default state of the cart flow. */
  async copy(user: SessionUser, number: string): Promise<Order> {
    const source = await this.visibleCart(this.em, user, number);
    await this.em.populate(source, ['lines']);
    const copy = await this.create(user, `Copy of ${source.name || source.number}`.slice(0, 80));
    return (await changeBasket(this.em, {
      actor: actorOf(user),
      lock: (em) => em.findOneOrFail(Order, copy.id, { populate: ['lines'], lockMode: LockMode.PESSIMISTIC_WRITE }),
      apply: async (em, target) => {
        for (const l of source.lines) {
          em.create(OrderLine, {
            order: target, product: l.product ?? null, productNumber: l.productNumber, productName: l.productName, unit: l.unit,
            quantity: l.quantity, unitPriceMinor: l.unitPriceMinor, vatRateBp: l.vatRateBp, addedBy: user.id, createdAt: new Date(),
          });
        }
        return 'lines copied';
      },
    }))!;
  }

  /** Soft delete: the cart disappears for everyone but its history stays. */
  async remove(user: SessionUser, number: string): Promise<Order> {
    return this.em.transactional(async (em) => {
      const cart = await this.visibleCart(em, user, number, true);
      // A colleague's cart is its owner's work (perhaps their basket right now): only they or a company admin delete it.
      if (!actsAs(user, ownerOf(cart), 'owner') && !actsAs(user, ownerOf(cart), 'admin')) {
        throw new DomainError('FORBIDDEN', `${cart.name || cart.number} is a colleague's cart: only they or your company's administrators can delete it.`);
      }
      cart.deleted = true;
      cart.basketStatus = null;
      await recordHistory(em, cart, actorOf(user), 'deleted', 'Cart deleted by the customer.');
      return cart;
    });
  }

  /**
   * Makes a cart the caller's basket in one transaction. The user's row is locked first, so two concurrent
   * switches by the same user run one after the other and exactly one basket remains (also enforced by the
   * orders_one_basket_per_user unique index).
   */
  async makeActive(user: SessionUser, number: string): Promise<Order> {
    return this.em.transactional(async (em) => {
      await em.execute('select id from users where id = ? for update', [user.id]);
      const cart = await this.visibleCart(em, user, number, true);
      if (cart.basketStatus === 'basket' && relationTo(user, ownerOf(cart)) === 'owner') return cart;
      // The basket set aside may be an order in checkout: it leaves checkout and is a cart again (downgraded, with a
      // new cart number), so it stays in the buyer's carts instead of becoming an order nobody lists.
      const [inCheckout] = await em.execute<{ id: string }[]>(
        `select id from orders where user_id = ? and basket_status = 'basket' and not deleted and id <> ? and type = 'order' and not completed and checkout_step <> 'placing'`,
        [user.id, cart.id]);
      if (inCheckout) {
        await changeBasket(em, {
          actor: actorOf(user),
          lock: (tx) => tx.findOneOrFail(Order, Number(inCheckout.id), { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true, populate: ['lines'] }),
          apply: async () => `another cart (${cart.number}) was made the active basket`,
        });
      }
      await em.execute(`update orders set basket_status = 'saved' where user_id = ? and basket_status = 'basket' and not deleted and id <> ?`, [user.id, cart.id]);
      await em.execute(`update orders set basket_status = 'basket', user_id = ? where id = ?`, [user.id, cart.id]);
      await recordHistory(em, cart, actorOf(user), 'activated', `Made the active basket by ${user.name}.`);
      return cart;
    });
  }

  /**
   * Staff edit a cart's lines (quantities, removals, an added product) while it is still a cart or an order in
   * checkout; an order in checkout goes back to being a cart, as any change does.
   */
  async staffEditLines(number: string, staff: SessionUser, edit: { quantities: Map<number, number>; addProductNumber?: string; addQuantity: number }): Promise<Order> {
    const actor = { userId: staff.id, kind: 'staff' as const, source: 'backend' as const };
    return (await changeBasket(this.em, {
      actor,
      lock: async (em) => {
        const cart = await em.findOne(Order, { number, deleted: false, completed: false, type: { $in: ['cart', 'order'] } }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
        if (!cart) throw notFound('The cart');
        await em.populate(cart, ['lines']);
        return cart;
      },
      apply: async (em, cart) => {
        for (const [lineId, quantity] of edit.quantities) {
          const line = cart.lines.getItems().find((l) => l.id === lineId);
          if (!line) throw notFound('That cart line');
          if (quantity === 0) {
            cart.lines.remove(line);
            em.remove(line);
          } else {
            line.quantity = quantity;
          }
        }
        if (edit.addProductNumber) {
          const product = await em.findOne(Product, { number: edit.addProductNumber, active: true });
          if (!product) throw new DomainError('VALIDATION', `There is no product ${edit.addProductNumber}.`, { addProductNumber: 'unknown product' });
          const existing = cart.lines.getItems().find((l) => l.product?.id === product.id);
          if (existing) existing.quantity = Math.min(9999, existing.quantity + edit.addQuantity);
          else em.create(OrderLine, { order: cart, product, productNumber: product.number, productName: product.name, unit: product.unit, quantity: edit.addQuantity, unitPriceMinor: product.priceMinor, vatRateBp: product.vatRateBp, addedBy: staff.id, createdAt: new Date() });
        }
        await recordHistory(em, cart, actor, 'lines_edited', 'Lines edited by staff.');
        return 'edited by staff';
      },
    }))!;
  }

  /** A cart the user may work on: their own, or one of their company's. Anything else is "not found". */
  private async visibleCart(em: EntityManager, user: SessionUser, number: string, lock = false): Promise<Order> {
    const cart = visibleOrRefuse(user, await em.findOne(Order, { number, type: 'cart', deleted: false }, lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {}), 'The cart');
    if (cart.checkoutStep === 'placing') throw new DomainError('CART_NOT_EDITABLE', 'This cart is being checked out right now.');
    return cart;
  }
}

function actorOf(user: SessionUser) {
  return { userId: user.id, kind: user.role === 'buyer' ? ('buyer' as const) : ('customer' as const), source: 'frontend' as const };
}
