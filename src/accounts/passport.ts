import type { Express, Request, Response } from 'express';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { AccountService, SessionUser } from './account.service';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface User extends SessionUser {}
  }
}

/** What the session keeps of its user: the page's view of them, and when it was read from the database. */
interface StoredUser extends SessionUser { readAt: number }

/** Requests that only read (a page, a redirect target) trust the stored user for a while; every other one re-reads it. */
const READ_ONLY_METHODS = new Set(['GET', 'HEAD']);

const sameUser = (a: SessionUser, b: SessionUser) =>
  a.id === b.id && a.email === b.email && a.name === b.name && a.role === b.role && a.companyId === b.companyId
  && a.staffRole === b.staffRole && JSON.stringify(a.companyRoles ?? []) === JSON.stringify(b.companyRoles ?? []);

/**
 * passport-local over AccountService. The session keeps the user as pages need them (id, name, role, company, company
 * roles, staff role) with the time they were read: a GET trusts it for `userTtlMs`, so a page costs no users query;
 * every write request (POST …) and a GET after that time read the row again, and a changed user is stored again. So a
 * change made elsewhere (a company admin changes one's roles, an administrator one's staff role) shows on one's pages
 * within `userTtlMs` and counts for one's next action at once — and every rule reads the roles from the database
 * itself anyway. A user whose row is gone is logged out by the next read. (Sessions from before this kept only the id.)
 */
export function configurePassport(accounts: AccountService, userTtlMs: number): passport.PassportStatic {
  const p = new passport.Passport();
  p.use(new LocalStrategy({ usernameField: 'email', passwordField: 'password' }, (email, password, done) => {
    accounts.verifyCredentials(email, password)
      .then((user) => (user ? done(null, user) : done(null, false, { message: 'The e-mail or password is not correct.' })))
      .catch(done);
  }));
  p.serializeUser((user, done) => done(null, stored(user)));
  p.deserializeUser((req: Request, kept: number | StoredUser, done: (err: unknown, user?: Express.User | false) => void) => {
    const now = Date.now();
    const fresh = typeof kept === 'object' && kept !== null && READ_ONLY_METHODS.has(req.method) && now - kept.readAt < userTtlMs;
    if (fresh) return done(null, userOf(kept));
    accounts.findSessionUser(typeof kept === 'object' && kept !== null ? kept.id : kept).then((u) => {
      if (!u) return done(null, false);
      // Written back (so the session row changes) only when the user changed or the stored copy is past its time.
      const stale = typeof kept !== 'object' || kept === null || now - kept.readAt >= userTtlMs || !sameUser(kept, u);
      const held = req.session as unknown as { passport?: { user?: StoredUser } } | undefined;
      if (stale && held?.passport) held.passport.user = stored(u);
      done(null, u);
    }).catch(done);
  });
  return p as unknown as passport.PassportStatic;
}

function stored(u: SessionUser): StoredUser {
  return { ...userOf(u), readAt: Date.now() };
}

function userOf(u: SessionUser): SessionUser {
  return { id: u.id, email: u.email, name: u.name, role: u.role, companyId: u.companyId, companyRoles: u.companyRoles, staffRole: u.staffRole };
}

/**
 * passport's request methods (req.login, req.logout, req.isAuthenticated …) and its session manager, set once on the
 * app's request prototype (Express's `app.request`) by passport's own initialize: run per request, as
 * `app.use(passport.initialize())`, it writes the same eight properties onto every request — 13 KiB of garbage per
 * request, for functions that are the same for all.
 */
export function installPassport(app: Express, pass: passport.PassportStatic): void {
  pass.initialize({ compat: false })(app.request, {} as Response, () => undefined);
}
