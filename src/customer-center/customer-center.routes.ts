import { Router } from 'express';
import { z } from 'zod';
import { requireLogin } from '../http/auth';
import { flash } from '../http/shopper';
import { idParam, parse } from '../http/validate';
import type { Services } from '../services';
import { DomainError } from '../shared/errors';
import { renderOrderHistory } from './order-history.routes';

const section = z.enum(['Carts', 'Orders'], { error: 'is not a customer center section' }).catch('Carts');
/** The seeds' contract: form id ChangeDraftStatusForm, fields CartID and StateId, posted to ?CC=Carts. */
const changeDraftStatusForm = z.object({
  CartID: z.string().regex(/^[A-Z0-9-]{1,40}$/, { error: 'is not a cart id' }),
  StateId: idParam,
});

export function customerCenterRoutes(s: Services): Router {
  const r = Router();
  r.use(requireLogin);

  r.get('/', async (req, res) => {
    const cc = section.parse(req.query.CC);
    if (cc === 'Orders') return renderOrderHistory(s, req, res);
    res.render('customer-center/carts.njk', { cc, carts: await s.customerCenter.carts(req.user!) });
  });

  r.post('/', async (req, res) => {
    if (req.query.CC !== 'Carts') throw new DomainError('NOT_FOUND', 'The page was not found.');
    const form = parse(changeDraftStatusForm, req.body);
    const cart = await s.customerCenter.changeCartState(req.user!, form.CartID, form.StateId);
    flash(req, 'success', `Cart ${cart.number} is now “${cart.state?.name}”.`);
    res.redirect(303, '/customer-center?CC=Carts');
  });

  return r;
}
