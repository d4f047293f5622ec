import { Entity, type Opt, PrimaryKey, PrimaryKeyProp, Property } from '@mikro-orm/core';

/** Which staff list a preference belongs to: /admin/orders or /admin/carts. */
export type OrderListKind = 'order' | 'cart';

/**
 * A staff user's order list settings: the filter they last applied (remembered until Reset) and the columns they
 * chose. Both are stored as validated JSON and validated again when read, so an old or hand-edited value can never
 * reach a query.
 */
@Entity({ tableName: 'order_list_preferences' })
export class OrderListPreference {
  [PrimaryKeyProp]?: ['userId', 'list'];
  @PrimaryKey({ type: 'integer' }) userId!: number;
  @PrimaryKey({ type: 'text' }) list!: OrderListKind;
  @Property({ type: 'json', nullable: true }) filter?: Record<string, unknown> | null;
  @Property({ type: 'json', nullable: true }) columns?: string[] | null;
  @Property({ type: 'Date', columnType: 'timestamptz', onUpdate: () => new Date(), defaultRaw: 'now()' }) updatedAt: Opt<Date> = new Date();
}

/** Staff order list preferences. Listed in src/db/entities.ts. */
export const orderListEntities: Function[] = [OrderListPreference];
