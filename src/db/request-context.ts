import type { AsyncLocalStorage } from 'node:async_hooks';
import { RequestContext, type EntityManager } from '@mikro-orm/core';
import type { RequestHandler } from 'express';

/**
 * The request's EntityManagers as MikroORM's RequestContext keeps them (by context name), each forked the first time
 * the request uses it: a request that never touches the ORM — a guest's add to the basket runs lean SQL
 * (src/cart/quick-add.ts) — builds no EntityManager, unit of work and identity map only to drop them.
 */
class ForkedOnFirstUse extends Map<string, EntityManager> {
  constructor(private readonly em: EntityManager) {
    super();
  }

  /** True while the fork is being made: it asks for the context as it builds (as MikroORM's own does, it finds none). */
  private forking = false;

  override get(name: string): EntityManager | undefined {
    const made = super.get(name);
    if (made || name !== this.em.name || this.forking) return made;
    this.forking = true;
    try {
      // From the app's EntityManager itself: resolving the context would ask this map again.
      const fork = this.em.fork({ useContext: true, disableContextResolution: true });
      this.set(name, fork);
      return fork;
    } finally {
      this.forking = false;
    }
  }
}

/**
 * MikroORM's RequestContext.create, with the fork made on first use. MikroORM has no public way to give the context
 * its map, so its storage is reached here, in the one place; a MikroORM without it stops the app at start.
 */
export function requestContext(em: EntityManager): RequestHandler {
  const storage = (RequestContext as unknown as { storage?: AsyncLocalStorage<RequestContext> }).storage;
  if (!storage || typeof storage.run !== 'function') throw new Error('MikroORM changed its RequestContext: src/db/request-context.ts must follow');
  return (_req, _res, next) => storage.run(new RequestContext(new ForkedOnFirstUse(em)), next);
}

/**
 * This request's EntityManager if the request has used it yet, without making one: what a lean SQL change asks
 * before refreshing what the ORM may hold (an EntityManager never made holds nothing).
 */
export function usedRequestEntityManager(em: EntityManager): EntityManager | undefined {
  const forks = RequestContext.currentRequestContext()?.map;
  return forks?.has(em.name) ? forks.get(em.name) : undefined;
}
