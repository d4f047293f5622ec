import type { MikroORM } from '@mikro-orm/postgresql';
import { flowsOfType, type BulkResult, type FlowService, type StateChangeActor } from '../flows/flow.service';
import { notFound } from '../shared/errors';
import { Order, OrderHistoryEntry, type OrderType } from './order.entities';

export const ADMIN_PAGE_SIZE = 50;

export interface AdminListFilter { type: 'order' | 'cart'; stateIds: number[]; companyId?: number; page: number }

/** Staff views of carts and orders, and the staff ways of moving them through their flows. */
export class OrderAdminService {
  constructor(private readonly orm: MikroORM, private readonly flows: FlowService) {}

  private get em() {
    return this.orm.em;
  }

  async list(f: AdminListFilter) {
    const where: string[] = ['o.type = ?', 'not o.deleted'];
    const params: unknown[] = [f.type];
    if (f.stateIds.length) {
      where.push(`o.state_id in (${f.stateIds.map(() => '?').join(',')})`);
      params.push(...f.stateIds);
    }
    if (f.companyId) {
      where.push('o.company_id = ?');
      params.push(f.companyId);
    }
    if (f.type === 'cart') where.push(`exists (select 1 from order_lines l where l.order_id = o.id)`);
    const rows = await this.em.execute(
      `select o.id, o.number, o.created_at, o.updated_at, o.completed, o.total_minor, o.currency_code, o.billing_name, o.billing_company, o.name,
              o.capture_state, o.basket_status, s.name as state_name, s.color as state_color, c.name as company_name, u.name as user_name, u.email as user_email,
              pm.name as payment_name, sm.name as shipping_name
       from orders o
       left join flow_states s on s.id = o.state_id
       left join companies c on c.id = o.company_id
       left join users u on u.id = o.user_id
       left join payment_methods pm on pm.id = o.payment_method_id
       left join shipping_methods sm on sm.id = o.shipping_method_id
       where ${where.join(' and ')}
       order by o.created_at desc, o.id desc limit ${ADMIN_PAGE_SIZE + 1} offset ${(f.page - 1) * ADMIN_PAGE_SIZE}`,
      params,
    );
    return { rows: rows.slice(0, ADMIN_PAGE_SIZE), hasNext: rows.length > ADMIN_PAGE_SIZE };
  }

  async companies() {
    return this.em.execute<{ id: number; name: string }[]>('select id, name from companies order by name');
  }

  statesFor(type: OrderType) {
    return flowsOfType(this.em, type === 'quote' ? 'quote' : type);
  }

  async details(number: string, type?: OrderType) {
    const order = await this.em.findOne(Order, { number, deleted: false, ...(type ? { type } : {}) }, {
      populate: ['lines', 'state.flow', 'shippingMethod', 'paymentMethod', 'user', 'company', 'shop'],
    });
    if (!order) throw notFound(type === 'cart' ? 'The cart' : 'The order');
    const history = await this.em.find(OrderHistoryEntry, { order }, { populate: ['fromState', 'toState', 'actor'], orderBy: { id: 'asc' } });
    return { order, history, flows: await this.statesFor(order.type) };
  }

  async changeState(number: string, toStateId: number, expectedVersion: number, staff: StateChangeActor) {
    const order = await this.em.findOne(Order, { number, deleted: false });
    if (!order) throw notFound('The order');
    await this.flows.changeState({ orderId: order.id, toStateId, expectedVersion, actor: staff, allowFlowSwitch: true });
    return order;
  }

  async changeStates(numbers: string[], toStateId: number, staff: StateChangeActor): Promise<BulkResult[]> {
    const rows = await this.em.execute<{ id: number; number: string }[]>(
      `select id, number from orders where number in (${numbers.map(() => '?').join(',')}) and not deleted order by id`, numbers);
    const found = new Set(rows.map((r) => r.number));
    const missing: BulkResult[] = numbers.filter((n) => !found.has(n)).map((n) => ({ orderId: 0, number: n, moved: false, reason: 'Not found.' }));
    return [...(await this.flows.changeStates(rows.map((r) => r.id), toStateId, staff)), ...missing];
  }
}
