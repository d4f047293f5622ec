import { Check, Entity, Enum, ManyToOne, type Opt, PrimaryKey, PrimaryKeyProp, Property } from '@mikro-orm/core';

/** Which staff list a preference belongs to: /admin/orders or /admin/carts. */
export type OrderListKind = 'order' | 'cart';

/**
 * A staff user's order list settings: the filter they last applied (remembered until Reset) and the columns they
 * chose. Both are stored as validated JSON and validated again when read, so an old or hand-edited value can never
 * reach a query.
 */
@Check({ name: 'order_list_preferences_columns_check', expression: "(columns IS NULL) OR (jsonb_typeof(columns) = 'array'::text)" })
@Entity({ tableName: 'order_list_preferences' })
export class OrderListPreference {
  [PrimaryKeyProp]?: ['userId', 'list'];
  @ManyToOne({ entity: 'User', mapToPk: true, primary: true, deleteRule: 'cascade', fieldName: 'user_id' }) userId!: number;
  @Enum({ items: ['order', 'cart'], type: 'text', primary: true }) list!: OrderListKind;
  @Property({ type: 'json', nullable: true }) filter?: Record<string, unknown> | null;
  @Property({ type: 'json', nullable: true }) columns?: string[] | null;
  @Property({ type: 'Date', columnType: 'timestamptz', onUpdate: () => new Date(), defaultRaw: 'now()' }) updatedAt: Opt<Date> = new Date();
}

/** Staff order list preferences. Listed in src/db/entities.ts. */
export const orderListEntities: Function[] = [OrderListPreference];
