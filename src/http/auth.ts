import type { RequestHandler } from 'express';
import { DomainError } from '../shared/errors';

/** Route guards; who the signed-in user is (req.user) comes from the session, see accounts/passport.ts. */
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
