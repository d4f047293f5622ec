import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { requireStaff } from '../http/auth';
import { changeStateInContext, staffActor, type RefusedMove } from '../flows/state-control';
import { actionErrorOf, inContext, type ActionError, type PageRenderer } from '../http/in-context';
import { flash } from '../http/shopper';
import { idParam, orderNumber, parse, text } from '../http/validate';
import type { Services } from '../services';
import { invalid } from '../shared/errors';
import { MAX_LINE_QUANTITY } from '../shared/quantity';
import { orderDetailsPage } from './order-details.page';
import { MAX_SELECTED } from './order-admin.service';
import {
  CAPTURE_STATES, columnsSchema, DATE_PRESETS, listQuerySchema, type ListQuery, MIN_ALL_FIELDS_SEARCH, PRESET_LABELS, SEARCH_MODES,
} from './order-list-query';

const selectedNumbers = z.preprocess((v) => (v == null || v === '' ? [] : Array.isArray(v) ? v : [v]),
  z.array(orderNumber()).min(1, { error: 'select at least one order' }).max(MAX_SELECTED, { error: `select at most ${MAX_SELECTED} orders` }));
export const bulkStateForm = z.object({ numbers: selectedNumbers, stateId: idParam });
const selectionForm = z.object({ numbers: selectedNumbers });
const columnsForm = z.object({ columns: columnsSchema });
/** `back`: where the print view's Close goes; only a staff page of this site (never an open redirect). */
const printQuery = z.object({ numbers: selectedNumbers, back: z.string().regex(/^\/admin\/[A-Za-z0-9/_?=&.%-]{0,300}$/).optional().catch(undefined) });

/** What the filter form offers; the values are the ones listQuerySchema accepts. */
const FILTER_OPTIONS = {
  presets: DATE_PRESETS.map((value) => ({ value, label: PRESET_LABELS[value] })),
  captureStates: CAPTURE_STATES.map((value) => ({ value, label: value.replace('_', ' ') })),
  searchModes: SEARCH_MODES.map((value) => ({ value, label: { id: 'Order id (exact)', customer: 'Customer fields (exact)', all: 'All fields (contains)' }[value] })),
  minAllFieldsSearch: MIN_ALL_FIELDS_SEARCH,
};

/**
 * /admin/orders and /admin/carts: the list (filters remembered per staff user, chosen columns, sorting, keyset
 * paging), bulk state change, and for orders print / shipping documents / XML export of the selected orders;
 * details with the state dropdown and the timeline.
 */
/**
 * The staff list of orders or carts (/admin/orders, /admin/carts) with the user's filters (the query, else the ones
 * remembered); a refused bulk action (`actionError.action === 'bulk'`) is shown in the bulk bar.
 */
export function orderListPage(s: Services, type: 'order' | 'cart'): PageRenderer {
  const base = type === 'order' ? '/admin/orders' : '/admin/carts';
  return async (req, res, actionError) => {
    const { q, refused } = listQueryOf(req, res);
    actionError ??= refused;
    const [list, flows, companies, shops] = await Promise.all([
      s.orderAdmin.listPage(req.user!.id, type, q), s.orderAdmin.statesFor(type), s.orderAdmin.companies(), s.orderAdmin.shops(),
    ]);
    const bulkMoves = await s.orderAdmin.bulkMoves(type, list.rows.map((r) => r.id), req.user!.id);
    res.render('admin/orders/list.njk', { ...list, flows, bulkMoves, companies, shops, options: FILTER_OPTIONS, type, base, actionError: actionError ?? null });
  };
}

/**
 * The list's query; a filter it cannot run (a 2-character all-fields search, a value the form does not offer) is
 * refused on the list itself: its status, the last filter's rows, and the message and what was typed by the filter form.
 */
function listQueryOf(req: Request, res: Response): { q: ListQuery; refused?: ActionError } {
  try {
    return { q: parse(listQuerySchema, req.query) };
  } catch (e) {
    const shown = actionErrorOf(e, 'filter', req.query);
    if (!shown) throw e;
    res.status(shown.status);
    return { q: parse(listQuerySchema, {}), refused: shown.actionError };
  }
}

const cartLineQuantity = z.coerce.number({ error: 'must be a number' }).int({ error: 'must be a whole number' }).min(0, { error: 'cannot be negative' }).max(MAX_LINE_QUANTITY, { error: `must be at most ${MAX_LINE_QUANTITY}` });

