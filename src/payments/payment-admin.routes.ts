import { Router, type Request } from 'express';
import { z } from 'zod';
import { requireStaff } from '../http/auth';
import { inContext, type PageRenderer } from '../http/in-context';
import { flash } from '../http/shopper';
import { orderNumber, parse } from '../http/validate';
import { orderDetailsPage } from '../orders/order-details.page';
import { orderListPage } from '../orders/order-admin.routes';
import type { Services } from '../services';
import { parseMoney } from '../shared/money';
import { isConfirmed } from '../shared/confirmation';
import type { PaymentActor } from './payment.service';

const BASE = '/admin/orders';
/** Money as staff type it ("125", "125.5", "125,50") → integer minor units; never a float. */
const amount = z.string({ error: 'is required' }).trim().min(1, { error: 'is required' }).transform((v, ctx) => {
  const minor = parseMoney(v);
  if (minor == null) {
    ctx.addIssue({ code: 'custom', message: 'is not an amount; type it like 125.50' });
    return z.NEVER;
  }
  if (minor <= 0) {
    ctx.addIssue({ code: 'custom', message: 'must be greater than 0' });
    return z.NEVER;
  }
  return minor;
});
const amountForm = z.object({ amount });
const bulkForm = z.object({
  numbers: z.preprocess((v) => (v == null || v === '' ? [] : Array.isArray(v) ? v : [v]),
    z.array(orderNumber()).min(1, { error: 'select at least one order' }).max(500)),
});
const pageQuery = z.object({ page: z.coerce.number().int().min(1).max(100000).catch(1).default(1) });

const actor = (req: Request, source: PaymentActor['source'] = 'backend'): PaymentActor => ({ userId: req.user!.id, source });
const detailsUrl = (number: string) => `${BASE}/${encodeURIComponent(number)}`;

/**
 * Mounted at /admin/orders before the order details routes: the payment desk. Each action parses its form,
 * makes one PaymentService call and redirects back to the order with a flash (post/redirect/get); a refusal is
 * shown on the order details page next to its form. Refund, cancel, delete and bulk capture first show what they
 * will do and act on the second, confirmed submit.
 */
export function paymentAdminRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);
  const desk = s.paymentDesk;

  r.post('/bulk-capture', inContext('bulk', orderListPage(s, 'order'), async (req, res) => {
    const form = parse(bulkForm, req.body);
    if (!isConfirmed(req.body)) {
      const plan = await desk.captureManyPlan(form.numbers);
      return res.render('admin/payments/bulk-capture-confirm.njk', { plan, base: BASE, type: 'order' });
    }
    const results = await desk.captureMany(form.numbers, actor(req, 'bulk'));
    res.render('admin/payments/bulk-capture.njk', { results, base: BASE, type: 'order' });
  }));

  const deletedPage: PageRenderer = async (req, res, actionError) => {
    const q = parse(pageQuery, req.query);
    const list = await desk.deletedOrders(q.page);
    res.render('admin/payments/deleted.njk', { ...list, q, base: BASE, type: 'order', actionError, refusedNumber: actionError ? req.params.number : null });
  };
  r.get('/deleted', (req, res) => deletedPage(req, res));

  const detailsPage = orderDetailsPage(s, 'order');
  type Run = (req: Request, number: string) => Promise<{ number: string; message: string }>;
  /** `confirm`: what the action will do, shown (page or dialog) before the confirmed second submit runs it. */
  type Options = { after?: (number: string) => string; confirm?: (req: Request, number: string) => ReturnType<typeof desk.confirmation>; page?: PageRenderer };
  const action = (path: string, run: Run, options: Options = {}) => {
    const { after = detailsUrl, confirm, page = detailsPage } = options;
    r.post(`/:number/${path}`, inContext(path, page, async (req, res) => {
      const number = parse(orderNumber(), req.params.number);
      if (confirm && !isConfirmed(req.body)) {
        const confirmation = await confirm(req, number);
        return res.render('admin/payments/confirm.njk', { confirmation, action: `${detailsUrl(number)}/${path}`, values: { amount: req.body?.amount ?? '' }, back: detailsUrl(number), base: BASE, type: 'order' });
      }
      const outcome = await run(req, number);
      flash(req, 'success', `${outcome.number}: ${outcome.message}`);
      res.redirect(303, after(outcome.number));
    }));
  };
  const amountOf = (req: Request) => parse(amountForm, req.body).amount;

  action('capture', (req, number) => desk.captureFull(number, actor(req)));
  action('capture-amount', (req, number) => desk.captureAmount(number, amountOf(req), actor(req)));
  action('final-capture', (req, number) => desk.finalCapture(number, actor(req)));
  action('cancel', (req, number) => desk.cancel(number, actor(req)), { confirm: (req, number) => desk.confirmation(number, 'cancel', actor(req)) });
  action('refund', (req, number) => desk.refund(number, amountOf(req), actor(req)), { confirm: (req, number) => desk.confirmation(number, 'refund', actor(req), amountOf(req)) });
  action('delete', (req, number) => desk.delete(number, actor(req)), { after: () => `${BASE}/deleted`, confirm: (req, number) => desk.confirmation(number, 'delete', actor(req)) });
  action('restore', (req, number) => desk.restore(number, actor(req)), { page: deletedPage });

  return r;
}
