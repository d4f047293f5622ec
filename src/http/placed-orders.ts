import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import { openedSession } from './lazy-session';

/**
 * The orders a guest placed in this browser: their receipt is theirs to see, and a resubmitted "place order" finds its
 * order after the basket cookie was cleared. Kept in a signed cookie, not in the session, so placing an order gives a
 * guest no session row and none of their later requests reads one (every request of the next checkout did). The
 * cookie is HMAC-signed with the session secret: a browser cannot claim an order it did not place, and a tampered
 * cookie counts as none. A signed-in shopper's orders are theirs by the access policy; their session keeps the list
 * as before (logging out ends it), and a session's list still counts for everyone.
 */
export const PLACED_ORDERS_COOKIE = 'orderflow.placed';
const KEEP = 20;
const VALUE = /^(\d{1,12}(?:,\d{1,12}){0,19})\.([A-Za-z0-9_-]{43})$/;
const MAX_AGE_MS = 14 * 24 * 3600 * 1000;

export class PlacedOrdersCookie {
  constructor(private readonly secret: string, private readonly secureCookies: boolean) {}

  /** The ids of the orders placed in this browser: its signed cookie's and its session's. */
  read(req: Request): number[] {
    return [...this.signedIds(req), ...(openedSession(req)?.placedOrders ?? [])];
  }

  /** Remembers an order placed in this browser (a guest's in the cookie, a signed-in shopper's in the session; the last 20). */
  remember(req: Request, res: Response, orderId: number): void {
    if (req.user) {
      req.session.placedOrders = [...(req.session.placedOrders ?? []).filter((id) => id !== orderId).slice(-(KEEP - 1)), orderId];
      return;
    }
    const ids = [...this.signedIds(req).filter((id) => id !== orderId).slice(-(KEEP - 1)), orderId].join(',');
    res.cookie(PLACED_ORDERS_COOKIE, `${ids}.${this.sign(ids)}`, { httpOnly: true, sameSite: 'lax', secure: this.secureCookies, path: '/', maxAge: MAX_AGE_MS });
  }

  private signedIds(req: Request): number[] {
    const value: unknown = req.cookies?.[PLACED_ORDERS_COOKIE];
    const m = typeof value === 'string' ? VALUE.exec(value) : null;
    if (!m) return [];
    const given = Buffer.from(m[2]);
    const expected = Buffer.from(this.sign(m[1]));
    return given.length === expected.length && timingSafeEqual(given, expected) ? m[1].split(',').map(Number) : [];
  }

  private sign(ids: string): string {
    return createHmac('sha256', this.secret).update(`placed-orders:${ids}`).digest('base64url');
  }
}
