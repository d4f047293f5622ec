import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { renderInvalid } from '../http/in-context';
import { requireLogin } from '../http/auth';
import { flash, shopperOf } from '../http/shopper';
import { blank, day, inputKey, orderNumber, parse } from '../http/validate';
import type { Services } from '../services';
import { notFound } from '../shared/errors';
import { reorderMessages, type HistoryFilter } from './order-history.service';


/** ?CC=Orders&from=&to=&state=&page= — every value optional; anything malformed is a 422, never a 500. */
const filterQuery = z.object({
  from: z.preprocess(blank, day('From').optional()),
  to: z.preprocess(blank, day('To').optional()),
  state: z.preprocess(blank, z.coerce.number({ error: 'Please choose a state from the list.' })
    .int({ error: 'Please choose a state from the list.' }).positive({ error: 'Please choose a state from the list.' })
    .max(2147483647, { error: 'Please choose a state from the list.' }).optional()),
  page: z.preprocess(blank, z.coerce.number({ error: 'The page must be a whole number of 1 or more.' })
    .int({ error: 'The page must be a whole number of 1 or more.' }).min(1, { error: 'The page must be a whole number of 1 or more.' })
    .max(100000, { error: 'The page must be at most 100000.' }).optional()),
}).refine((q) => !q.from || !q.to || q.from <= q.to, { path: ['to'], error: 'The “To” date must be on or after the “From” date.' });

function parseFilter(query: unknown): HistoryFilter {
  const q = parse(filterQuery, query, { key: inputKey, message: (fields) => Object.values(fields).join(' ') });
  return { from: q.from, to: q.to, stateId: q.state, page: q.page ?? 1 };
}

/** What the filter form shows back: the values as typed (strings only, cut short). */
function formValues(query: Request['query']) {
  const one = (v: unknown) => (typeof v === 'string' ? v.slice(0, 40) : '');
  return { from: one(query.from), to: one(query.to), state: one(query.state) };
}

/** A malformed order number is just another order that is not found. */
function numberOf(req: Request): string {
  const r = orderNumber().safeParse(req.params.number);
  if (!r.success) throw notFound('The order');
  return r.data;
}

function pageUrl(f: HistoryFilter, page: number): string {
  const q = new URLSearchParams({ CC: 'Orders' });
  if (f.from) q.set('from', f.from);
  if (f.to) q.set('to', f.to);
  if (f.stateId != null) q.set('state', String(f.stateId));
  if (page > 1) q.set('page', String(page));
  return `/customer-center?${q.toString()}`;
}

/** GET /customer-center?CC=Orders is rendered by this handler (the customer center dispatches on CC). */
export async function renderOrderHistory(s: Services, req: Request, res: Response): Promise<void> {
  const form = formValues(req.query);
  try {
    const filter = parseFilter(req.query);
    const list = await s.orderHistory.list(req.user!, filter);
    const filtered = Boolean(filter.from || filter.to || filter.stateId != null);
    res.render('customer-center/orders.njk', {
      cc: 'Orders', form, list, filtered,
      prevUrl: list.page > 1 ? pageUrl(filter, Math.min(list.page - 1, list.pageCount)) : null,
      nextUrl: list.page < list.pageCount ? pageUrl(filter, list.page + 1) : null,
      firstUrl: pageUrl(filter, 1),
    });
  } catch (e) {
    await renderInvalid(res, e, 'customer-center/orders.njk', async () => ({
      cc: 'Orders', form, list: null, states: await s.orderHistory.stateOptions(req.user!),
    }));
  }
}

/** Mounted at /customer-center/orders (login required): order details, printable receipt, order again. */
export function orderHistoryRoutes(s: Services): Router {
  const r = Router();
  r.use(requireLogin);

  r.get('/:number', async (req, res) => {
    const view = await s.orderHistory.details(req.user!, numberOf(req));
    res.render('customer-center/order.njk', { cc: 'Orders', ...view, repeatRefusal: s.recurring.customerRepeatRefusal(view.order) });
  });

  r.get('/:number/print', async (req, res) => {
    res.render('customer-center/order-print.njk', await s.orderHistory.details(req.user!, numberOf(req)));
  });

  r.post('/:number/reorder', async (req, res) => {
    const result = await s.orderHistory.reorder(req.user!, numberOf(req), s.carts, shopperOf(req));
    for (const m of reorderMessages(result)) flash(req, m.type, m.message);
    res.redirect(303, '/cart');
  });

  return r;
}
