import { Router } from 'express';
import { z } from 'zod';
import { requireLogin } from '../http/auth';
import { wantsJson } from '../http/error-handler';
import { inContext, type PageRenderer, renderInvalid } from '../http/in-context';
import { flash } from '../http/shopper';
import { idParam, noNul, orderNumber, parse } from '../http/validate';
import type { Services } from '../services';
import { DomainError, REFUSED_MOVES } from '../shared/errors';
import { renderOrderHistory } from './order-history.routes';
import { renderQuotes } from '../quotes/quote.routes';
import { renderReturns } from '../returns/return.routes';

const section = z.enum(['Carts', 'Orders', 'Quotes', 'Returns'], { error: 'is not a customer center section' }).catch('Carts');
/** The seeds' contract: form id ChangeDraftStatusForm, fields CartID and StateId, posted to ?CC=Carts. */
const changeDraftStatusForm = z.object({
  CartID: orderNumber('is not a cart id'),
  StateId: idParam,
});

export function customerCenterRoutes(s: Services): Router {
  const r = Router();
  r.use(requireLogin);

  r.get('/', async (req, res) => {
    const cc = section.parse(req.query.CC);
    if (cc === 'Orders') return renderOrderHistory(s, req, res);
    if (cc === 'Quotes') return renderQuotes(s, req, res);
    if (cc === 'Returns') return renderReturns(s, req, res);
    res.render('customer-center/carts.njk', { cc, carts: await s.customerCenter.carts(req.user!) });
  });

  r.post('/', async (req, res) => {
    if (req.query.CC !== 'Carts') throw new DomainError('NOT_FOUND', 'The page was not found.');
    const form = parse(changeDraftStatusForm, req.body);
    let cart;
    try {
      cart = await s.customerCenter.changeCartState(req.user!, form.CartID, form.StateId);
    } catch (e) {
      // A refused move (the rules, or someone moved the cart meanwhile) is shown next to that cart's state control.
      if (wantsJson(req)) throw e;
      return renderInvalid(res, e, async (refusal) => res.render('customer-center/carts.njk', {
        cc: 'Carts', carts: await s.customerCenter.carts(req.user!), refused: { cart: form.CartID, message: refusal.message },
      }), REFUSED_MOVES);
    }
    flash(req, 'success', `Cart ${cart.number} is now “${cart.state?.name}”.`);
    res.redirect(303, '/customer-center?CC=Carts');
  });

  const cartName = z.object({ name: z.string().trim().min(1, { error: 'is required' }).max(80, { error: 'must be at most 80 characters' })
    .refine(noNul, { error: 'contains a character that is not allowed' }) });
  const cartNumber = orderNumber('is not a cart id');

  /** The carts tab; after a refused name, with the message by the form it was typed in and the name as typed. */
  const cartsPage: PageRenderer = async (req, res, actionError) => {
    res.render('customer-center/carts.njk', { cc: 'Carts', carts: await s.customerCenter.carts(req.user!), actionError });
  };

  r.post('/carts', inContext('create-cart', cartsPage, async (req, res) => {
    const cart = await s.namedCarts.create(req.user!, parse(cartName, req.body).name);
    flash(req, 'success', `Cart “${cart.name}” (${cart.number}) created.`);
    res.redirect(303, '/customer-center?CC=Carts');
  }));

  r.post('/carts/:number/rename', inContext((req) => `rename-${String(req.params.number)}`, cartsPage, async (req, res) => {
    const cart = await s.namedCarts.rename(req.user!, parse(cartNumber, req.params.number), parse(cartName, req.body).name);
    flash(req, 'success', `Cart ${cart.number} renamed to “${cart.name}”.`);
    res.redirect(303, '/customer-center?CC=Carts');
  }));

  r.post('/carts/:number/copy', async (req, res) => {
    const cart = await s.namedCarts.copy(req.user!, parse(cartNumber, req.params.number));
    flash(req, 'success', `Copied to “${cart.name}” (${cart.number}).`);
    res.redirect(303, '/customer-center?CC=Carts');
  });

  r.post('/carts/:number/delete', inContext((req) => `delete-${String(req.params.number)}`, cartsPage, async (req, res) => {
    const cart = await s.namedCarts.remove(req.user!, parse(cartNumber, req.params.number));
    flash(req, 'success', `Cart ${cart.number} deleted.`);
    res.redirect(303, '/customer-center?CC=Carts');
  }));

  r.post('/carts/:number/activate', async (req, res) => {
    const cart = await s.namedCarts.makeActive(req.user!, parse(cartNumber, req.params.number));
    flash(req, 'success', `${cart.name || cart.number} is now your basket: products you add go into it.`);
    res.redirect(303, '/customer-center?CC=Carts');
  });

  return r;
}
