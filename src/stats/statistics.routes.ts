import path from 'node:path';
import { Router, type Request } from 'express';
import { z } from 'zod';
import { renderInvalid } from '../http/in-context';
import { requireStaff } from '../http/auth';
import { blank, day, inputKey, parse } from '../http/validate';
import type { Services } from '../services';
import { reportCsv, STATS_INTERVALS, type StatsQuery, type StatsReport } from './statistics.service';

/** Chart.js, served from the app (the CSP allows only our own scripts; no CDN). */
const CHART_JS = path.join(path.dirname(require.resolve('chart.js')), 'chart.umd.js');

export const MAX_RANGE_YEARS = 3;
const DEFAULT_DAYS = 30;

const iso = (d: Date) => d.toISOString().slice(0, 10);
const addDays = (isoDay: string, n: number) => iso(new Date(Date.parse(`${isoDay}T00:00:00Z`) + n * 86400000));
/** The day `years` after isoDay (29 February → 1 March). */
function addYears(isoDay: string, years: number): string {
  const [y, m, d] = isoDay.split('-').map(Number);
  return iso(new Date(Date.UTC(y + years, m - 1, d)));
}

/** ?from=&to=&interval=&shop=&format= — all optional (the last 30 days by day); anything malformed is a 422. */
const statsQuery = z.object({
  from: z.preprocess(blank, day('From').optional()),
  to: z.preprocess(blank, day('To').optional()),
  interval: z.preprocess(blank, z.enum(STATS_INTERVALS as [string, ...string[]], { error: 'Please choose day, week or month.' }).optional()),
  shop: z.preprocess(blank, z.string({ error: 'Please choose a shop from the list.' }).max(40, { error: 'Please choose a shop from the list.' }).optional()),
  format: z.preprocess(blank, z.enum(['html', 'csv'], { error: 'The format must be html or csv.' }).optional()),
}).transform((q, ctx) => {
  const today = iso(new Date());
  const to = q.to ?? (q.from && q.from > today ? q.from : today);
  const from = q.from ?? addDays(to, -(DEFAULT_DAYS - 1));
  if (from > to) ctx.addIssue({ code: 'custom', path: ['to'], message: 'The “To” date must be on or after the “From” date.' });
  else if (to >= addYears(from, MAX_RANGE_YEARS)) {
    ctx.addIssue({ code: 'custom', path: ['to'], message: `The range can be at most ${MAX_RANGE_YEARS} years: choose a “To” date before ${addYears(from, MAX_RANGE_YEARS)}.` });
  }
  return { from, to, interval: (q.interval ?? 'day') as StatsQuery['interval'], shopId: q.shop, format: q.format ?? 'html' };
});

function parseQuery(query: unknown) {
  return parse(statsQuery, query, { key: inputKey, message: (fields) => Object.values(fields).join(' ') });
}

/** What the form shows back: the values as typed (strings only, cut short). */
function formValues(query: Request['query']) {
  const one = (v: unknown) => (typeof v === 'string' ? v.slice(0, 40) : '');
  return { from: one(query.from), to: one(query.to), interval: one(query.interval) || 'day', shop: one(query.shop) };
}

const UNIT_NAMES = { day: 'day', week: 'week', month: 'month' } as const;

/** The chart's data, written into a data attribute (escaped by the template) and read by /public/js/stats.js. */
function chartData(report: StatsReport) {
  return JSON.stringify({
    labels: report.rows.map((r) => r.label),
    orders: report.rows.map((r) => r.orders),
    incl: report.rows.map((r) => r.revenueInclVatMinor / 100),
    excl: report.rows.map((r) => r.revenueExclVatMinor / 100),
    currency: report.currencyCode,
  });
}

/** Mounted at /admin/statistics (staff only). */
export function statisticsRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);

  r.get('/chart.umd.js', (_req, res) => {
    res.sendFile(CHART_JS, { maxAge: '7d', headers: { 'Content-Type': 'text/javascript; charset=utf-8' } });
  });

  r.get('/', async (req, res) => {
    const form = formValues(req.query);
    let q: ReturnType<typeof parseQuery>;
    let report: StatsReport;
    try {
      q = parseQuery(req.query);
      report = await s.statistics.report(q);
    } catch (e) {
      return renderInvalid(res, e, 'stats/statistics.njk', async () => ({ form, shops: await s.statistics.shops(), report: null }));
    }
    if (q.format === 'csv') {
      const name = `statistics-${report.shop.id}-${q.from}-${q.to}-${q.interval}.csv`.replace(/[^A-Za-z0-9._-]/g, '_');
      res.set({
        'Content-Type': 'text/csv; charset=utf-8; header=present',
        'Content-Disposition': `attachment; filename="${name}"`,
        'Cache-Control': 'private, no-store',
      });
      res.send(reportCsv(report));
      return;
    }
    const csvQuery = new URLSearchParams({ from: q.from, to: q.to, interval: q.interval, shop: report.shop.id, format: 'csv' });
    res.render('stats/statistics.njk', {
      form: { from: q.from, to: q.to, interval: q.interval, shop: report.shop.id },
      shops: report.shops, report, unit: UNIT_NAMES[q.interval], chartJson: chartData(report), csvUrl: `/admin/statistics?${csvQuery.toString()}`,
    });
  });

  return r;
}
