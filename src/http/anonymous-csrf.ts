import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { BoundedMap } from '../shared/bounded-map';
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
const NONCE_BYTES = 18;
/** Tokens of nonces that verified (a guest adds again and again): bounded, dropped at once when full. */
const MAX_KNOWN_TOKENS = 10_000;

/** Random bytes drawn in batches, as randomUUID does: one call into the CSPRNG per 256 nonces; each byte used once. */
let randomPool = Buffer.alloc(0);
let randomOffset = 0;
function newNonce(): string {
  if (randomOffset + NONCE_BYTES > randomPool.length) {
    randomPool = randomBytes(NONCE_BYTES * 256);
    randomOffset = 0;
  }
  randomOffset += NONCE_BYTES;
  return randomPool.toString('base64url', randomOffset - NONCE_BYTES, randomOffset);
}

export class AnonymousCsrf {
  private readonly knownTokens = new BoundedMap<string, string>(MAX_KNOWN_TOKENS);

  constructor(private readonly secret: string, private readonly secureCookies: boolean) {}

  /** The token for this visitor's forms; sets the nonce cookie when the visitor has none. */
  issue(req: Request, res: Response): string {
    let nonce = this.nonceOf(req);
    if (!nonce) {
      nonce = newNonce();
      res.cookie(ANONYMOUS_CSRF_COOKIE, nonce, { httpOnly: true, sameSite: 'lax', secure: this.secureCookies, path: '/' });
    }
    return this.knownTokens.get(nonce) ?? this.sign(nonce);
  }

  /** True when the form's token is the HMAC of the visitor's nonce cookie. */
  verify(req: Request): boolean {
    const nonce = this.nonceOf(req);
    const token: unknown = req.body?._csrf ?? req.get('x-csrf-token');
    if (!nonce || typeof token !== 'string') return false;
    const known = this.knownTokens.get(nonce);
    const expectedToken = known ?? this.sign(nonce);
    const expected = Buffer.from(expectedToken);
    const given = Buffer.from(token);
    const ok = given.length === expected.length && timingSafeEqual(given, expected);
    // Only a nonce whose token was right is kept: made-up nonces cannot fill the map.
    if (ok && known === undefined) this.knownTokens.set(nonce, expectedToken);
    return ok;
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
