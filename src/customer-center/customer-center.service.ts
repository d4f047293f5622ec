import type { MikroORM } from '@mikro-orm/postgresql';
import { ownerOf, relationTo, visibleFilter, visibleOrRefuse } from '../accounts/access-policy';
import { User } from '../accounts/account.entities';
import type { SessionUser } from '../accounts/account.service';
import { mayOrderCart } from '../checkout/placement';
import type { FlowService } from '../flows/flow.service';
import { Order } from '../orders/order.entities';

/** The buyer's side of carts: which carts they may see and the frontend cart state change (ChangeDraftStatusForm). */
export class CustomerCenterService {
  constructor(private readonly orm: MikroORM, private readonly flows: FlowService) {}

  private get em() {
    return this.orm.em;
  }

  /** The user's own carts and, for a B2B buyer, the company's shared carts — each with the states it may move to. */
  async carts(user: SessionUser) {
    const carts = await this.em.find(Order, { ...visibleFilter(user), type: 'cart', deleted: false }, { populate: ['lines.addedBy', 'state', 'user'], orderBy: { basketStatus: 'asc', updatedAt: 'desc' } });
    const me = await this.em.findOneOrFail(User, user.id);
    const out = [];
    // The user's basket while its checkout runs is an order, not a cart: listed first, so it is never out of sight.
    const inCheckout = await this.em.findOne(Order, { user: user.id, basketStatus: 'basket', type: 'order', completed: false, deleted: false },
      { populate: ['lines.addedBy', 'state', 'user'] });
    if (inCheckout) out.push({ cart: inCheckout, inCheckout: true, reachable: [], orderable: true, spendLimitMinor: null });
    for (const cart of carts) {
      const limit = relationTo(user, ownerOf(cart)) === 'owner' && me.company?.id === cart.company?.id ? me.spendLimitMinor ?? null : null;
      out.push({ cart, inCheckout: false, reachable: await this.flows.movesFor(this.em, cart, moverOf(user), false), orderable: mayOrderCart(cart.state ?? null, cart.totalMinor, limit), spendLimitMinor: limit });
    }
    return out;
  }

  /**
   * A buyer moves a cart through its cart flow. A cart the user may not see is "not found" (never a leak);
   * the move itself follows the flow's rules and never leaves the cart's flow.
   */
  async changeCartState(user: SessionUser, cartNumber: string, stateId: number): Promise<Order> {
    // Only carts: a placed order or a quote never moves through this form (they are not carts), whoever owns it.
    const cart = visibleOrRefuse(user, await this.em.findOne(Order, { number: cartNumber, type: 'cart', deleted: false }), 'The cart');
    await this.flows.changeState({
      orderId: cart.id, toStateId: stateId, allowFlowSwitch: false,
      actor: { ...moverOf(user), source: 'frontend' },
    });
    return cart;
  }
}

const moverOf = (user: SessionUser) => ({ userId: user.id, kind: user.role === 'buyer' ? 'buyer' as const : 'customer' as const });
