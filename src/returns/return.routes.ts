import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { requireLogin, requireStaff } from '../http/auth';
import { type ActionError, inContext, renderInvalid } from '../http/in-context';
import { flash } from '../http/shopper';
import { fieldErrors, idParam, labelOf, orderNumber, parse, requiredText, text } from '../http/validate';
import type { Services } from '../services';
import { parseMoney } from '../shared/money';
import { DomainError, invalid } from '../shared/errors';
import { isConfirmed, type Confirmation } from '../shared/confirmation';
import { RETURN_REASONS, type ReturnInput } from './return.service';

const returnNumber = z.string().regex(/^RMA\d{1,12}$/, { error: 'is not a return id' });
const returnForm = z.object({
  orderNumber: orderNumber(),
  reason: z.enum(RETURN_REASONS, { error: 'Choose a reason.' }),
  comment: text(2000).default(''),
  resolution: z.enum(['refund', 'replacement'], { error: 'Choose a refund or a replacement.' }),
});
const rejectForm = z.object({ message: requiredText(1000) });
const lineQuantity = z.coerce.number({ error: 'must be a number' }).int({ error: 'must be a whole number' }).min(0, { error: 'cannot be negative' }).max(9999);

/** GET /customer-center?CC=Returns */
export async function renderReturns(s: Services, req: Request, res: Response): Promise<void> {
  res.render('returns/customer-list.njk', { cc: 'Returns', returns: await s.returns.customerReturns(req.user!) });
}

/** Mounted at /: customer pages under /customer-center/returns, staff pages under /admin/returns. */
export function returnRoutes(s: Services): Router {
  const r = Router();

  r.get('/customer-center/returns/new', requireLogin, async (req, res) => {
    // Items are returned from an order: without one (a bookmark, a typed address) the orders list is where to pick it.
    if (req.query.order == null || req.query.order === '') {
      flash(req, 'success', 'Open the order you want to return items from and choose “Return items” there.');
      return res.redirect(303, '/customer-center?CC=Orders');
    }
    const number = parse(orderNumber(), req.query.order);
    res.render('returns/customer-new.njk', { cc: 'Returns', ...(await s.returns.returnable(req.user!, number)), reasons: RETURN_REASONS });
  });

  r.post('/customer-center/returns', requireLogin, async (req, res) => {
    // The order first: without it there is no form to show again. Anything else refused is shown on the form, as typed.
    const number = parse(orderNumber(), req.body.orderNumber);
    try {
      const ret = await s.returns.create(req.user!, number, await returnRequestOf(s, req, number));
      flash(req, 'success', `Your return ${ret.number} is registered. We have sent you an e-mail with the details.`);
      res.redirect(303, `/customer-center/returns/${ret.number}`);
    } catch (e) {
      await renderInvalid(res, e, 'returns/customer-new.njk', async () => ({
        cc: 'Returns', ...(await s.returns.returnable(req.user!, number)), reasons: RETURN_REASONS, form: req.body,
      }));
    }
  });

  r.get('/customer-center/returns/:number', requireLogin, async (req, res) => {
    res.render('returns/customer-return.njk', { cc: 'Returns', ...(await s.returns.customerReturn(req.user!, parse(returnNumber, req.params.number))) });
  });

  r.get('/admin/returns', requireStaff, async (_req, res) => res.render('returns/admin-list.njk', { returns: await s.returns.adminReturns(), base: '/admin/returns' }));

  /** The staff page of a return; a refused step is shown by its button with what was typed (see inContext). */
  const returnPage = async (req: Request, res: Response, actionError?: ActionError) => {
    res.render('returns/admin-return.njk', { ...(await s.returns.adminReturn(parse(returnNumber, req.params.number), req.user!.id)), base: '/admin/returns', actionError: actionError ?? null });
  };

  r.get('/admin/returns/:number', requireStaff, (req, res) => returnPage(req, res));

  /** `confirm`: what the step will do, shown (page or dialog) before the confirmed second submit runs it. */
  const staffStep = <R extends { number: string }>(path: string, run: (req: Request, number: string) => Promise<R>, done: string | ((ret: R) => string), confirm?: (req: Request, number: string) => Promise<Confirmation>) =>
    r.post(`/admin/returns/:number/${path}`, requireStaff, inContext(path, returnPage, async (req, res) => {
      const number = parse(returnNumber, req.params.number);
      if (confirm && !isConfirmed(req.body)) {
        const back = `/admin/returns/${number}`;
        return res.render('admin/payments/confirm.njk', { confirmation: await confirm(req, number), action: `${back}/${path}`, values: req.body, back, base: '/admin/returns' });
      }
      const ret = await run(req, number);
      flash(req, 'success', `${ret.number}: ${typeof done === 'string' ? done : done(ret)}`);
      res.redirect(303, `/admin/returns/${ret.number}`);
    }));

  staffStep('approve', (req, n) => s.returns.approve(n, req.user!), 'approved.');
  // The customer is told why: a rejection without a reason leaves them with nothing to go on.
  staffStep('reject', (req, n) => s.returns.reject(n, req.user!, parse(rejectForm, req.body).message), 'rejected.');
  staffStep('receive', (req, n) => s.returns.receive(n, req.user!, req.body.locationId ? parse(idParam, req.body.locationId) : null), 'goods received.');
  // A refund first shows what it will do (a page, or a dialog with JavaScript), and runs on the confirmed second submit.
  staffStep('refund', (req, n) => {
    const { amount, fee } = refundForm(req);
    return s.returns.refund(n, req.user!, amount, fee);
  }, (ret) => (ret.creditedMinor ? 'credited against what the customer owes.' : 'refunded.'), (req, n) => {
    const { amount, fee } = refundForm(req);
    return s.returns.refundConfirmation(n, req.user!, amount, fee);
  });
  staffStep('replace', (req, n) => s.returns.replace(n, req.user!), 'replacement order created.');
  staffStep('reopen', (req, n) => {
    const form = parse(z.object({ stateId: idParam, reason: text(2000).default('') }), req.body);
    return s.returns.reopen(n, req.user!, form.stateId, form.reason);
  }, 'reopened.');

  return r;
}

