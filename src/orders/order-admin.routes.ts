import { Router, type Request } from 'express';
import { z } from 'zod';
import type { StateChangeActor } from '../flows/flow.service';
import { requireStaff } from '../http/auth';
import { flash } from '../http/shopper';
import { idParam, parse } from '../http/validate';
import type { Services } from '../services';

const orderNumber = z.string().regex(/^[A-Z0-9-]{1,40}$/, { error: 'is not an order id' });
const ids = z.preprocess((v) => (v == null || v === '' ? [] : Array.isArray(v) ? v : [v]), z.array(idParam).max(50));
const listQuery = z.object({ state: ids, company: idParam.optional().catch(undefined), page: z.coerce.number().int().min(1).max(100000).catch(1).default(1) });
const bulkForm = z.object({
  numbers: z.preprocess((v) => (v == null ? [] : Array.isArray(v) ? v : [v]), z.array(orderNumber).min(1, { error: 'select at least one' }).max(500)),
  stateId: idParam,
});

const staffActor = (req: Request, source: StateChangeActor['source']): StateChangeActor => ({ userId: req.user!.id, kind: 'staff', source });

/** /admin/orders and /admin/carts: lists with bulk state change, details with the state dropdown and the timeline. */
export function orderAdminRoutes(s: Services, type: 'order' | 'cart'): Router {
  const r = Router();
  r.use(requireStaff);
  const base = type === 'order' ? '/admin/orders' : '/admin/carts';

  r.get('/', async (req, res) => {
    const q = parse(listQuery, req.query);
    const [list, flows, companies] = await Promise.all([
      s.orderAdmin.list({ type, stateIds: q.state, companyId: q.company, page: q.page }), s.orderAdmin.statesFor(type), s.orderAdmin.companies(),
    ]);
    res.render('admin/orders/list.njk', { ...list, flows, companies, q, type, base });
  });

  r.post('/bulk-state', async (req, res) => {
    const form = parse(bulkForm, req.body);
    const results = await s.orderAdmin.changeStates(form.numbers, form.stateId, staffActor(req, 'bulk'));
    res.render('admin/orders/bulk-result.njk', { results, base, type });
  });

  r.get('/:number', async (req, res) => {
    const details = await s.orderAdmin.details(parse(orderNumber, req.params.number), type === 'cart' ? 'cart' : undefined);
    res.render('admin/orders/details.njk', { ...details, base, type });
  });

  r.post('/:number/state', async (req, res) => {
    const number = parse(orderNumber, req.params.number);
    const form = parse(z.object({ stateId: idParam, version: z.coerce.number().int().min(1) }), req.body);
    await s.orderAdmin.changeState(number, form.stateId, form.version, staffActor(req, 'backend'));
    flash(req, 'success', `${number}: state changed.`);
    res.redirect(303, `${base}/${encodeURIComponent(number)}`);
  });

  return r;
}
