import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { User } from '../accounts/account.entities';
import { Product } from '../catalog/catalog.entities';
import { emSql, sqlRead } from '../db/sql';
import { FlowState } from '../flows/flow.entities';
import { FlowService, orderingStateName } from '../flows/flow.service';
import { Order, OrderLine } from '../orders/order.entities';
import { reprice, type Actor } from '../orders/order-lifecycle';
import { changeBasket, type BasketChange } from './basket-mutation';
import { DomainError, notFound } from '../shared/errors';
import { stockRefusal, tooMany } from './basket-rules';
import { MAX_LINE_QUANTITY } from '../shared/quantity';
import { readBasketPage, type BasketPage } from './basket-page';
import { createBasketSql, quickAddProduct } from './quick-add';
import { mayOrderCart } from '../checkout/placement';
import { usedRequestEntityManager } from '../db/request-context';
import { GUEST_BASKET_DAYS, type Shopper } from '../shared/shopper';
import { log } from '../shared/log';

export interface BasketView extends BasketPage {
  /** Whether checkout may start: by the rule checkout itself applies (mayOrderCart). */
  orderable: boolean;
  /** A cart that cannot be ordered yet: the state it must reach (as named in its flow). */
  orderingStateName: string | null;
}

export class CartService {
  private readonly flows = new FlowService();

  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  /** The shopper's active basket (a cart, or an order still in checkout), or null. */
  async findBasket(shopper: Shopper, em: EntityManager = this.em, lock = false, withState = false): Promise<Order | null> {
    const where = shopper.userId != null
      ? { user: shopper.userId, basketStatus: 'basket' as const, deleted: false }
      : shopper.anonymousToken ? { anonymousToken: shopper.anonymousToken, user: null, basketStatus: 'basket' as const, deleted: false } : null;
    if (!where) return null;
    // One statement: shipping and payment method come joined (repricing and the checkout pages need them), and the
    // flow state when asked for (the basket page shows it).
    return em.findOne(Order, where, {
      populate: withState ? ['lines', 'shippingMethod', 'paymentMethod', 'state'] : ['lines', 'shippingMethod', 'paymentMethod'],
      ...(lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {}),
    });
  }

  async view(shopper: Shopper): Promise<BasketView | null> {
    const page = await readBasketPage(emSql(this.em), shopper);
    if (!page) return null;
    const state = page.order.type === 'cart' ? page.order.state : null;
    const orderable = mayOrderCart(state, page.totals.totalMinor, page.order.spendLimitMinor);
    return { ...page, orderable, orderingStateName: !orderable && state ? await orderingStateName(this.em, await this.em.findOneOrFail(FlowState, state.id)) : null };
  }

  /**
   * Deletes guests' baskets no browser can reach any more: never placed and not changed for longer than the basket
   * cookie lives (GUEST_BASKET_DAYS) — with their lines, history and payment attempts (the foreign keys cascade). A
   * basket whose payment attempt still holds stock or waits to be voided is left to those jobs. In batches, each
   * locking only rows nobody else holds. The `prune-unreachable-baskets` job, hourly. Answers how many were deleted.
   */
  async pruneUnreachableBaskets(batchSize = 500): Promise<number> {
    let deleted = 0;
    for (;;) {
      const [row] = await this.orm.em.getConnection().execute<{ n: string }[]>(
        `with doomed as (
           select o.id from orders o
           where o.user_id is null and not o.completed and o.basket_status = 'basket' and o.type in ('cart', 'order')
             and o.updated_at < now() - make_interval(days => ?)
             and not exists (select 1 from payment_attempts a where a.order_id = o.id and (a.status = 'reserved' or a.needs_void))
           limit ? for update skip locked),
         gone as (delete from orders o using doomed where o.id = doomed.id returning 1)
         select count(*) as n from gone`,
        [GUEST_BASKET_DAYS, batchSize]);
      deleted += Number(row.n);
      if (Number(row.n) < batchSize) break;
    }
    if (deleted) log.info(`[baskets] deleted ${deleted} guest basket(s) not changed for ${GUEST_BASKET_DAYS} days (no cookie can reach them)`);
    return deleted;
  }

