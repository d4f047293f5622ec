/**
 * A browser's cookie jar, just enough for the raw-HTTP clients of the load tests and benchmarks: name → value,
 * updated from Set-Cookie headers (an expired or emptied cookie is removed), sent back as one Cookie header.
 */
export type CookieJar = Map<string, string>;

export function keepCookies(jar: CookieJar, setCookie: string[] | undefined): void {
  for (const line of setCookie ?? []) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const expired = attrs.some((a) => {
      const [k, v = ''] = a.trim().split('=');
      return (k.toLowerCase() === 'expires' && Date.parse(v) <= Date.now()) || (k.toLowerCase() === 'max-age' && Number(v) <= 0);
    });
    if (expired || value === '') jar.delete(name);
    else jar.set(name, value);
  }
}

export function cookieHeader(jar: CookieJar): string {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}
