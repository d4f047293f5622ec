import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import { GUEST_BASKET_DAYS, type Shopper } from '../shared/shopper';

export const BASKET_COOKIE = 'basket';
/** The express-session cookie (src/app.ts). */
export const SESSION_COOKIE = 'orderflow.sid';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The current shopper: the signed-in user, else the anonymous basket cookie (ignored unless a UUID). */
export function shopperOf(req: Request): Shopper {
  const token = req.cookies?.[BASKET_COOKIE];
  return {
    userId: req.user?.id ?? null,
    companyId: req.user?.companyId ?? null,
    anonymousToken: typeof token === 'string' && UUID.test(token) ? token : null,
    // Only staff price as of a context date (src/catalog/context-date.ts stores it when the shop allows it).
    priceDate: req.user?.role === 'staff' ? req.session?.contextDate ?? null : null,
  };
}

/** Like shopperOf, but gives an anonymous visitor a basket cookie so a basket can be created. */
export function shopperWithBasketCookie(req: Request, res: Response): Shopper {
  const shopper = shopperOf(req);
  if (shopper.userId == null && !shopper.anonymousToken) {
    shopper.anonymousToken = randomUUID();
    shopper.newToken = true;
    setBasketCookie(req, res, shopper.anonymousToken);
  }
  return shopper;
}

export function setBasketCookie(req: Request, res: Response, token: string): void {
  res.cookie(BASKET_COOKIE, token, { httpOnly: true, sameSite: 'lax', secure: req.secure, maxAge: GUEST_BASKET_DAYS * 24 * 3600 * 1000, path: '/' });
}

export function clearBasketCookie(res: Response): void {
  res.clearCookie(BASKET_COOKIE, { path: '/' });
}

declare module 'express-session' {
  interface SessionData {
    /** Flash messages too long for their cookie (src/http/flash.ts). */
    flash?: { type: 'success' | 'error'; message: string }[];
    placedOrders?: number[];
    loginNext?: string;
    /** A staff user's context date (YYYY-MM-DD) for storefront prices. */
    contextDate?: string;
    /** Set to make express-session save the session with a fresh expiry (see refreshSessionExpiry). */
    expiryRefreshedAt?: number;
  }
}

export { flash } from './flash';

/** Only same-site relative paths are followed after login. */
export function safeNext(next: unknown, fallback = '/'): string {
  return typeof next === 'string' && /^\/(?!\/)[\w\-./?=&%]*$/.test(next) ? next : fallback;
}
