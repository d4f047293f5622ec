import type { MikroORM } from '@mikro-orm/postgresql';

/** Staff settings for flows, states, transition rules and notifications (/admin/settings). */
export class FlowSettingsService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }
}
