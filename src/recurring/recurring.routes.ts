import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { renderInvalid } from '../http/in-context';
import { requireLogin, requireStaff } from '../http/auth';
import { flash } from '../http/shopper';
import { ORDER_NUMBER, parse } from '../http/validate';
import type { Services } from '../services';
import { notFound } from '../shared/errors';
import { isConfirmed } from '../shared/confirmation';
import { INTERVAL_UNITS, type SeriesStatus } from './recurring.entities';
import type { SeriesActor, SeriesRow } from './recurring.service';
import { describeSchedule, isoDay, occurrenceDate, type ScheduleInput } from './schedule';

const blank = (v: unknown) => (v === '' ? undefined : v);

function isRealDay(s: string): boolean {
  const [y, m, d] = s.split('-').map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  return y >= 2000 && y <= 9999 && date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
}

const day = (what: string) => {
  const msg = `must be a date written as yyyy-mm-dd, for example 2025-03-31`;
  return z.string({ error: `${what} is required` }).trim().regex(/^\d{4}-\d{2}-\d{2}$/, { error: msg }).refine(isRealDay, { error: 'is not a real date' });
};

const orderNumber = z.string({ error: 'is required' }).trim().regex(ORDER_NUMBER, { error: 'is not an order number' });

/** The "repeat this order" form, shared by customers and staff. */
const scheduleForm = z.object({
  orderNumber,
  intervalCount: z.coerce.number({ error: 'must be a number' }).int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' }).max(365, { error: 'must be at most 365' }),
  intervalUnit: z.enum(INTERVAL_UNITS as [string, ...string[]], { error: 'must be days, weeks or months' }),
  /** Empty: one period from today (the order just placed covers the current period). */
  startDate: z.preprocess(blank, day('The start date').optional()),
  ends: z.preprocess((v) => v ?? 'never', z.enum(['never', 'date', 'count'], { error: 'must be never, on a date or after a number of orders' })),
  endDate: z.preprocess(blank, day('The end date').optional()),
  occurrences: z.preprocess(blank, z.coerce.number({ error: 'must be a number' }).int({ error: 'must be a whole number' })
    .min(1, { error: 'must be at least 1' }).max(1000, { error: 'must be at most 1000' }).optional()),
});

const statusFilter = z.preprocess(blank, z.enum(['active', 'paused', 'cancelled', 'finished']).optional());

function scheduleInput(form: z.infer<typeof scheduleForm>, now = new Date()): ScheduleInput {
  const intervalUnit = form.intervalUnit as ScheduleInput['intervalUnit'];
  const startDate = form.startDate ?? occurrenceDate({ intervalUnit, intervalCount: form.intervalCount, startDate: isoDay(now) }, 1);
  return {
    intervalCount: form.intervalCount, intervalUnit, startDate,
    ends: form.ends as ScheduleInput['ends'],
    endDate: form.ends === 'date' ? form.endDate : undefined,
    occurrences: form.ends === 'count' ? form.occurrences : undefined,
  };
}

/** What the form shows: defaults (monthly, starting a month from today) or the values as typed. */
export function scheduleFormValues(body: Record<string, unknown> = {}, now = new Date()) {
  const one = (v: unknown, fallback: string) => (typeof v === 'string' ? v.slice(0, 40) : fallback);
  const today = isoDay(now);
  return {
    intervalCount: one(body.intervalCount, '1'),
    intervalUnit: one(body.intervalUnit, 'month'),
    startDate: one(body.startDate, occurrenceDate({ intervalUnit: 'month', intervalCount: 1, startDate: today }, 1)),
    ends: one(body.ends, 'never'),
    endDate: one(body.endDate, ''),
    occurrences: one(body.occurrences, ''),
    today,
  };
}

/** A malformed id is just a series that is not found. */
function seriesId(req: Request): number {
  const id = Number(req.params.id);
  if (!/^\d{1,15}$/.test(String(req.params.id)) || !Number.isSafeInteger(id) || id < 1) throw notFound('The recurring order');
  return id;
}

function orderParam(v: unknown): string {
  const r = orderNumber.safeParse(v);
  if (!r.success) throw notFound('The order');
  return r.data;
}

/** Describes a list row's schedule for the pages. */
function withSchedule(rows: SeriesRow[]) {
  return rows.map((r) => ({
    ...r,
    schedule: describeSchedule({ intervalUnit: r.interval_unit, intervalCount: r.interval_count, startDate: r.start_date, endDate: r.end_date, maxOccurrences: r.max_occurrences }),
  }));
}

const ACTION_DONE = { pause: 'paused', resume: 'resumed', cancel: 'cancelled' } as const;
type Action = keyof typeof ACTION_DONE;

