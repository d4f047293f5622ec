import type { Request, RequestHandler, Response } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * helmet's security headers, set on every response. With these options they depend on nothing in the request (no
 * CSP nonce, no function in a directive), so helmet runs once here, at start, and each response gets the headers it
 * set — instead of walking helmet's thirteen middlewares per request. helmet stays the one place that decides them.
 */
export function securityHeaders(options: HelmetOptions): RequestHandler {
  const set: [string, string][] = [];
  const removed: string[] = [];
  const recorder = {
    setHeader: (name: string, value: unknown) => { set.push([name, String(value)]); },
    removeHeader: (name: string) => { removed.push(name); },
  };
  let failure: unknown;
  helmet(options)({} as Request, recorder as unknown as Response, (e?: unknown) => { failure = e; });
  if (failure) throw failure;
  return (_req, res, next) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of set) res.setHeader(name, value);
    next();
  };
}
