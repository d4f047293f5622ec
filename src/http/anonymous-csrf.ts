import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';

/**
 * CSRF tokens for visitors who have no session yet (signed double-submit cookie, OWASP).
 *
 * A visitor must not get a session row just for looking (a crawler would fill the table), so the forms of the pages
 * they see first (product page, catalog, basket, login, register) carry HMAC(secret, nonce) while the nonce sits in
 * an httpOnly cookie. A cross-site form can neither read the cookie nor compute the HMAC. The token is accepted only
 * from a request without a session (src/app.ts); once a request stores a session (a login, a placed order), every form
 * uses csrf-sync's synchronizer tokens.
 */
export const ANONYMOUS_CSRF_COOKIE = 'orderflow.csrf';
const NONCE = /^[A-Za-z0-9_-]{24}$/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

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
    const token: unknown = req.body?._csrf ?? req.get('x-csrf-token');
    if (!nonce || typeof token !== 'string') return false;
    const expected = Buffer.from(this.sign(nonce));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Middleware for requests without a session: a state-changing request must carry this visitor's token. */
  protect: RequestHandler = (req, _res, next) => {
    if (SAFE_METHODS.has(req.method) || this.verify(req)) return next();
    next(Object.assign(new Error('invalid csrf token'), { code: 'EBADCSRFTOKEN' }));
  };

  private nonceOf(req: Request): string | undefined {
    const nonce: unknown = req.cookies?.[ANONYMOUS_CSRF_COOKIE];
    return typeof nonce === 'string' && NONCE.test(nonce) ? nonce : undefined;
  }

  private sign(nonce: string): string {
    return 'a.' + createHmac('sha256', this.secret).update('anonymous-csrf:' + nonce).digest('base64url');
  }
}
