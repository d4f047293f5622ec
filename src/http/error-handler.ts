import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { OptimisticLockError, UniqueConstraintViolationException } from '@mikro-orm/core';
import { DomainError, type DomainErrorCode } from '../shared/errors';

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
  VOUCHER_INVALID: 422,
  TRANSITION_NOT_ALLOWED: 409,
  CONFLICT: 409,
};

export interface HttpProblem { status: number; code: string; message: string; fields: Record<string, string>; logId?: string }

/** The one mapping from anything thrown to what the user is told. Pure, so it is tested directly. */
export function toHttpProblem(err: unknown): HttpProblem {
  if (err instanceof DomainError) return { status: STATUS[err.code], code: err.code, message: err.message, fields: err.fields };
  if (err instanceof OptimisticLockError) {
    return { status: 409, code: 'CONFLICT', message: 'This record was changed by someone else meanwhile. Reload it and try again.', fields: {} };
  }
  if (err instanceof UniqueConstraintViolationException) {
    return { status: 409, code: 'CONFLICT', message: 'That conflicts with an existing record.', fields: {} };
  }
  const e = err as { type?: string; status?: number; statusCode?: number; code?: string };
  if (e?.type === 'entity.too.large') return { status: 413, code: 'TOO_LARGE', message: 'The form you sent is too large.', fields: {} };
  if (e?.code === 'EBADCSRFTOKEN' || e?.code === 'invalid csrf token' || (e as Error)?.message === 'invalid csrf token') {
    return { status: 403, code: 'CSRF', message: 'Your form has expired or was sent from elsewhere. Reload the page and try again.', fields: {} };
  }
  const status = e?.status ?? e?.statusCode;
  if (status && status >= 400 && status < 500) return { status, code: 'BAD_REQUEST', message: 'The request could not be understood.', fields: {} };
  return { status: 500, code: 'INTERNAL', message: 'Something went wrong on our side. Please try again.', fields: {}, logId: randomUUID() };
}

export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const problem = toHttpProblem(err);
  if (problem.status >= 500) console.error(`[error ${problem.logId}] ${req.method} ${req.path}`, err);
  if (res.headersSent) return;
  res.status(problem.status);
  if (req.path.startsWith('/api/') || req.accepts(['html', 'json']) === 'json') {
    res.json({ error: { code: problem.code, message: problem.message, fields: problem.fields } });
    return;
  }
  res.render('errors/error.njk', { problem, back: safeBackLink(req.get('referer'), req.get('host')) });
};

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
