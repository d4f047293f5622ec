import { Router } from 'express';
import { z } from 'zod';
import { parse, productNumber, text } from '../http/validate';
import type { Services } from '../services';

const listQuery = z.object({
  group: z.string().regex(/^[a-z0-9-]{1,60}$/, { error: 'is not a product group' }).optional(),
  q: text(100).optional(),
  page: z.coerce.number().int().min(1).max(100000).catch(1).default(1),
});

export function catalogRoutes(s: Services): Router {
  const r = Router();

  r.get('/', async (req, res) => {
    const query = parse(listQuery, req.query);
    const [result, groups] = await Promise.all([s.catalog.list({ groupSlug: query.group, search: query.q || undefined, page: query.page, day: res.locals.contextDate }), s.catalog.groups()]);
    res.render('catalog/list.njk', { ...result, groups, query });
  });

  r.get('/products/:number', async (req, res) => {
    const number = parse(productNumber, req.params.number);
    res.render('catalog/product.njk', { product: await s.catalog.product(number, res.locals.contextDate) });
  });

  return r;
}
