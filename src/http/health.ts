/** One thing a page needs (a pool, a server): resolves when usable, rejects or hangs when not. */
export type HealthCheck = () => Promise<unknown>;

/**
 * /healthz: every registered component must answer within `timeoutMs`, else the answer is 503. Components are
 * added with one `add(name, check)` each (the ORM pool, the session pool, …). Checks run at most once in flight
 * and their answer is reused for `cacheMs`, so a load balancer polling often costs one `select 1` per component.
 *
 */
export class HealthChecks {
  private readonly checks = new Map<string, HealthCheck>();
  private last?: { at: number; components: Record<string, 'up' | 'down'> };
  private inFlight?: Promise<Record<string, 'up' | 'down'>>;

  constructor(private readonly opts: { timeoutMs?: number; cacheMs?: number } = {}) {}

  add(name: string, check: HealthCheck): this {
    this.checks.set(name, check);
    return this;
  }

  /** Each component's state, fresh or from the last `cacheMs`. */
  async status(): Promise<{ ok: boolean; components: Record<string, 'up' | 'down'> }> {
    const cacheMs = this.opts.cacheMs ?? 1000;
    if (!this.last || Date.now() - this.last.at >= cacheMs) {
      this.inFlight ??= this.checkAll().then((components) => {
        this.last = { at: Date.now(), components };
        this.inFlight = undefined;
        return components;
      });
      await this.inFlight;
    }
    const components = this.last!.components;
    return { ok: Object.values(components).every((s) => s === 'up'), components };
  }

  private async checkAll(): Promise<Record<string, 'up' | 'down'>> {
    const timeoutMs = this.opts.timeoutMs ?? 2000;
    const entries = await Promise.all([...this.checks].map(async ([name, check]) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
      const up = await Promise.race([Promise.resolve().then(check).then(() => true, () => false), timeout]);
      clearTimeout(timer);
      return [name, up ? 'up' : 'down'] as const;
    }));
    return Object.fromEntries(entries);
  }
}
