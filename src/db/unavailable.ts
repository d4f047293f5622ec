import { ConnectionException } from '@mikro-orm/core';

/**
 * Error codes that mean "the database cannot be reached right now", not "this request is wrong": PostgreSQL's
 * operator intervention (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now), a statement
 * cancelled by statement_timeout (57014: the server is stalled or overloaded), connection
 * exceptions (class 08), too many connections (53300), and the socket errors of a refused, reset or timed-out
 * connection.
 */
const DB_UNAVAILABLE_CODES = new Set([
  '57P01', '57P02', '57P03', '57014', '08000', '08001', '08003', '08004', '08006', '53300',
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
]);

/** Messages of pg, pg-pool and knex for a lost or unobtainable connection (they carry no code). */
const DB_UNAVAILABLE_MESSAGE = new RegExp([
  'Timeout acquiring a connection', // knex: pool exhausted or no connection could be made in time
  'Connection terminated', // pg: "... unexpectedly", "... due to connection timeout"
  'Connection ended unexpectedly',
  'is not queryable', // pg: "Client has encountered a connection error and is not queryable"
  'the database system is (starting up|shutting down|in recovery mode|not yet accepting connections)',
  'terminating connection due to administrator command',
  'server closed the connection unexpectedly',
  'Transaction query already complete', // knex: the transaction's connection was lost under it
  'Query read timeout', // pg: no answer within query_timeout (a stalled or frozen server)
  'timeout exceeded when trying to connect', // pg-pool: no connection within connectionTimeoutMillis
].join('|'), 'i');

/**
 * True when `err` (or what it wraps: MikroORM's DriverException copies the driver error's fields, Node's
 * AggregateError lists one error per address tried, `cause` chains) says the database is unreachable.
 */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 4) return false;
  if (err instanceof ConnectionException) return true;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown; previous?: unknown; status?: unknown };
  // A client error (http-errors, e.g. body-parser's "request aborted") is never the database's fault.
  if (typeof e.status === 'number' && e.status < 500) return false;
  if (typeof e.code === 'string' && DB_UNAVAILABLE_CODES.has(e.code)) return true;
  if (e.name === 'KnexTimeoutError') return true;
  if (typeof e.message === 'string' && DB_UNAVAILABLE_MESSAGE.test(e.message)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isDatabaseUnavailable(x, depth + 1))) return true;
  return isDatabaseUnavailable(e.cause, depth + 1) || isDatabaseUnavailable(e.previous, depth + 1);
}

/**
 * The driver's reason, short: "57P01 terminating connection …". Never the SQL MikroORM puts in front of it
 * ("<query with its values> - <reason>"), which could carry personal data into the log.
 */
export function unavailableReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = String(e?.message ?? err).split('\n')[0].split(' - ').pop()!.slice(0, 200);
  return `${typeof e?.code === 'string' ? e.code + ' ' : ''}${message}`;
}
