import type { MikroORM } from '@mikro-orm/postgresql';

/** The buyer's order history: own orders and, for a B2B buyer, the company's. */
export class OrderHistoryService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }
}
