import { Router } from 'express';
import { z } from 'zod';
import { flash, setBasketCookie, shopperOf, shopperWithBasketCookie } from '../http/shopper';
import { renderProductPage } from '../catalog/catalog.routes';
import { inContext, type PageRenderer } from '../http/in-context';
import { idParam, parse, productNumber, quantity } from '../http/validate';
import type { Services } from '../services';

const addForm = z.object({ productId: idParam, quantity: quantity.default(1) });
const quantityForm = z.object({ quantity });

export function cartRoutes(s: Services): Router {
  const r = Router();

  /** The basket page; after a refused change to a line, with the message by that line and the quantity as typed. */
  const basketPage: PageRenderer = async (req, res, actionError) => {
    const basket = await s.carts.view(shopperOf(req));
    res.render('cart/basket.njk', { basket, totals: basket?.totals ?? null, basketCount: basket?.itemCount ?? 0, actionError });
  };
  r.get('/', (req, res) => basketPage(req, res));

  // A refused add (stock, quantity) is shown on the product page it was tried from, the typed quantity kept.
  const productPage: PageRenderer = (req, res, actionError) => renderProductPage(s, res, parse(productNumber, req.body.productNumber), actionError);

  r.post('/add', inContext('add', productPage, async (req, res) => {
    const form = parse(addForm, req.body);
    const shopper = shopperWithBasketCookie(req, res);
    const token = shopper.anonymousToken;
    await s.carts.addProduct(shopper, form.productId, form.quantity);
    if (shopper.anonymousToken && shopper.anonymousToken !== token) setBasketCookie(req, res, shopper.anonymousToken);
    flash(req, 'success', 'Added to your basket.');
    res.redirect(303, req.body.returnTo === 'product' && typeof req.body.productNumber === 'string' ? `/products/${encodeURIComponent(req.body.productNumber)}` : '/cart');
  }));

  // A refused quantity (stock, bad number) is shown by its line: `line-<id>`, as the page names the line's form.
  // A line not in this shopper's basket stays "not found" (never a hint whose it is).
  r.post('/lines/:id', inContext((req) => `line-${String(req.params.id)}`, basketPage, async (req, res) => {
    const form = parse(quantityForm, req.body);
    await s.carts.setQuantity(shopperOf(req), parse(idParam, req.params.id), form.quantity);
    flash(req, 'success', 'Quantity updated.');
    res.redirect(303, '/cart');
  }));

  r.post('/lines/:id/remove', async (req, res) => {
    await s.carts.removeLine(shopperOf(req), parse(idParam, req.params.id));
    flash(req, 'success', 'Line removed.');
    res.redirect(303, '/cart');
  });

  r.post('/empty', async (req, res) => {
    await s.carts.empty(shopperOf(req));
    flash(req, 'success', 'Your basket is empty.');
    res.redirect(303, '/cart');
  });

  return r;
}

