import type { MikroORM } from '@mikro-orm/postgresql';

/** Partial shipments (each captures the value of its items) and track & trace. */
export class ShipmentService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }
}
