import { Router, type Request } from 'express';
import { z } from 'zod';
import { requireStaff } from '../http/auth';
import { flash } from '../http/shopper';
import { parse } from '../http/validate';
import type { Services } from '../services';
import { parseMoney } from '../shared/money';
import type { PaymentActor } from './payment.service';

const BASE = '/admin/orders';
const orderNumber = z.string().regex(/^[A-Z0-9-]{1,40}$/, { error: 'is not an order id' });
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
    z.array(orderNumber).min(1, { error: 'select at least one order' }).max(500)),
});
const pageQuery = z.object({ page: z.coerce.number().int().min(1).max(100000).catch(1).default(1) });

const actor = (req: Request, source: PaymentActor['source'] = 'backend'): PaymentActor => ({ userId: req.user!.id, source });
const detailsUrl = (number: string) => `${BASE}/${encodeURIComponent(number)}`;

/**
 * Mounted at /admin/orders before the order details routes: the payment desk. Each action parses its form,
 * makes one PaymentService call and redirects back to the order with a flash (post/redirect/get).
 */
export function paymentAdminRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);
  const desk = s.paymentDesk;

  r.post('/bulk-capture', async (req, res) => {
    const form = parse(bulkForm, req.body);
    const results = await desk.captureMany(form.numbers, actor(req, 'bulk'));
    res.render('admin/payments/bulk-capture.njk', { results, base: BASE, type: 'order' });
  });

  r.get('/deleted', async (req, res) => {
    const q = parse(pageQuery, req.query);
    const list = await desk.deletedOrders(q.page);
    res.render('admin/payments/deleted.njk', { ...list, q, base: BASE, type: 'order' });
  });

  // The order details page (rendered by the order routes next) gets its payment box from here.
  r.get('/:number', async (req, res, next) => {
    const number = orderNumber.safeParse(req.params.number);
    if (number.success) res.locals.paymentBox = await desk.box(number.data);
    next();
  });

  const action = (path: string, run: (req: Request, number: string) => Promise<{ number: string; message: string }>, after = detailsUrl) => {
    r.post(`/:number/${path}`, async (req, res) => {
      const number = parse(orderNumber, req.params.number);
      const outcome = await run(req, number);
      flash(req, 'success', `${outcome.number}: ${outcome.message}`);
      res.redirect(303, after(outcome.number));
    });
  };

  action('capture', (req, number) => desk.captureFull(number, actor(req)));
  action('capture-amount', (req, number) => desk.captureAmount(number, parse(amountForm, req.body).amount, actor(req)));
  action('final-capture', (req, number) => desk.finalCapture(number, actor(req)));
  action('cancel', (req, number) => desk.cancel(number, actor(req)));
  action('refund', (req, number) => desk.refund(number, parse(amountForm, req.body).amount, actor(req)));
  action('delete', (req, number) => desk.delete(number, actor(req)), () => `${BASE}/deleted`);
  action('restore', (req, number) => desk.restore(number, actor(req)));

  return r;
}
