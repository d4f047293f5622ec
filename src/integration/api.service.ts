import type { MikroORM } from '@mikro-orm/postgresql';

/** API keys and the JSON API's use cases (orders changed since, one order, state, tracking, capture, exported). */
export class ApiService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }
}
