import { AsyncLocalStorage } from 'node:async_hooks';
import { MikroORM, type EntityManager } from '@mikro-orm/postgresql';
import type { RequestHandler } from 'express';
import { ormConfig } from '../../mikro-orm.config';
import { isDatabaseUnavailable } from './unavailable';

/**
 * Read replicas for reads that may be a moment stale (staff order list and search, statistics and its CSV export, the
 * customer's order history list, the API's "orders changed since"). Everything else — writes and every read inside
 * a write — stays on the primary, and so does every read of a request that is not a GET, of a background job, or of
 * a person who changed something within the last REPLICA_MAX_LAG_MS (read-your-writes, see `middleware`).
 *
 * A replica is used only while it answers and is at most `maxLagMs` behind the primary; otherwise the primary
 * serves. A read that fails because its replica went away meanwhile is run again on the primary.
 */

export type ReplicaState = 'up' | 'lagging' | 'down';
export interface ReplicaHealth { name: string; state: ReplicaState; lagMs: number | null }

export interface ReplicaOptions {
  /** A replica further behind than this is skipped (and read-your-writes lasts this long, plus one check). */
  maxLagMs: number;
  /** How long a replica's state is reused before it is checked again. */
  checkEveryMs?: number;
  /** Pool size per replica. */
  poolMax?: number;
}

/** The cookie that sends a person's reads to the primary after a change: its value is the time it ends (ms). */
export const FRESH_READS_COOKIE = 'of_fresh';
const FRESH_COOKIE_VALUE = new RegExp(`(?:^|;\\s*)${FRESH_READS_COOKIE}=(\\d+)`);
const CHECK_TIMEOUT_MS = 1000;

interface Replica {
  name: string;
  url: string;
  orm?: Promise<MikroORM>;
  health: ReplicaHealth;
  checkedAt: number;
}

/** Per request: may its reads be served by a replica? Unset (jobs, CLI, tests calling services) means no. */
const routing = new AsyncLocalStorage<{ replicaAllowed: boolean }>();

const routers = new WeakMap<MikroORM, ReadRouter>();

/**
 * The router serving `orm`'s stale-tolerant reads. Looked up by the primary ORM so that services keep their
 * constructors (they only call `replicaReads(this.orm).run(...)`); without replicas every read goes to `orm`.
 */
export function replicaReads(orm: MikroORM): ReadRouter {
  let router = routers.get(orm);
  if (!router) {
    router = new ReadRouter(orm, [], { maxLagMs: 0 });
    routers.set(orm, router);
  }
  return router;
}

export class ReadRouter {
  private readonly replicas: Replica[];
  private readonly checkEveryMs: number;
  private next = 0;
  private checking?: Promise<void>;
  private closed = false;

  constructor(private readonly primary: MikroORM, urls: string[], private readonly options: ReplicaOptions) {
    this.replicas = urls.map((url, i) => ({ name: `replica ${i + 1}`, url, health: { name: `replica ${i + 1}`, state: 'up', lagMs: null }, checkedAt: 0 }));
    this.checkEveryMs = options.checkEveryMs ?? 1000;
  }

  /** Creates the router for `primary` (replaces one made before) with the given replica URLs. */
  static attach(primary: MikroORM, urls: string[], options: ReplicaOptions): ReadRouter {
    const router = new ReadRouter(primary, urls, options);
    routers.set(primary, router);
    return router;
  }

  get configured(): boolean {
    return this.replicas.length > 0;
  }

  /** How long after a change a person's reads stay on the primary. */
  get freshWindowMs(): number {
    return this.options.maxLagMs + this.checkEveryMs;
  }

  /**
   * Decides per request whether its reads may come from a replica: GET and HEAD requests may, unless the person
   * changed something in the last `freshWindowMs`. Any other request is a change: it runs on the primary and sets a
   * short cookie so the page it redirects to (and the next ones for that window) read from the primary too. This
   * is "primary for a short window" rather than "wait for the replica to replay the change's WAL position": no
   * request waits, it works the same with several replicas and with none caught up, and it needs no shared state
   * between app processes. The window covers the largest lag a replica in use may have, so a person never sees
   * their change missing.
   */
  middleware(): RequestHandler {
    return (req, res, next) => {
      if (!this.configured) return next();
      const read = req.method === 'GET' || req.method === 'HEAD';
      if (!read) {
        res.cookie(FRESH_READS_COOKIE, String(Date.now() + this.freshWindowMs), { maxAge: this.freshWindowMs, httpOnly: true, sameSite: 'lax', path: '/' });
      }
      // Read here, before cookie-parser: the API's routes are mounted ahead of it.
      const freshUntil = Number(FRESH_COOKIE_VALUE.exec(req.headers.cookie ?? '')?.[1] ?? 0);
      routing.run({ replicaAllowed: read && freshUntil < Date.now() }, next);
    };
  }