/** Mounted at / : staff pages under /admin/recurring…, customer actions under /customer-center/recurring… */
export function recurringRoutes(s: Services): Router {
  const r = Router();
  r.use('/admin/recurring', requireStaff);
  r.use('/customer-center/recurring', requireLogin);

  /** Cancelling cannot be undone: the first submit shows what it does (page, or dialog with JavaScript). */
  const confirmCancel = async (res: Response, id: number, actor: SeriesActor, back: string) => {
    res.render('admin/payments/confirm.njk', { confirmation: await s.recurring.cancelConfirmation(id, actor), action: `${back}/cancel`, values: {}, back });
  };

  // ——— staff ———

  r.get('/admin/recurring', async (req, res) => {
    const status = parse(statusFilter, req.query.status) as SeriesStatus | undefined;
    res.render('recurring/admin-list.njk', { base: '/admin/recurring', status: status ?? '', rows: withSchedule(await s.recurring.listForStaff(status)) });
  });

  r.get('/admin/recurring/new', async (req, res) => {
    const template = await s.recurring.templateForStaff(orderParam(req.query.order));
    res.render('recurring/admin-new.njk', { base: '/admin/recurring', template, form: scheduleFormValues() });
  });

  r.post('/admin/recurring', async (req, res) => {
    let id: number;
    try {
      const form = parse(scheduleForm, req.body);
      id = (await s.recurring.createForStaff(req.user!.id, form.orderNumber, scheduleInput(form))).id;
    } catch (e) {
      return renderInvalid(res, e, 'recurring/admin-new.njk', async () => ({
        base: '/admin/recurring', template: await s.recurring.templateForStaff(orderParam(req.body?.orderNumber)), form: scheduleFormValues(req.body),
      }));
    }
    flash(req, 'success', `Recurring order #${id} was created.`);
    res.redirect(303, `/admin/recurring/${id}`);
  });

  r.get('/admin/recurring/:id', async (req, res) => {
    res.render('recurring/admin-series.njk', { base: '/admin/recurring', ...(await s.recurring.details(seriesId(req))) });
  });

  for (const action of ['pause', 'resume', 'cancel'] as Action[]) {
    r.post(`/admin/recurring/:id/${action}`, async (req, res) => {
      const id = seriesId(req);
      const actor: SeriesActor = { kind: 'staff', userId: req.user!.id };
      if (action === 'cancel' && !isConfirmed(req.body)) return confirmCancel(res, id, actor, `/admin/recurring/${id}`);
      await s.recurring[action](id, actor);
      flash(req, 'success', `Recurring order #${id} was ${ACTION_DONE[action]}.`);
      res.redirect(303, `/admin/recurring/${id}`);
    });
  }

  r.post('/admin/recurring/:id/retry', async (req, res) => {
    const id = seriesId(req);
    await s.recurring.retryNow(id, req.user!.id);
    flash(req, 'success', `Recurring order #${id} will be tried again within a minute.`);
    res.redirect(303, `/admin/recurring/${id}`);
  });

  // ——— customers ———

  r.get('/customer-center/recurring', async (req, res) => {
    res.render('recurring/customer-list.njk', { cc: 'Recurring', rows: withSchedule(await s.recurring.listForCustomer(req.user!)) });
  });

  r.get('/customer-center/recurring/new', async (req, res) => {
    const order = await s.recurring.templateForCustomer(req.user!, orderParam(req.query.order));
    res.render('recurring/customer-new.njk', { cc: 'Recurring', order, form: scheduleFormValues(), repeatRefusal: s.recurring.customerRepeatRefusal(order) });
  });

  r.post('/customer-center/recurring', async (req: Request, res: Response) => {
    let id: number;
    try {
      const form = parse(scheduleForm, req.body);
      id = (await s.recurring.createForCustomer(req.user!, form.orderNumber, scheduleInput(form))).id;
    } catch (e) {
      return renderInvalid(res, e, 'recurring/customer-new.njk', async () => ({
        cc: 'Recurring', order: await s.recurring.templateForCustomer(req.user!, orderParam(req.body?.orderNumber)), form: scheduleFormValues(req.body),
      }));
    }
    flash(req, 'success', 'Your recurring order is set up. We will place each order on its date and e-mail you a confirmation.');
    res.redirect(303, `/customer-center/recurring/${id}`);
  });

  r.get('/customer-center/recurring/:id', async (req, res) => {
    res.render('recurring/customer-series.njk', { cc: 'Recurring', ...(await s.recurring.details(seriesId(req), req.user!)) });
  });

  for (const action of ['pause', 'resume', 'cancel'] as Action[]) {
    r.post(`/customer-center/recurring/:id/${action}`, async (req, res) => {
      const id = seriesId(req);
      const actor: SeriesActor = { kind: 'customer', user: req.user! };
      if (action === 'cancel' && !isConfirmed(req.body)) return confirmCancel(res, id, actor, `/customer-center/recurring/${id}`);
      await s.recurring[action](id, actor);
      flash(req, 'success', `Your recurring order was ${ACTION_DONE[action]}.`);
      res.redirect(303, `/customer-center/recurring/${id}`);
    });
  }

  return r;
}
