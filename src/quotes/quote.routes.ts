import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { requireLogin, requireStaff } from '../http/auth';
import { inContext, type ActionError, type PageRenderer } from '../http/in-context';
import { changeStateInContext, staffActor, type RefusedMove } from '../flows/state-control';
import { bulkStateForm } from '../orders/order-admin.routes';
import { flash, shopperOf } from '../http/shopper';
import { idParam, labelOf, orderNumber, parse, quantity, text } from '../http/validate';
import type { Services } from '../services';
import { parseMoney } from '../shared/money';
import { DomainError } from '../shared/errors';

const quoteNumber = orderNumber('is not a quote id');
const money = (label: string) => z.string().trim().transform((v, ctx) => {
  const minor = v === '' ? 0 : parseMoney(v);
  if (minor == null) {
    ctx.addIssue({ code: 'custom', message: `${label} must be an amount like 125.50` });
    return z.NEVER;
  }
  return minor;
});
const cardFields = z.object({
  cardNumber: z.string().trim().max(30).optional(), cardExpiry: z.string().trim().max(7).optional(),
  cardCvc: z.string().trim().max(4).optional(), cardHolder: text(120).optional(),
});

/** GET /customer-center?CC=Quotes */
export async function renderQuotes(s: Services, req: Request, res: Response): Promise<void> {
  res.render('quotes/customer-list.njk', { cc: 'Quotes', quotes: await s.quotes.customerQuotes(req.user!) });
}

/** /checkout/quote and /customer-center/quotes/… for customers. */
export function customerQuoteRoutes(s: Services): Router {
  const r = Router();
  r.use(requireLogin);

  /** The quote as its customer sees it; a refused accept (a declined card, a method that cannot be used) is shown by its form. */
  const quotePage: PageRenderer = async (req, res, actionError) => {
    const view = await s.quotes.customerQuote(req.user!, parse(quoteNumber, req.params.number));
    res.render('quotes/customer-quote.njk', { ...view, cc: 'Quotes', paymentMethods: await s.checkout.quotePaymentMethods(), actionError });
  };
  r.get('/:number', (req, res) => quotePage(req, res));

  r.post('/:number/accept', inContext('accept', quotePage, async (req, res) => {
    const form = parse(cardFields.extend({ paymentMethodId: idParam }), req.body);
    const card = form.cardNumber ? { number: form.cardNumber, expiry: form.cardExpiry ?? '', cvc: form.cardCvc ?? '', holder: form.cardHolder ?? '' } : undefined;
    const { order } = await s.quotes.accept(req.user!, parse(quoteNumber, req.params.number), { paymentMethodId: form.paymentMethodId, card, ip: req.ip ?? '' });
    req.session.placedOrders = [...(req.session.placedOrders ?? []).slice(-19), order.id];
    flash(req, 'success', `Thank you — your order ${order.number} is placed at the offered prices.`);
    res.redirect(303, `/checkout/receipt/${encodeURIComponent(order.number)}`);
  }));

  r.post('/:number/reject', async (req, res) => {
    const form = parse(z.object({ reason: text(1000).min(1, { error: 'please tell us why' }) }), req.body);
    const quote = await s.quotes.reject(req.user!, parse(quoteNumber, req.params.number), form.reason);
    flash(req, 'success', `You rejected quote ${quote.number}. Thank you for telling us why.`);
    res.redirect(303, '/customer-center?CC=Quotes');
  });

  return r;
}

export function requestQuoteRoute(s: Services): Router {
  const r = Router();
  r.post('/', async (req, res) => {
    if (!req.user) throw new DomainError('UNAUTHENTICATED', 'Please log in to request a quote, so you can follow it in your account.');
    const form = parse(z.object({ customerComment: text(2000).default('') }), req.body);
    const quote = await s.quotes.requestQuote(shopperOf(req), form.customerComment);
    flash(req, 'success', `Your quote request ${quote.number} has been sent. We will get back to you with an offer.`);
    res.redirect(303, `/customer-center/quotes/${encodeURIComponent(quote.number)}`);
  });
  return r;
}

const lineRow = z.object({ lineId: idParam, quantity, unitPrice: money('Unit price'), discount: money('Line discount'), remove: z.string().optional() });
const editForm = z.object({
  version: z.coerce.number().int().min(1),
  lines: z.array(lineRow).max(500).default([]),
  addProductNumber: z.string().trim().max(40).default(''),
  addQuantity: z.union([z.literal(''), quantity]).default(''),
  addUnitPrice: z.string().trim().max(20).default(''),
  addDiscount: money('Discount on the added product').default(0),
  orderDiscount: money('Order discount').default(0),
  expiresOn: z.union([z.literal(''), z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'must be a date' })]).default(''),
  message: text(4000).default(''),
});

