import type { MikroORM } from '@mikro-orm/postgresql';

/** Staff order editing with versions, and custom order / order line fields. */
export class OrderEditService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }
}
