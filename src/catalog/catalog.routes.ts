import { Router, type Response } from 'express';
import type { ActionError } from '../http/in-context';
import { z } from 'zod';
import { parse, productNumber, text } from '../http/validate';
import { notFound } from '../shared/errors';
import type { Services } from '../services';

const listQuery = z.object({
  group: z.string().regex(/^[a-z0-9-]{1,60}$/, { error: 'is not a product group' }).optional(),
  // A search longer than the box allows (a typed or pasted address) searches its first 100 characters.
  q: z.preprocess((q) => (typeof q === 'string' ? q.trim().slice(0, 100) : q), text(100)).optional(),
  page: z.coerce.number().int().min(1).max(100000).catch(1).default(1),
});

/** The product page: its one render, for the page itself and for an add refused from it (src/cart/cart.routes.ts). */
export async function renderProductPage(s: Services, res: Response, number: string, actionError?: ActionError): Promise<void> {
  res.render('catalog/product.njk', { product: await s.catalog.product(number, res.locals.contextDate), actionError });
}

export function catalogRoutes(s: Services): Router {
  const r = Router();

  r.get('/', async (req, res) => {
    const query = parse(listQuery, req.query);
    const [result, groups] = await Promise.all([s.catalog.list({ groupSlug: query.group, search: query.q || undefined, page: query.page, day: res.locals.contextDate }), s.catalog.groups()]);
    res.render('catalog/list.njk', { ...result, groups, query });
  });

  r.get('/products/:number', async (req, res) => {
    // An address, not a form: a number that cannot be a product's is a product not found.
    const number = productNumber.safeParse(req.params.number);
    if (!number.success) throw notFound('The product');
    await renderProductPage(s, res, number.data);
  });

  return r;
}
