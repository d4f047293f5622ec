import type { Express } from 'express';
import nunjucks from 'nunjucks';
import { formatDecimal, formatMoney, formatRate, withVat } from './money';
import { VIEWS_DIR } from './paths';
import { countryName } from './countries';

/**
 * Nunjucks with autoescape on; the same environment renders pages and mails. In production (`cache`) each template
 * is read and compiled once and kept; in development it is read again on every render, so edits show at once.
 */
export function createViewEnv(app?: Express, opts: { cache?: boolean } = {}): nunjucks.Environment {
  const cache = opts.cache ?? process.env.NODE_ENV === 'production';
  const env = nunjucks.configure(VIEWS_DIR, { autoescape: true, express: app, noCache: !cache });
  env.addFilter('money', (minor: number, currency?: string) => formatMoney(Number(minor ?? 0), currency));
  env.addFilter('withVat', (minor: number, rateBp = 2500) => withVat(Number(minor ?? 0), rateBp));
  env.addFilter('rate', (bp: number) => formatRate(bp));
  env.addFilter('country', (code: string | null) => countryName(code ?? ''));
  /** Minor units as a form field value, e.g. 12950 → "129.50" (no thousands separator, no currency). */
  env.addFilter('amount', (minor: number) => formatDecimal(Number(minor ?? 0)));
  env.addFilter('datetime', (d: Date | string | null) => (d ? new Date(d).toISOString().slice(0, 16).replace('T', ' ') : ''));
  env.addFilter('timestamp', (d: Date | string | null) => (d ? new Date(d).toISOString().slice(0, 19).replace('T', ' ') : ''));
  env.addFilter('date', (d: Date | string | null) => (d ? new Date(d).toISOString().slice(0, 10) : ''));
  return env;
}