/** /admin/quotes for staff. */
export function adminQuoteRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);

  /** The quote list; a refused bulk change (nothing selected) is shown in its bulk bar. */
  const listPage = async (req: Request, res: Response, actionError?: ActionError) => {
    const quotes = await s.quotes.adminQuotes();
    const bulkMoves = await s.orderAdmin.bulkMoves('quote', quotes.filter((q) => q.type === 'quote').map((q) => q.id), req.user!.id);
    res.render('quotes/admin-list.njk', { quotes, bulkMoves, base: '/admin/quotes', actionError: actionError ?? null });
  };

  r.get('/', (req, res) => listPage(req, res));

  r.post('/bulk-state', inContext('bulk', listPage, async (req, res) => {
    const form = parse(bulkStateForm, req.body);
    const results = await s.orderAdmin.changeStates(form.numbers, form.stateId, staffActor(req, 'bulk'), 'quote');
    res.render('admin/orders/bulk-result.njk', { results, base: '/admin/quotes', type: 'quote', doneAt: new Date() });
  }));

  const renderQuote = async (req: Request, res: Response, number: string, refused?: RefusedMove, actionError?: ActionError) => {
    const view = await s.quotes.adminQuote(number);
    res.render('quotes/admin-quote.njk', { ...view, moves: await s.orderAdmin.stateMoves(view.quote, req.user!.id), refused, actionError: actionError ?? null, base: '/admin/quotes' });
  };
  /** A refused save or offer: the quote page again, the message by its button, what was typed kept (see inContext). */
  const quotePage = (req: Request, res: Response, actionError?: ActionError) => renderQuote(req, res, parse(quoteNumber, req.params.number), undefined, actionError);

  r.get('/:number', async (req, res) => {
    const number = parse(quoteNumber, req.params.number);
    const order = await s.quotes.acceptedAs(number);
    if (order) return res.redirect(303, `/admin/orders/${encodeURIComponent(order)}`);
    await renderQuote(req, res, number);
  });

  r.post('/:number/state', async (req, res) => {
    const number = parse(quoteNumber, req.params.number);
    const moved = await changeStateInContext(req, res, (form) => s.orderAdmin.changeState(number, form.stateId, form.version, staffActor(req, 'backend'), form.message, 'quote'),
      (refused) => renderQuote(req, res, number, refused));
    if (!moved) return;
    flash(req, 'success', `${number}: state changed.`);
    res.redirect(303, `/admin/quotes/${encodeURIComponent(number)}`);
  });

  r.get('/:number/versions/:no', async (req, res) => {
    const v = await s.quotes.version(parse(quoteNumber, req.params.number), parse(idParam, req.params.no));
    res.render('quotes/admin-version.njk', { v, number: req.params.number, base: '/admin/quotes' });
  });

  r.post('/:number', inContext('save', quotePage, async (req, res) => {
    const number = parse(quoteNumber, req.params.number);
    const lines = linesOf(req.body);
    // Every problem at once, each on the input it is about (a line's by its row's own name, not "lines.0").
    const form = parse(editForm, { ...req.body, lines }, {
      key: (path) => (path[0] === 'lines' ? `line_${lines[Number(path[1])]?.lineId}_${String(path[2])}` : String(path[0])),
      message: (fields) => `Please check the marked fields: ${Object.entries(fields)
        .map(([key, m]) => (/^[A-Z]/.test(m) ? m : `${labelOf(key.replace(/^line_\d+_/, ''))} ${m}`)).join('; ')}.`,
    });
    const addUnitPrice = form.addUnitPrice === '' ? null : parseMoney(form.addUnitPrice);
    if (form.addUnitPrice !== '' && addUnitPrice == null) throw new DomainError('VALIDATION', 'Unit price of the added product must be an amount like 125.50', { addUnitPrice: 'not an amount' });
    await s.quotes.edit(number, {
      expectedVersion: form.version,
      lines: form.lines.map((l) => ({ lineId: l.lineId, quantity: l.quantity, unitPriceMinor: l.unitPrice, discountMinor: l.discount, remove: l.remove === 'on' })),
      add: form.addProductNumber ? { productNumber: form.addProductNumber, quantity: form.addQuantity === '' ? 1 : form.addQuantity, unitPriceMinor: addUnitPrice, discountMinor: form.addDiscount } : null,
      orderDiscountMinor: form.orderDiscount, expiresOn: form.expiresOn || null, message: form.message,
    }, req.user!);
    flash(req, 'success', `${number} saved as a new version.`);
    res.redirect(303, `/admin/quotes/${encodeURIComponent(number)}`);
  }));

  r.post('/:number/offer', inContext('offer', quotePage, async (req, res) => {
    const quote = await s.quotes.offer(parse(quoteNumber, req.params.number), req.user!);
    flash(req, 'success', `${quote.number} was offered to the customer.`);
    res.redirect(303, `/admin/quotes/${encodeURIComponent(quote.number)}`);
  }));

  return r;
}

/** Form rows arrive as line_<id>_quantity etc. (flat names keep the form working without JS). */
function linesOf(body: Record<string, unknown>) {
  const ids = new Set(Object.keys(body).map((k) => /^line_(\d+)_quantity$/.exec(k)?.[1]).filter(Boolean));
  return [...ids].map((id) => ({
    lineId: id, quantity: body[`line_${id}_quantity`], unitPrice: body[`line_${id}_unitPrice`] ?? '', discount: body[`line_${id}_discount`] ?? '', remove: body[`line_${id}_remove`],
  }));
}
