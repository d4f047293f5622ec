import type { MikroORM } from '@mikro-orm/postgresql';

/** Revenue and order count per day/week/month, excluding states marked "exclude from statistics". */
export class StatisticsService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }
}
