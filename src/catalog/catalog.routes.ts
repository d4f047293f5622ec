import { Router, type Response } from 'express';
import type { ActionError } from '../http/in-context';
import { z } from 'zod';
import { parse, productNumber, text } from '../http/validate';
import type { Services } from '../services';

const listQuery = z.object({
  group: z.string().regex(/^[a-z0-9-]{1,60}$/, { error: 'is not a product group' }).optional(),
  q: text(100).optional(),
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
    await renderProductPage(s, res, parse(productNumber, req.params.number));
  });

  return r;
}
