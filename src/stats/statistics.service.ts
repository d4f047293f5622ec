import type { MikroORM } from '@mikro-orm/postgresql';
import { invalid } from '../shared/errors';
import { replicaReads } from '../db/replicas';
import { formatDecimal } from '../shared/money';
import { toCsv, type CsvNumber, type CsvValue } from '../exports/csv';

export type StatsInterval = 'day' | 'week' | 'month';
export const STATS_INTERVALS: readonly StatsInterval[] = ['day', 'week', 'month'];

/** Already validated by the route (formats, from ≤ to, at most 3 years); the service checks the shop. */
export interface StatsQuery {
  /** yyyy-mm-dd, inclusive, UTC like every date the shop shows. */
  from: string;
  to: string;
  interval: StatsInterval;
  /** A shop id; none = the first shop. */
  shopId?: string;
}

export interface StatsRow {
  /** The first day of the period (yyyy-mm-dd); weeks start on Monday (ISO 8601). */
  periodStart: string;
  /** "2025-03-31", "2025-W14", "2025-03". */
  label: string;
  orders: number;
  revenueInclVatMinor: number;
  revenueExclVatMinor: number;
  vatMinor: number;
}

export interface ShopOption { id: string; name: string; currency_code: string }

export interface StatsReport {
  query: StatsQuery;
  shop: ShopOption;
  shops: ShopOption[];
  currencyCode: string;
  rows: StatsRow[];
  totals: Omit<StatsRow, 'periodStart' | 'label'>;
}

/**
 * Revenue and order count per day/week/month. Counts placed orders (type order, completed, not deleted) by the
 * time they were placed, and leaves out every order whose CURRENT flow state has the role "cancelled" or is marked
 * "exclude from statistics" (seeds: OrderStateDontUseInstatistics), and every order whose payment was voided —
 * whatever its state is called and wherever it moved from. Revenue is the order total as charged — products,
 * shipping and payment fees, after discounts — including and excluding VAT; refunds are not subtracted.
 * Periods are UTC; the first and last period count only the days inside the range. Every period of the
 * range is listed, empty ones with zeros.
 */
export class StatisticsService {
  constructor(private readonly orm: MikroORM) {}

  private get em() {
    return this.orm.em;
  }

  async shops(): Promise<ShopOption[]> {
    return replicaReads(this.orm).execute<ShopOption[]>('select id, name, currency_code from shops order by id');
  }

  async report(q: StatsQuery): Promise<StatsReport> {
    const shops = await this.shops();
    const shop = q.shopId ? shops.find((s) => s.id === q.shopId) : shops[0];
    if (!shop) throw invalid('Please choose a shop from the list.', { shop: 'choose a shop from the list' });
    // The interval is one of three fixed words (checked by the route), so it can be written into the SQL.
    const unit = STATS_INTERVALS.includes(q.interval) ? q.interval : 'day';
    const rows = await replicaReads(this.orm).execute<{ period_start: string; orders: number; incl: string; excl: string }[]>(
      `with periods as (
         select generate_series(date_trunc('${unit}', ?::timestamp), date_trunc('${unit}', ?::timestamp), interval '1 ${unit}') as period_start
       ), placed as (
         select date_trunc('${unit}', o.completed_at at time zone 'UTC') as period_start,
                count(*) as orders, sum(o.order_total_minor) as incl, sum(o.order_total_excl_vat_minor) as excl
         from orders o
         left join flow_states s on s.id = o.state_id
         where o.type = 'order' and o.completed and not o.deleted and o.shop_id = ?
           and o.completed_at >= ? and o.completed_at < ?
           and not coalesce(s.exclude_from_statistics, false) and s.role is distinct from 'cancelled' and o.payment_status <> 'cancelled'
         group by 1
       )
       select to_char(p.period_start, 'YYYY-MM-DD') as period_start,
              coalesce(x.orders, 0)::int as orders, coalesce(x.incl, 0)::text as incl, coalesce(x.excl, 0)::text as excl
       from periods p left join placed x on x.period_start = p.period_start
       order by p.period_start`,
      [q.from, q.to, shop.id, startOfDay(q.from), dayAfter(q.to)],
    );
    const out: StatsRow[] = rows.map((r) => {
      const incl = Number(r.incl);
      const excl = Number(r.excl);
      return { periodStart: r.period_start, label: periodLabel(r.period_start, unit), orders: r.orders, revenueInclVatMinor: incl, revenueExclVatMinor: excl, vatMinor: incl - excl };
    });
    const totals = out.reduce(
      (t, r) => ({ orders: t.orders + r.orders, revenueInclVatMinor: t.revenueInclVatMinor + r.revenueInclVatMinor, revenueExclVatMinor: t.revenueExclVatMinor + r.revenueExclVatMinor, vatMinor: t.vatMinor + r.vatMinor }),
      { orders: 0, revenueInclVatMinor: 0, revenueExclVatMinor: 0, vatMinor: 0 },
    );
    return { query: { ...q, shopId: shop.id }, shop, shops, currencyCode: shop.currency_code, rows: out, totals };
  }
}

function startOfDay(isoDay: string): Date {
  return new Date(`${isoDay}T00:00:00Z`);
}

/** The first instant after the end of a yyyy-mm-dd day (UTC). */
function dayAfter(isoDay: string): Date {
  const d = startOfDay(isoDay);
  d.setUTCDate(d.getUTCDate() + 1);
  return d;
}

/** ISO 8601 week label of a Monday: 2025-W14 (the week-year can differ from the calendar year). */
export function isoWeekLabel(monday: string): string {
  const d = startOfDay(monday);
  const thursday = new Date(d.getTime() + 3 * 86400000);
  const year = thursday.getUTCFullYear();
  const jan1 = Date.UTC(year, 0, 1);
  const week = Math.floor((thursday.getTime() - jan1) / (7 * 86400000)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

export function periodLabel(periodStart: string, interval: StatsInterval): string {
  if (interval === 'month') return periodStart.slice(0, 7);
  if (interval === 'week') return isoWeekLabel(periodStart);
  return periodStart;
}

// ——— CSV (exports/csv.ts: RFC 4180, safe to open in a spreadsheet) ———

export function reportCsv(report: StatsReport): string {
  const money = (minor: number): CsvNumber => ({ decimal: formatDecimal(minor) });
  const header = ['period_start', 'period', 'shop', 'currency', 'orders', 'revenue_excl_vat', 'vat', 'revenue_incl_vat'];
  const rows = report.rows.map((r): CsvValue[] => [r.periodStart, r.label, report.shop.name, report.currencyCode, r.orders,
    money(r.revenueExclVatMinor), money(r.vatMinor), money(r.revenueInclVatMinor)]);
  // Data rows only (no total row), so a spreadsheet or script can sum the columns.
  return toCsv([header, ...rows]);
}
