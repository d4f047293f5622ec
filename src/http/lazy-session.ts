import type { Request, RequestHandler } from 'express';
import type { Session, SessionData } from 'express-session';
import { SESSION_COOKIE } from './shopper';

/** A visitor has a session once the session cookie was set (a stored session; see the CSRF choice in src/app.ts). */
export const hasSession = (req: Request): boolean => typeof req.cookies?.[SESSION_COOKIE] === 'string';

const OPEN = Symbol('the session middleware ran for this request');
type Lazy = Request & { [OPEN]?: boolean };

/**
 * express-session, run only when a request needs a session. A request with a session cookie gets it as before (the
 * store read). A request without one — a guest's pages and steps: no session row, nothing to read — would get a new,
 * empty session object, a cookie hook, an `end` wrapper and two hashes of it, only for them to be dropped because
 * nothing was kept; here `req.session` makes that new session on first use instead (a login, a message too long for
 * its cookie, …), so what a request stores and the cookie it gets are the same as before. Code that only asks whether
 * the session holds something uses `openedSession`, which does not make one (a new session holds nothing).
 */
export function lazySession(sessionMiddleware: RequestHandler): RequestHandler {
  return (req, res, next) => {
    if (hasSession(req)) {
      (req as Lazy)[OPEN] = true;
      return sessionMiddleware(req, res, next);
    }
    Object.defineProperty(req, 'session', {
      configurable: true,
      enumerable: true,
      get() {
        delete (req as Partial<Request>).session;
        (req as Lazy)[OPEN] = true;
        // Without a session cookie the middleware makes the new session synchronously (no store read).
        void sessionMiddleware(req, res, () => undefined);
        return req.session;
      },
      set(value: unknown) {
        (req as Lazy)[OPEN] = true;
        Object.defineProperty(req, 'session', { configurable: true, enumerable: true, writable: true, value });
      },
    });
    next();
  };
}

/** The request's session if it has one open (a session cookie, or one made by this request); never makes one. */
export function openedSession(req: Request): (Session & Partial<SessionData>) | undefined {
  return (req as Lazy)[OPEN] ? req.session : undefined;
}