  /** Number of items in the basket, for the mini-cart in the header. One small query, without the ORM (printed only). */
  async itemCount(shopper: Shopper): Promise<number> {
    if (shopper.userId == null && !shopper.anonymousToken) return 0;
    const [row] = await sqlRead<{ n: string | null }>(this.orm,
      `select sum(l.quantity) as n from orders o join order_lines l on l.order_id = o.id
       where o.basket_status = 'basket' and not o.deleted and ${shopper.userId != null ? 'o.user_id = ?' : 'o.user_id is null and o.anonymous_token = ?'}`,
      [shopper.userId ?? shopper.anonymousToken],
    );
    return Number(row?.n ?? 0);
  }

  async addProduct(shopper: Shopper, productId: number, quantity: number): Promise<void> {
    await this.mutateBasket(shopper, true, async (em, order) => {
      const product = await em.findOne(Product, { id: productId, active: true });
      if (!product) throw notFound('The product');
      const existing = order.lines.getItems().find((l) => l.product?.id === productId);
      await assertInStock(em, order.shop.id, product, (existing?.quantity ?? 0) + quantity);
      if (existing) {
        if (existing.quantity + quantity > MAX_LINE_QUANTITY) throw tooMany();
        existing.quantity += quantity;
      } else {
        em.create(OrderLine, {
          order, product, productNumber: product.number, productName: product.name, unit: product.unit, quantity,
          unitPriceMinor: product.priceMinor, vatRateBp: product.vatRateBp, addedBy: shopper.userId, createdAt: new Date(),
        });
      }
      return existing ? 'quantity changed' : 'line added';
    }, () => this.quickAdd(shopper, productId, quantity));
  }

  /** The hot path's lean SQL (quick-add.ts); true when it added the product. */
  private async quickAdd(shopper: Shopper, productId: number, quantity: number): Promise<boolean> {
    const quickBasketId = await quickAddProduct(this.orm, shopper, productId, quantity);
    if (quickBasketId == null) return false;
    // This request's EntityManager, if it has one yet, may hold the basket from before the change; it must not show stale lines.
    const em = usedRequestEntityManager(this.orm.em);
    const cached = em?.getUnitOfWork().getById<Order>(Order.name, quickBasketId);
    if (em && cached) await em.refresh(cached, { populate: ['lines'] });
    return true;
  }

  async setQuantity(shopper: Shopper, lineId: number, quantity: number): Promise<void> {
    await this.mutateBasket(shopper, false, async (em, order) => {
      const line = lineOf(order, lineId);
      if (line.quantity === quantity) return null;
      // Raising a quantity is refused above stock, as adding is; lowering always works.
      if (line.product && quantity > line.quantity) await assertInStock(em, order.shop.id, { id: line.product.id, name: line.productName }, quantity);
      line.quantity = quantity;
      return 'quantity changed';
    });
  }

  async removeLine(shopper: Shopper, lineId: number): Promise<void> {
    await this.mutateBasket(shopper, false, async (em, order) => {
      const line = lineOf(order, lineId);
      order.lines.remove(line);
      em.remove(line);
      return 'line removed';
    });
  }

  async empty(shopper: Shopper): Promise<void> {
    await this.mutateBasket(shopper, false, async (em, order) => {
      for (const line of order.lines.getItems()) em.remove(line);
      order.lines.removeAll();
      // Emptied is a fresh start: a voucher applied to the old contents is not carried to the next ones.
      order.voucherCode = '';
      return 'basket emptied';
    });
  }

  /**
   * A staff user's context date was set or cleared: prices the open basket as of it (or as of now again), so the
   * basket and the "Prices as of" banner agree. A basket being placed is left alone.
   */
  async repriceForContextDate(shopper: Shopper): Promise<void> {
    await this.em.transactional(async (em) => {
      const order = await this.findBasket(shopper, em, true);
      if (!order || order.completed || order.checkoutStep === 'placing') return;
      if (!shopper.priceDate) order.priceCalculationDate = null;
      await reprice(em, order, shopper.priceDate);
    });
  }

