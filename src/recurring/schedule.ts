import type { IntervalUnit, RecurringSeries } from './recurring.entities';

/** The calendar of recurring orders: when occurrence k falls, whether it exists, retries. Pure, so it is tested directly. */
/** What a customer or staff member chooses on the "repeat this order" form (formats already checked by the route). */
export interface ScheduleInput {
  intervalCount: number;
  intervalUnit: IntervalUnit;
  /** yyyy-mm-dd (UTC): the first new order is created at the start of this day. */
  startDate: string;
  ends: 'never' | 'date' | 'count';
  endDate?: string;
  /** How many orders (scheduled dates) in all, counted from the start date. */
  occurrences?: number;
}

export interface Schedule {
  intervalUnit: IntervalUnit;
  intervalCount: number;
  startDate: string;
  endDate?: string | null;
  maxOccurrences?: number | null;
}

const RETRY_BASE_MS = 5 * 60 * 1000;
const RETRY_MAX_MS = 6 * 3600 * 1000;

const DAY_MS = 24 * 3600 * 1000;

export function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export function addDaysIso(day: string, days: number): string {
  return isoDay(new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS));
}

/**
 * The date of occurrence k (0 = the start date), always counted from the start date so months do not drift:
 * monthly from 31 January gives 28/29 February, then 31 March.
 */
export function occurrenceDate(s: Schedule, k: number): string {
  if (s.intervalUnit !== 'month') return addDaysIso(s.startDate, k * s.intervalCount * (s.intervalUnit === 'week' ? 7 : 1));
  const [y, m, d] = s.startDate.split('-').map(Number);
  const months = m - 1 + k * s.intervalCount;
  const year = y + Math.floor(months / 12);
  const month = months % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return isoDay(new Date(Date.UTC(year, month, Math.min(d, lastDay))));
}

/** Occurrences are due at the start of their day (UTC, like every date the shop shows). */
export function dueAt(s: Schedule, k: number): Date {
  return new Date(`${occurrenceDate(s, k)}T00:00:00Z`);
}

export function occurrenceExists(s: Schedule, k: number): boolean {
  if (k < 0) return false;
  if (s.maxOccurrences != null && k >= s.maxOccurrences) return false;
  if (s.endDate && occurrenceDate(s, k) > s.endDate) return false;
  return true;
}

/** "every 2 weeks from 2025-05-01 until 2025-12-31", for pages and history messages. */
export function describeSchedule(s: Schedule): string {
  const unit = s.intervalCount === 1 ? s.intervalUnit : `${s.intervalCount} ${s.intervalUnit}s`;
  const end = s.endDate ? `until ${s.endDate}` : s.maxOccurrences ? `${s.maxOccurrences} ${s.maxOccurrences === 1 ? 'time' : 'times'}` : 'until cancelled';
  return `every ${unit} from ${s.startDate}, ${end}`;
}

/** Waiting time before failed attempt n is retried: 5, 10, 20 … minutes, at most 6 hours. */
export function retryDelayMs(attempts: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempts - 1));
}

export function scheduleOf(s: Pick<RecurringSeries, 'intervalUnit' | 'intervalCount' | 'startDate' | 'endDate' | 'maxOccurrences'>): Schedule {
  return { intervalUnit: s.intervalUnit, intervalCount: s.intervalCount, startDate: s.startDate, endDate: s.endDate, maxOccurrences: s.maxOccurrences };
}