  /**
   * Runs a read that may be a moment stale. On a usable replica when this request may use one and no transaction
   * is open (a read inside a write stays on the primary); on the primary otherwise, or when the replica fails.
   */
  async run<T>(read: (em: EntityManager) => Promise<T>): Promise<T> {
    const replica = await this.pick();
    if (replica) {
      try {
        return await read(replicaEm(await replica.orm!));
      } catch (e) {
        if (!isDatabaseUnavailable(e)) throw e;
        this.mark(replica, { state: 'down', lagMs: null });
        console.error(`[replicas] ${replica.name} failed a read, the primary serves: ${(e as Error).message}`);
      }
    }
    return read(this.primary.em as EntityManager);
  }

  /** One statement (values bound to `?`, as `em.execute`) run as `run` decides. */
  execute<T extends object[]>(sql: string, params: unknown[] = []): Promise<T> {
    return this.run((em) => em.execute<T>(sql, params));
  }

  /** Each replica's state, checked now if the last check is older than `checkEveryMs`. */
  async health(): Promise<ReplicaHealth[]> {
    await this.refresh();
    return this.replicas.map((r) => ({ ...r.health }));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.replicas.map(async (r) => (await r.orm?.catch(() => undefined))?.close()));
  }

  private async pick(): Promise<Replica | undefined> {
    if (!this.configured || !routing.getStore()?.replicaAllowed || this.primary.em.isInTransaction()) return undefined;
    await this.refresh();
    const usable = this.replicas.filter((r) => r.health.state === 'up');
    if (!usable.length) return undefined;
    return usable[this.next++ % usable.length];
  }

  /** Checks the replicas whose state is older than `checkEveryMs`; one check at a time, shared by all callers. */
  private refresh(): Promise<void> {
    const stale = this.replicas.filter((r) => Date.now() - r.checkedAt >= this.checkEveryMs);
    if (!stale.length || this.closed) return Promise.resolve();
    this.checking ??= this.check(stale).finally(() => { this.checking = undefined; });
    return this.checking;
  }

  /**
   * Lag: 0 when the replica has replayed everything the primary had written when the check began; otherwise the
   * time since the last transaction it replayed (an upper bound: it may have replayed up to the primary's position
   * of a moment ago). A replica that does not answer within a second is down.
   */
  private async check(replicas: Replica[]): Promise<void> {
    const primaryLsn = await withTimeout(
      this.primary.em.fork().execute<{ lsn: string }[]>('select pg_current_wal_lsn()::text as lsn').then((r) => r[0].lsn),
    ).catch(() => undefined);
    await Promise.all(replicas.map(async (r) => {
      try {
        // Its own context name: a request's RequestContext holds the primary's EntityManager under the default one.
        r.orm ??= MikroORM.init({ ...ormConfig(r.url, { poolMax: this.options.poolMax ?? 10 }), connect: false, contextName: `replica-${r.name}` });
        const [row] = await withTimeout(replicaEm(await r.orm).execute<{ standby: boolean; caught_up: boolean | null; since_replay_ms: number | null }[]>(
          `select pg_is_in_recovery() as standby,
                  pg_last_wal_replay_lsn() >= ?::pg_lsn as caught_up,
                  (extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()) * 1000)::float8 as since_replay_ms`,
          [primaryLsn ?? '0/0'],
        ));
        const lagMs = !row.standby || (primaryLsn && row.caught_up) ? 0 : row.since_replay_ms == null ? null : Math.round(row.since_replay_ms);
        this.mark(r, { state: lagMs != null && lagMs <= this.options.maxLagMs ? 'up' : 'lagging', lagMs });
      } catch {
        this.mark(r, { state: 'down', lagMs: null });
      }
    }));
  }

  private mark(r: Replica, health: Omit<ReplicaHealth, 'name'>): void {
    if (r.health.state !== health.state) console.error(`[replicas] ${r.name} is ${health.state}${health.lagMs != null ? ` (lag ${health.lagMs} ms)` : ''}`);
    r.health = { name: r.name, ...health };
    r.checkedAt = Date.now();
  }
}

function replicaEm(orm: MikroORM): EntityManager {
  return orm.em.fork({ disableContextResolution: true });
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('replica check timed out')), CHECK_TIMEOUT_MS); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
