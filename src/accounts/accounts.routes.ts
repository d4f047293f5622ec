import { Router, type NextFunction, type Request, type Response } from 'express';
import rateLimit, { ipKeyGenerator } from 'express-rate-limit';
import type passport from 'passport';
import { z } from 'zod';
import type { SessionUser } from './account.service';
import { renderInvalid } from '../http/in-context';
import { clearBasketCookie, flash, safeNext, shopperOf } from '../http/shopper';
import { parse, requiredText } from '../http/validate';
import type { Services } from '../services';
import type { AppConfig } from '../config';
import { sessionCsrf } from '../http/session-csrf';

/** A new account's fields; the register page and `npm run staff:create` use the same rules. */
export const registerForm = z.object({
  name: requiredText(120),
  email: z.string().trim().max(200).email({ error: 'must be an e-mail address' }),
  password: z.string().min(10, { error: 'must be at least 10 characters' }).max(200),
});

export function accountRoutes(s: Services, pass: passport.PassportStatic, config: AppConfig): Router {
  const r = Router();
  const loginLimiter = rateLimit({
    windowMs: config.loginRateLimit.windowMs,
    limit: config.loginRateLimit.max,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    skipSuccessfulRequests: true,
    // Per address and account: guessing one account's password is slowed without locking out a shared office IP.
    keyGenerator: (req) => `${ipKeyGenerator(req.ip ?? '')}|${String(req.body?.email ?? '').toLowerCase().slice(0, 200)}`,
    handler: (_req, res) => res.status(429).render('accounts/login.njk', { error: 'Too many login attempts. Please wait a few minutes and try again.' }),
  });

  // Accounts are created at most REGISTER_RATE_LIMIT times an hour per address, successful or not.
  const registerLimiter = rateLimit({
    windowMs: config.registerRateLimit.windowMs,
    limit: config.registerRateLimit.max,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: (req) => ipKeyGenerator(req.ip ?? ''),
    handler: (req, res) => res.status(429).render('accounts/register.njk', {
      error: 'Too many accounts were created from your network. Please wait an hour and try again.',
      name: String(req.body?.name ?? '').slice(0, 120), email: String(req.body?.email ?? '').slice(0, 200),
    }),
  });

  r.get('/login', (req, res) => res.render('accounts/login.njk', { next: safeNext(req.query.next, '') }));

  r.post('/login', loginLimiter, (req, res, next) => {
    pass.authenticate('local', (err: unknown, user: SessionUser | false, info?: { message?: string }) => {
      if (err) return next(err);
      if (!user) return res.status(401).render('accounts/login.njk', { error: info?.message ?? 'Login failed.', email: String(req.body.email ?? '').slice(0, 200), next: safeNext(req.body.next, '') });
      signIn(req, res, next, user, s, safeNext(req.body.next, user.role === 'staff' ? '/admin' : '/'));
    })(req, res, next);
  });

  r.get('/register', (_req, res) => res.render('accounts/register.njk', {}));

  r.post('/register', registerLimiter, async (req, res, next) => {
    try {
      const form = parse(registerForm, req.body);
      const user = await s.accounts.register(form);
      signIn(req, res, next, user, s, '/');
    } catch (e) {
      await renderInvalid(res, e, 'accounts/register.njk', () => ({ name: String(req.body.name ?? '').slice(0, 120), email: String(req.body.email ?? '').slice(0, 200) }));
    }
  });

  r.post('/logout', (req, res, next) => {
    req.logout((err) => {
      if (err) return next(err);
      req.session.regenerate((err2) => (err2 ? next(err2) : res.redirect(303, '/')));
    });
  });

  return r;
}

/**
 * Logs in with a fresh session id (no session fixation), then merges the anonymous basket into the user's.
 */
function signIn(req: Request, res: Response, next: NextFunction, user: SessionUser, s: Services, to: string): void {
  const anonymousToken = shopperOf(req).anonymousToken;
  req.login(user, (err) => {
    if (err) return next(err);
    s.carts.mergeAtLogin(user.id, anonymousToken)
      .then(() => {
        clearBasketCookie(res);
        flash(req, 'success', `Welcome, ${user.name}.`);
        // The new session gets its form token now: pages opened at the same moment after login share it (each would
        // otherwise make its own, the last session write would win and the other page's form would be refused).
        sessionCsrf.generateToken(req);
        res.redirect(303, to);
      })
      .catch(next);
  });
}
