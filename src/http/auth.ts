import type { RequestHandler } from 'express';
import passport from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { AccountService, SessionUser } from '../accounts/account.service';
import { DomainError } from '../shared/errors';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface User extends SessionUser {}
  }
}

/** passport-local over AccountService; only the user id goes into the session. */
export function configurePassport(accounts: AccountService): passport.PassportStatic {
  const p = new passport.Passport();
  p.use(new LocalStrategy({ usernameField: 'email', passwordField: 'password' }, (email, password, done) => {
    accounts.verifyCredentials(email, password)
      .then((user) => (user ? done(null, user) : done(null, false, { message: 'The e-mail or password is not correct.' })))
      .catch(done);
  }));
  p.serializeUser((user, done) => done(null, user.id));
  p.deserializeUser((id: number, done) => {
    accounts.findSessionUser(id).then((u) => done(null, u ?? false)).catch(done);
  });
  return p as unknown as passport.PassportStatic;
}

export const requireLogin: RequestHandler = (req, res, next) => {
  if (req.user) return next();
  res.redirect(`/login?next=${encodeURIComponent(req.originalUrl)}`);
};

/** Staff pages refuse everyone else: guests are sent to log in, customers get 403. */
export const requireStaff: RequestHandler = (req, res, next) => {
  if (!req.user) return res.redirect(`/login?next=${encodeURIComponent(req.originalUrl)}`);
  if (req.user.role !== 'staff') return next(new DomainError('FORBIDDEN', 'This page is for shop staff only.'));
  next();
};
