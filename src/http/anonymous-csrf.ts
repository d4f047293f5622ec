import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

/**
 * CSRF tokens for first-time visitors who have no session yet (signed double-submit cookie, OWASP).
 *
 * Pages served from the first-visit page cache (src/catalog/first-visit-page.ts) must not create a session row per
 * visitor, so their one form (add to basket) carries HMAC(secret, nonce) while the nonce sits in an httpOnly cookie.
 * A cross-site form can neither read the cookie nor compute the HMAC. Only POST /cart/add accepts such a token, and
 * only from a request without a session token; that request creates the session, and from then on every form uses
 * csrf-sync's synchronizer tokens as before.
 */
export const ANONYMOUS_CSRF_COOKIE = 'orderflow.csrf';
const NONCE = /^[A-Za-z0-9_-]{24}$/;

export class AnonymousCsrf {
  constructor(private readonly secret: string, private readonly secureCookies: boolean) {}

  /** The token for this visitor's forms; sets the nonce cookie when the visitor has none. */
  issue(req: Request, res: Response): string {
    let nonce = this.nonceOf(req);
    if (!nonce) {
      nonce = randomBytes(18).toString('base64url');
      res.cookie(ANONYMOUS_CSRF_COOKIE, nonce, { httpOnly: true, sameSite: 'lax', secure: this.secureCookies, path: '/' });
    }
    return this.sign(nonce);
  }

  /** True when the form's token is the HMAC of the visitor's nonce cookie. */
  verify(req: Request): boolean {
    const nonce = this.nonceOf(req);
    const token: unknown = req.body?._csrf;
    if (!nonce || typeof token !== 'string') return false;
    const expected = Buffer.from(this.sign(nonce));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private nonceOf(req: Request): string | undefined {
    const nonce: unknown = req.cookies?.[ANONYMOUS_CSRF_COOKIE];
    return typeof nonce === 'string' && NONCE.test(nonce) ? nonce : undefined;
  }

  private sign(nonce: string): string {
    return 'a.' + createHmac('sha256', this.secret).update('anonymous-csrf:' + nonce).digest('base64url');
  }
}
