import type { EntityManager } from '@mikro-orm/postgresql';
import { DomainError } from '../shared/errors';
import { FlowState, type FlowType } from './flow.entities';

/** Flow lookups needed by every aggregate that lives in a flow (carts, orders, quotes, returns). */
export class FlowService {
  /** The default state of the default flow of a type: where new records of that type start. */
  async defaultState(em: EntityManager, type: FlowType): Promise<FlowState> {
    const state = await em.findOne(FlowState, { isDefault: true, deleted: false, flow: { type, isDefault: true } });
    if (!state) throw new DomainError('CONFLICT', `No default ${type} flow with a default state is configured.`);
    return state;
  }
}
