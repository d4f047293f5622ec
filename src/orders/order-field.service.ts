import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { invalid, notFound } from '../shared/errors';
import { OrderFieldDefinition } from './order-edit.entities';
import type { FieldDefs, FieldInput } from './order-fields';

/** Custom order and order line field definitions (/admin/settings/order-fields). */
export class OrderFieldService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  async fieldDefinitions(em: EntityManager = this.em): Promise<FieldDefs> {
    const all = await em.find(OrderFieldDefinition, {}, { orderBy: { sortOrder: 'asc', id: 'asc' } });
    return { order: all.filter((d) => d.appliesTo === 'order'), line: all.filter((d) => d.appliesTo === 'line') };
  }

  async fieldDefinition(id: number): Promise<OrderFieldDefinition> {
    const def = await this.em.findOne(OrderFieldDefinition, { id });
    if (!def) throw notFound('The field');
    return def;
  }

  async createField(input: FieldInput): Promise<OrderFieldDefinition> {
    return this.em.transactional(async (em) => {
      const taken = await em.findOne(OrderFieldDefinition, { systemName: input.systemName });
      if (taken) throw invalid(`The system name ${input.systemName} is already used by “${taken.name}”.`, { systemName: `is already used by “${taken.name}”` });
      const def = em.create(OrderFieldDefinition, { ...input, createdAt: new Date() });
      try {
        await em.flush();
      } catch (e) {
        // Two staff creating the same name at once: the unique index decides.
        if (e instanceof UniqueConstraintViolationException) throw invalid(`The system name ${input.systemName} is already used.`, { systemName: 'is already used' });
        throw e;
      }
      return def;
    });
  }

  /** The name and position can change; the system name and type cannot, so stored values stay valid. */
  async updateField(id: number, input: { name: string; sortOrder: number }): Promise<OrderFieldDefinition> {
    return this.em.transactional(async (em) => {
      const def = await em.findOne(OrderFieldDefinition, { id });
      if (!def) throw notFound('The field');
      Object.assign(def, input);
      return def;
    });
  }

  /** Removes the definition; values already stored on orders and in versions are kept, just no longer shown as a field. */
  async deleteField(id: number): Promise<OrderFieldDefinition> {
    return this.em.transactional(async (em) => {
      const def = await em.findOne(OrderFieldDefinition, { id });
      if (!def) throw notFound('The field');
      em.remove(def);
      return def;
    });
  }
}