/** The return refund form: the goods' part, and an optional fee refunded on top. */
function refundForm(req: Request): { amount: number; fee: number } {
  const amount = parseMoney(String(req.body.amount ?? ''));
  if (!amount) throw new DomainError('VALIDATION', 'Enter the amount to refund, like 125.50.', { amount: 'must be an amount above 0' });
  const feeText = String(req.body.fee ?? '').trim();
  const fee = feeText ? parseMoney(feeText) : 0;
  if (fee == null) throw new DomainError('VALIDATION', 'Enter the fee like 39.00, or leave it empty.', { fee: 'must be an amount' });
  return { amount, fee };
}

/**
 * The return request form, refused with every problem at once, each by its field: the reason and resolution, each
 * line's quantity as typed, and (the service's check) quantities above what may still be returned.
 */
async function returnRequestOf(s: Services, req: Request, number: string): Promise<ReturnInput> {
  const form = returnForm.safeParse(req.body);
  const fields: Record<string, string> = form.success ? {} : fieldErrors(form.error);
  const lines: ReturnInput['lines'] = [];
  for (const [key, value] of Object.entries(req.body as Record<string, unknown>)) {
    if (!/^line_\d+$/.test(key)) continue;
    const quantity = lineQuantity.safeParse(value === '' ? 0 : value);
    if (quantity.success) lines.push({ orderLineId: Number(key.slice(5)), quantity: quantity.data });
    else fields[key] = `The quantity ${quantity.error.issues[0].message}.`;
  }
  if (form.success && !Object.keys(fields).length) return { ...form.data, lines };
  Object.assign(fields, { ...(await s.returns.lineProblems(req.user!, number, lines)), ...fields });
  // The service's and the choices' messages are sentences; a field's own (e.g. a comment too long) gets its name.
  throw invalid(Object.entries(fields).map(([key, m]) => (/^[A-Z]/.test(m) ? m : `${labelOf(key)}: ${m}.`)).join(' '), fields);
}
