/**
 * Expected business failures. Each has a stable code; src/http/error-handler.ts maps codes to HTTP
 * statuses in one place and shows the message to the user.
 */
export type DomainErrorCode =
  | 'NOT_FOUND'
  | 'VALIDATION'
  | 'FORBIDDEN'
  | 'UNAUTHENTICATED'
  | 'CART_EMPTY'
  | 'CART_NOT_EDITABLE'
  | 'CART_NOT_ORDERABLE'
  | 'CHECKOUT_INCOMPLETE'
  | 'INSUFFICIENT_STOCK'
  | 'PAYMENT_DECLINED'
  | 'PAYMENT_UNAVAILABLE'
  | 'VOUCHER_INVALID'
  | 'TRANSITION_NOT_ALLOWED'
  | 'CONFLICT'
  /** A request body in a format the endpoint does not read (the JSON API takes JSON only). */
  | 'UNSUPPORTED_MEDIA_TYPE'
  /** Too many requests in a while (the JSON API's limit per key). */
  | 'RATE_LIMITED';

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    /** Field-level messages for forms (field name → message). */
    readonly fields: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const notFound = (what = 'The page') => new DomainError('NOT_FOUND', `${what} was not found.`);
export const invalid = (message: string, fields: Record<string, string> = {}) => new DomainError('VALIDATION', message, fields);

/** A state change refused by the flow's rules or by a concurrent change: shown next to the control that asked for it. */
export const REFUSED_MOVES: readonly DomainErrorCode[] = ['TRANSITION_NOT_ALLOWED', 'CONFLICT'];
