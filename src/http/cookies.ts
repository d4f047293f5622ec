import type { CookieOptions, Response } from 'express';

/**
 * Sets this response's one header for cookie `name`: `value`, or when null the cookie's removal if the browser has
 * one (`inBrowser`), or no header at all. An earlier header of this response for the same cookie is replaced, so a
 * request that changes its mind (a message queued and then shown, a count dropped and then read) sends one.
 */
export function replaceCookie(res: Response, name: string, value: string | null, options: CookieOptions, inBrowser: boolean): void {
  const current = res.getHeader('Set-Cookie');
  const others = (Array.isArray(current) ? current : current === undefined ? [] : [String(current)]).filter((c) => !c.startsWith(`${name}=`));
  if (others.length) res.setHeader('Set-Cookie', others);
  else res.removeHeader('Set-Cookie');
  if (value !== null) res.cookie(name, value, options);
  else if (inBrowser) res.clearCookie(name, { ...options, maxAge: undefined, expires: undefined });
}
