import type { MikroORM } from '@mikro-orm/postgresql';

/** Returns (RMA): request, approve/reject, receive goods, refund or replace. */
export class ReturnService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }
}