export function orderAdminRoutes(s: Services, type: 'order' | 'cart'): Router {
  const r = Router();
  r.use(requireStaff);
  const base = type === 'order' ? '/admin/orders' : '/admin/carts';
  const detailsPage = orderDetailsPage(s, type);

  const listPage = orderListPage(s, type);
  r.get('/', (req, res) => listPage(req, res));

  r.post('/reset-filter', async (req, res) => {
    await s.orderAdmin.resetFilter(req.user!.id, type);
    flash(req, 'success', 'Filters reset.');
    res.redirect(303, base);
  });

  r.post('/columns', async (req, res) => {
    const form = parse(columnsForm, req.body);
    await s.orderAdmin.saveColumns(req.user!.id, type, form.columns);
    flash(req, 'success', 'Columns saved.');
    res.redirect(303, base);
  });

  // The list's bulk actions: a refused selection (none, too many) is shown in the list's bulk bar (see orderListPage).
  r.post('/bulk-state', inContext('bulk', listPage, async (req, res) => {
    const form = parse(bulkStateForm, req.body);
    const results = await s.orderAdmin.changeStates(form.numbers, form.stateId, staffActor(req, 'bulk'));
    res.render('admin/orders/bulk-result.njk', { results, base, type, doneAt: new Date() });
  }));

  if (type === 'order') {
    // Print view: POST from the list's selection, GET from an order's "Print this order" and the view's own Refresh.
    const printView = async (numbers: string[], back: string | undefined, res: Response) => {
      const selfUrl = `${base}/print?${numbers.map((n) => `numbers=${encodeURIComponent(n)}`).join('&')}${back ? `&back=${encodeURIComponent(back)}` : ''}`;
      res.render('admin/orders/list/print.njk', { ...(await s.orderAdmin.printable(numbers)), base, back: back ?? base, selfUrl });
    };
    r.post('/print', inContext('bulk', listPage, async (req, res) => printView(parse(selectionForm, req.body).numbers, undefined, res)));
    r.get('/print', async (req, res) => {
      const q = parse(printQuery, req.query);
      await printView(q.numbers, q.back, res);
    });

    r.post('/shipping-documents', inContext('bulk', listPage, async (req, res) => {
      const form = parse(selectionForm, req.body);
      const doc = await s.orderAdmin.shippingDocuments(form.numbers);
      res.attachment(doc.filename).type('text/csv; charset=utf-8').send(doc.csv);
    }));

    r.post('/:number/send-again', inContext('send-again', detailsPage, async (req, res) => {
      const number = parse(orderNumber(), req.params.number);
      const to = await s.orderAdmin.sendConfirmationAgain(number, staffActor(req, 'backend'));
      flash(req, 'success', `${number}: the order confirmation is queued to ${to}.`);
      res.redirect(303, `${base}/${encodeURIComponent(number)}`);
    }));

    r.post('/export-xml', inContext('bulk', listPage, async (req, res) => {
      const form = parse(selectionForm, req.body);
      const doc = await s.orderAdmin.exportXml(form.numbers);
      res.attachment(doc.filename).type('application/xml; charset=utf-8').send(doc.xml);
    }));
  }

  const renderDetails = (req: Request, res: Response, _number: string, refused?: RefusedMove) => detailsPage(req, res, undefined, { refused });

  r.get('/:number', (req, res) => detailsPage(req, res));

  r.post('/:number/comment', inContext('comment', detailsPage, async (req, res) => {
    const number = parse(orderNumber(), req.params.number);
    const form = parse(z.object({ comment: text(4000).default('') }), req.body);
    await s.orderAdmin.saveStaffComment(number, form.comment, staffActor(req, 'backend'));
    flash(req, 'success', `${number}: internal comment saved.`);
    res.redirect(303, `${base}/${encodeURIComponent(number)}#comments`);
  }));

  if (type === 'cart') {
    r.post('/:number/lines', inContext('lines', detailsPage, async (req, res) => {
      const number = parse(orderNumber(), req.params.number);
      const quantities = new Map<number, number>();
      for (const [key, value] of Object.entries(req.body as Record<string, unknown>)) {
        const m = /^qty_(\d+)$/.exec(key);
        if (!m) continue;
        const q = cartLineQuantity.safeParse(value);
        if (!q.success) throw invalid(`Nothing was saved: a quantity ${q.error.issues[0].message}.`, { [key]: q.error.issues[0].message });
        quantities.set(Number(m[1]), q.data);
      }
      const add = parse(z.object({ addProductNumber: z.string().trim().max(40).default(''), addQuantity: z.coerce.number().int().min(1).max(MAX_LINE_QUANTITY).catch(1) }), req.body);
      await s.namedCarts.staffEditLines(number, req.user!, { quantities, addProductNumber: add.addProductNumber || undefined, addQuantity: add.addQuantity });
      flash(req, 'success', `${number}: lines saved.`);
      res.redirect(303, `${base}/${encodeURIComponent(number)}`);
    }));
  }

  r.post('/:number/state', async (req, res) => {
    const number = parse(orderNumber(), req.params.number);
    const moved = await changeStateInContext(req, res, (form) => s.orderAdmin.changeState(number, form.stateId, form.version, staffActor(req, 'backend'), form.message),
      (refused) => renderDetails(req, res, number, refused));
    if (!moved) return;
    flash(req, 'success', `${number}: state changed.`);
    res.redirect(303, `${base}/${encodeURIComponent(number)}`);
  });

  r.post('/:number/reopen', inContext('reopen', detailsPage, async (req, res) => {
    const number = parse(orderNumber(), req.params.number);
    const form = parse(z.object({ stateId: idParam, version: z.coerce.number().int().min(1), reason: text(2000).default('') }), req.body);
    await s.orderAdmin.reopen(number, form.stateId, form.version, staffActor(req, 'backend'), form.reason);
    flash(req, 'success', `${number}: reopened.`);
    res.redirect(303, `${base}/${encodeURIComponent(number)}`);
  }));

  return r;
}
