import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Express, Request, Response } from 'express';
import type { Shopper } from '../shared/shopper';
import { replaceCookie } from './cookies';
import { shopperOf } from './shopper';

/**
 * The header's basket count. It is needed when a page renders (GET pages, and pages answering a POST: confirmations,
 * refusals shown in context, error pages), so redirects and assets never look it up. A page that has the basket at
 * hand (the basket page, the checkout steps) passes `basketCount` itself; otherwise the count is read with one small
 * query (`read`, CartService.itemCount) — or, on a page (GET, HEAD), taken from the count cookie.
 *
 * The count cookie: every page that knows the count stores it in a signed cookie bound to the shopper (the user id,
 * else the basket cookie's token) with the time it was read, and a page trusts it for `ttlMs` (BASKET_COUNT_TTL_MS)
 * instead of asking the database. Every write request of this browser (POST …: an add, a quantity, a login, a
 * placed order) drops it, so the page after it reads the count again. What the cookie cannot see is a change made
 * elsewhere — the same account on another device, staff editing a guest's cart — which the header shows within
 * `ttlMs`; the basket page and checkout always show the basket itself. A tampered cookie, another shopper's cookie
 * or an old one is ignored. If the query fails, the header shows a plain basket link.
 */
export const BASKET_COUNT_COOKIE = 'orderflow.count';
const SAFE_METHODS = new Set(['GET', 'HEAD']);
const SHOWS_COUNT = Symbol('this page shows the basket count');
type ShowsCount = Record<typeof SHOWS_COUNT, boolean | undefined>;
const VALUE = /^(\d{1,9})\.([0-9a-z]{1,11})\.([A-Za-z0-9_-]{43})$/;

export class BasketCountCookie {
  constructor(private readonly secret: string, private readonly secureCookies: boolean, private readonly ttlMs: number) {}

  /**
   * Sets up the count for the pages of requests that `attach` saw (`read` is the query): once, on the app's response
   * prototype, not as a wrapper per request. A page rendered with `basketCount` (or res.locals.basketCount) shows that
   * number and keeps it in the cookie.
   */
  install(app: Express, read: (req: Request) => Promise<number>): void {
    const counts = this;
    const render = app.response.render as (this: Response, ...args: unknown[]) => void;
    app.response.render = function renderWithBasketCount(this: Response, ...args: unknown[]) {
      if (!(this.locals as ShowsCount)[SHOWS_COUNT]) return render.apply(this, args);
      const req = this.req;
      const locals = args[1] !== null && typeof args[1] === 'object' ? (args[1] as Record<string, unknown>) : undefined;
      const given = locals?.basketCount ?? this.locals.basketCount;
      if (typeof given === 'number') {
        counts.keep(req, this, given);
        return render.apply(this, args);
      }
      const count = counts.count(req, this, () => read(req));
      if (typeof count === 'number') {
        this.locals.basketCount = count;
        return render.apply(this, args);
      }
      count.then((n) => { if (n !== undefined) this.locals.basketCount = n; }).finally(() => render.apply(this, args));
    } as typeof app.response.render;
  }

  /**
   * This request's pages show the count (the shop's own pages: not the API's, nor the sandbox provider's page); a
   * write request (POST …) drops the browser's count cookie, so the page after it reads the count again.
   */
  attach(req: Request, res: Response): void {
    (res.locals as ShowsCount)[SHOWS_COUNT] = true;
    if (!SAFE_METHODS.has(req.method) && this.sent(req) !== undefined) this.set(res, null);
  }

  /**
   * The count for a page: on a page (GET, HEAD) the cookie's, else read and kept; undefined when it cannot be read.
   * Also for a page rendered without attach (the cached product page of guests, src/catalog/first-visit-page.ts).
   */
  count(req: Request, res: Response, read: () => Promise<number>): number | Promise<number | undefined> {
    // No user and no basket cookie (a first visit): no basket, so 0, known without asking (nor a cookie to drop).
    if (!ownerOf(shopperOf(req)) && this.sent(req) === undefined) return 0;
    return (SAFE_METHODS.has(req.method) ? this.valid(req) : undefined) ?? this.read(req, res, read);
  }

  private read(req: Request, res: Response, read: () => Promise<number>): Promise<number | undefined> {
    return read().then((n) => { this.keep(req, res, n); return n; }, () => undefined);
  }

  /** The count this browser's cookie holds for this shopper, if signed by us, theirs and younger than ttlMs. */
  private valid(req: Request): number | undefined {
    const cookie = this.parse(req, shopperOf(req));
    return cookie && Date.now() - cookie.at < this.ttlMs ? cookie.count : undefined;
  }

  /** Stores the count the page shows, unless the cookie already holds it and is less than half its time old. */
  private keep(req: Request, res: Response, count: number): void {
    // (on a write request the cookie the browser sent is being dropped: a count read now is stored again)
    if (res.headersSent) return;
    const shopper = shopperOf(req);
    const owner = ownerOf(shopper);
    if (!owner || this.ttlMs <= 0) {
      if (this.sent(req) !== undefined) this.set(res, null);
      return;
    }
    const cookie = this.parse(req, shopper);
    if (SAFE_METHODS.has(req.method) && cookie && cookie.count === count && Date.now() - cookie.at < this.ttlMs / 2) return;
    const at = Date.now().toString(36);
    this.set(res, `${count}.${at}.${this.sign(owner, String(count), at)}`);
  }

  private parse(req: Request, shopper: Shopper): { count: number; at: number } | undefined {
    const owner = ownerOf(shopper);
    const m = owner ? VALUE.exec(this.sent(req) ?? '') : null;
    if (!owner || !m) return undefined;
    const given = Buffer.from(m[3]);
    const expected = Buffer.from(this.sign(owner, m[1], m[2]));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return { count: Number(m[1]), at: parseInt(m[2], 36) };
  }

  private sent(req: Request): string | undefined {
    const value: unknown = req.cookies?.[BASKET_COUNT_COOKIE];
    return typeof value === 'string' ? value : undefined;
  }

  private set(res: Response, value: string | null): void {
    replaceCookie(res, BASKET_COUNT_COOKIE, value, { httpOnly: true, sameSite: 'lax', secure: this.secureCookies, path: '/', maxAge: this.ttlMs }, true);
  }

  private sign(owner: string, count: string, at: string): string {
    return createHmac('sha256', this.secret).update(`basket-count:${owner}:${count}:${at}`).digest('base64url');
  }
}

/** Whose basket the count is: the signed-in user's, else the basket cookie's (none: no basket, the count is 0). */
function ownerOf(shopper: Shopper): string | null {
  return shopper.userId != null ? `user:${shopper.userId}` : shopper.anonymousToken ? `guest:${shopper.anonymousToken}` : null;
}
