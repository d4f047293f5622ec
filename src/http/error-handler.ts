import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import { OptimisticLockError, UniqueConstraintViolationException } from '@mikro-orm/core';
import { isDatabaseUnavailable, unavailableReason } from '../db/unavailable';
import { DomainError, type DomainErrorCode } from '../shared/errors';
import { log } from '../shared/log';
import { VIEWS_DIR } from '../shared/paths';
import { flash } from './flash';

const STATUS: Record<DomainErrorCode, number> = {
  NOT_FOUND: 404,
  VALIDATION: 422,
  FORBIDDEN: 403,
  UNAUTHENTICATED: 401,
  CART_EMPTY: 409,
  CART_NOT_EDITABLE: 409,
  CART_NOT_ORDERABLE: 409,
  CHECKOUT_INCOMPLETE: 409,
  INSUFFICIENT_STOCK: 409,
  PAYMENT_DECLINED: 402,
  /** The payment provider failed or did not answer in time; nothing was charged. */
  PAYMENT_UNAVAILABLE: 502,
  VOUCHER_INVALID: 422,
  TRANSITION_NOT_ALLOWED: 409,
  CONFLICT: 409,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
};

export interface HttpProblem {
  status: number; code: string; message: string; fields: Record<string, string>; logId?: string;
  /** Seconds after which a retry may work (the Retry-After header), for a 503. */
  retryAfterSeconds?: number;
}

/** How long a client is asked to wait while the database cannot be reached. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 30;

/** The one mapping from anything thrown to what the user is told. Pure, so it is tested directly. */
export function toHttpProblem(err: unknown): HttpProblem {
  if (err instanceof DomainError) return { status: STATUS[err.code], code: err.code, message: err.message, fields: err.fields };
  if (err instanceof OptimisticLockError) {
    return { status: 409, code: 'CONFLICT', message: 'This record was changed by someone else meanwhile. Go back to it, check the changes and try again.', fields: {} };
  }
  if (err instanceof UniqueConstraintViolationException) {
    return { status: 409, code: 'CONFLICT', message: 'That conflicts with an existing record.', fields: {} };
  }
  if (isDatabaseUnavailable(err)) {
    return {
      status: 503, code: 'UNAVAILABLE', message: "We're briefly unavailable. Please try again in a minute.", fields: {},
      retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
    };
  }
  const e = err as { type?: string; status?: number; statusCode?: number; code?: string };
  if (e?.type === 'entity.too.large') return { status: 413, code: 'TOO_LARGE', message: 'The form you sent is too large.', fields: {} };
  if (e?.code === 'EBADCSRFTOKEN' || e?.code === 'invalid csrf token' || (e as Error)?.message === 'invalid csrf token') {
    // Reloading would send the same stale form again: the way on is back to the page, which gets a fresh token.
    return { status: 403, code: 'CSRF', message: 'This form was not sent: it was opened before you logged in or out (perhaps in another window), or it stood open too long. Go back to the page, check what you typed and send it again.', fields: {} };
  }
  const status = e?.status ?? e?.statusCode;
  if (status && status >= 400 && status < 500) return { status, code: 'BAD_REQUEST', message: 'The request could not be understood.', fields: {} };
  return { status: 500, code: 'INTERNAL', message: 'Something went wrong on our side. Please try again.', fields: {}, logId: randomUUID() };
}

/**
 * The page shown while the database is unreachable: plain HTML read once at start, so answering needs no
 * template, no session and no query (the base layout would read the session for its CSRF token and flash).
 */
const UNAVAILABLE_PAGE = fs.readFileSync(path.join(VIEWS_DIR, 'errors/unavailable.html'), 'utf8');

/** API paths and clients that prefer JSON get errors as JSON; browsers get a page. */
export const wantsJson = (req: Request) => req.path.startsWith('/api/') || req.baseUrl.startsWith('/api/') || req.accepts(['html', 'json']) === 'json';

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const problem = toHttpProblem(err);
  // The request's id (src/http/request-log.ts) is the reference the visitor sees and the log line carries.
  if (req.id) problem.logId = req.id;
  if (problem.code === 'UNAVAILABLE') logUnavailable(req.method, req.path, err);
  else if (problem.status >= 500) log.error({ reqId: problem.logId, err }, `${req.method} ${req.path} failed`);
  if (res.headersSent) return;
  res.status(problem.status);
  const json = { error: { code: problem.code, message: problem.message, fields: problem.fields, requestId: problem.logId } };
  if (problem.code === 'UNAVAILABLE') {
    res.set({ 'Retry-After': String(problem.retryAfterSeconds), 'Cache-Control': 'no-store' });
    if (wantsJson(req)) res.json(json);
    else res.type('html').send(UNAVAILABLE_PAGE.replace('{{requestId}}', problem.logId ?? ''));
    return;
  }
  if (wantsJson(req)) {
    res.json(json);
    return;
  }
  // Checkout or a quote request with no basket to act on (none yet, or placed or emptied in another tab): the basket
  // page, with the reason, is the way on.
  if (problem.code === 'CART_EMPTY') {
    flash(req, 'error', problem.message);
    res.redirect(303, '/cart');
    return;
  }
  // Staff in the back office stay in it: the admin layout and a way back to the page, never "Continue shopping".
  // (Forms show their refusals on their own page — see inContext; this is what is left, e.g. a record gone.)
  const staffDesk = req.user?.role === 'staff' && (req.baseUrl + req.path).startsWith('/admin');
  const back = safeBackLink(req.get('referer'), req.get('host'));
  // A form refused because its sender is logged out (a session that ended, a log-out in another window): log in again, then back to it.
  const logInAgain = problem.code === 'CSRF' && !req.user ? `/login?next=${encodeURIComponent(back ?? (req.baseUrl + req.path))}` : null;
  res.render('errors/error.njk', { problem, back, staffDesk, logInAgain });
};

/** While the database is down every request fails the same way: one log line per 10 s, with a count, not a stack each. */
let unavailableLog = { lastAt: 0, suppressed: 0 };
function logUnavailable(method: string, path: string, err: unknown): void {
  const now = Date.now();
  if (now - unavailableLog.lastAt < 10_000) {
    unavailableLog.suppressed++;
    return;
  }
  const more = unavailableLog.suppressed ? ` (${unavailableLog.suppressed} more since the last report)` : '';
  log.warn(`[unavailable] ${method} ${path} answered 503: database unreachable: ${unavailableReason(err)}${more}`);
  unavailableLog = { lastAt: now, suppressed: 0 };
}

export const notFoundHandler: RequestHandler = (_req, _res, next) => next(new DomainError('NOT_FOUND', 'The page was not found.'));

/** Only offer a same-site "back" link, never an open redirect. */
function safeBackLink(referer: string | undefined, host: string | undefined): string | null {
  if (!referer || !host) return null;
  try {
    const u = new URL(referer);
    return u.host === host ? u.pathname + u.search : null;
  } catch {
    return null;
  }
}
