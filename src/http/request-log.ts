import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { logRequest } from '../shared/log';

/** A request id a proxy in front may pass on (X-Request-Id); anything else is replaced by our own. */
const FORWARDED_ID = /^[A-Za-z0-9._:-]{8,100}$/;

declare module 'express-serve-static-core' {
  interface Request {
    /** This request's id: in its log line, its X-Request-Id header, on error pages and in API errors. */
    id: string;
  }
}

/**
 * One log line per request (method, path without the query, status, time, request id), written when the answer is
 * finished. Health checks and static files log at debug, so a load balancer's polling does not fill the log.
 */
export function requestLog(): RequestHandler {
  return (req, res, next) => {
    const forwarded = req.get('x-request-id');
    req.id = forwarded && FORWARDED_ID.test(forwarded) ? forwarded : randomUUID();
    res.locals.requestId = req.id;
    res.set('X-Request-Id', req.id);
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const path = req.originalUrl.split('?')[0];
      const quiet = path === '/healthz' || path.startsWith('/public/');
      logRequest(quiet ? 'debug' : 'info', { reqId: req.id, method: req.method, path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    });
    next();
  };
}
