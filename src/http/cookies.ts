import { serialize, type CookieSerializeOptions } from 'cookie';
import type { Response } from 'express';

export interface CookieOptions {
  httpOnly: boolean;
  sameSite: 'lax' | 'strict';
  secure: boolean;
  path: string;
  maxAge: number;
}

/** Expires a cookie the browser holds (express's clearCookie sends the same). */
const EXPIRED = new Date(1);

/**
 * Sets this response's one header for cookie `name`: `value`, or when null the cookie's removal if the browser has
 * one (`inBrowser`), or no header at all. An earlier header of this response for the same cookie is replaced, so a
 * request that changes its mind (a message queued and then shown, a count dropped and then read) sends one.
 * Serialized here in one step (express's res.cookie and clearCookie copy the options and append, twice per add).
 */
export function replaceCookie(res: Response, name: string, value: string | null, options: CookieOptions, inBrowser: boolean): void {
  const current = res.getHeader('Set-Cookie');
  const headers = (Array.isArray(current) ? current : current === undefined ? [] : [String(current)]).filter((c) => !c.startsWith(`${name}=`));
  if (value !== null) headers.push(serialize(name, value, withExpiry(options)));
  else if (inBrowser) headers.push(serialize(name, '', { ...options, maxAge: undefined, expires: EXPIRED }));
  if (headers.length) res.setHeader('Set-Cookie', headers);
  else res.removeHeader('Set-Cookie');
}

/** Max-Age in seconds and, for browsers that only know it, Expires: as express's res.cookie writes them. */
function withExpiry(options: CookieOptions): CookieSerializeOptions {
  return { ...options, maxAge: Math.floor(options.maxAge / 1000), expires: new Date(Date.now() + options.maxAge) };
}
