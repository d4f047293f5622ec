import type { MikroORM } from '@mikro-orm/postgresql';
import type { PaymentProviders } from './payment-providers';

/** Staff payment operations on placed orders: capture (full, split, final), cancel, refund, soft delete/restore. */
export class PaymentService {
  constructor(private readonly orm: MikroORM, private readonly providers: PaymentProviders) {}

  private get em() {
    return this.orm.em;
  }
}