  /**
   * At login the anonymous basket joins the user's: same product → quantities add; then the anonymous
   * basket is deleted. A user without a basket adopts the anonymous one. One transaction.
   */
  async mergeAtLogin(userId: number, anonymousToken: string | null): Promise<void> {
    if (!anonymousToken) return;
    await this.em.transactional(async (em) => {
      const anonymous = await em.findOne(Order, { anonymousToken, user: null, basketStatus: 'basket', deleted: false }, { populate: ['lines'], lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!anonymous) return;
      const user = await em.findOneOrFail(User, userId);
      const actor: Actor = { userId, kind: user.role === 'staff' ? 'staff' : 'customer', source: 'frontend' };
      const mine = await this.findBasket({ userId, companyId: null, anonymousToken: null }, em, true);
      if (!mine) {
        anonymous.user = user;
        anonymous.company = user.company ?? null;
        anonymous.anonymousToken = null;
        // A company buyer's basket follows the company's cart flow from now on.
        if (user.company) {
          const state = await this.flows.defaultState(em, 'cart', user.company.id);
          if (anonymous.state?.id !== state.id) {
            await this.flows.move(em, anonymous, state, { actor, check: 'enter', event: 'adopted', message: `Basket taken over by ${user.name} at login; it follows the company's cart flow.` });
          }
        }
        for (const line of anonymous.lines) line.addedBy ??= user;
        await reprice(em, anonymous);
        return;
      }
      if (anonymous.lines.length === 0) {
        em.remove(anonymous);
        return;
      }
      // A basket being placed takes no lines; the anonymous basket waits for the next login.
      if (mine.completed || mine.checkoutStep === 'placing') return;
      await changeBasket(em, {
        actor, lock: async () => mine,
        apply: async () => {
          for (const line of anonymous.lines.getItems()) {
            const same = mine.lines.getItems().find((l) => l.product?.id != null && l.product.id === line.product?.id);
            if (same) {
              same.quantity = Math.min(MAX_LINE_QUANTITY, same.quantity + line.quantity);
            } else {
              em.create(OrderLine, {
                order: mine, product: line.product ?? null, productNumber: line.productNumber, productName: line.productName, unit: line.unit,
                quantity: line.quantity, unitPriceMinor: line.unitPriceMinor, vatRateBp: line.vatRateBp, addedBy: userId, createdAt: new Date(),
              });
            }
          }
          for (const line of anonymous.lines.getItems()) em.remove(line);
          em.remove(anonymous);
          return 'lines merged at login';
        },
      });
    });
  }

  /** One change of the shopper's basket, through the one basket change (basket-mutation.ts), with the basket row locked. */
  private async mutateBasket(shopper: Shopper, createIfMissing: boolean, apply: BasketChange['apply'], quick?: BasketChange['quick']): Promise<void> {
    await changeBasket(this.em, {
      actor: { userId: shopper.userId, kind: 'customer', source: 'frontend' },
      priceDate: shopper.priceDate,
      quick,
      lock: async (em) => {
        const order = await this.findBasket(shopper, em, true);
        if (order) return order;
        if (!createIfMissing) throw notFound('Your basket');
        return this.createBasket(em, shopper);
      },
      apply,
    });
  }

  /**
   * Creates the basket with the one basket insert (quick-add.ts, createBasketSql: INSERT … ON CONFLICT DO NOTHING
   * against the one-basket-per-user index), so two concurrent first add-to-cart requests end up sharing one basket
   * instead of failing or making two.
   */
  private async createBasket(em: EntityManager, shopper: Shopper): Promise<Order> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const insert = createBasketSql(shopper);
      await em.execute(insert.text, insert.values);
      const order = await this.findBasket(shopper, em, true);
      if (order) return order;
      // Nothing made: a shop without a cart flow says so.
      await this.flows.defaultState(em, 'cart', shopper.companyId);
      // A guest's cookie can still name an order that was placed (the answer to "place order" never reached the
      // browser): that token is taken, so the new basket gets a new one, which the caller puts in the cookie.
      if (shopper.userId == null) shopper.anonymousToken = randomUUID();
    }
    throw new DomainError('CONFLICT', 'Your basket could not be created. Please try again.');
  }
}

/** Early, friendly refusal; the atomic guard against overselling is the stock update when the order is placed. */
async function assertInStock(em: EntityManager, shopId: string, product: Pick<Product, 'id' | 'name'>, wanted: number): Promise<void> {
  const [row] = await em.execute<{ allow: boolean; stock: string }[]>(
    'select s.allow_out_of_stock_orders as allow, coalesce((select sum(quantity) from stock_levels where product_id = ?), 0) as stock from shops s where s.id = ?',
    [product.id, shopId],
  );
  const refusal = stockRefusal(row.allow, Number(row.stock), wanted, product.name);
  if (refusal) throw refusal;
}

function lineOf(order: Order, lineId: number): OrderLine {
  const line = order.lines.getItems().find((l) => l.id === lineId);
  if (!line) throw notFound('That basket line');
  return line;
}
