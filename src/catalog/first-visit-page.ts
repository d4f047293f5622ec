import type { RequestHandler } from 'express';
import type nunjucks from 'nunjucks';
import type { AnonymousCsrf } from '../http/anonymous-csrf';
import { FLASH_COOKIE } from '../http/flash';
import { BASKET_COOKIE, SESSION_COOKIE } from '../http/shopper';
import { TtlCache } from '../shared/ttl-cache';
import type { CatalogService } from './catalog.service';

const PRODUCT_NUMBER = /^[A-Za-z0-9-]{1,40}$/;
/** Stands for the visitor's CSRF token in a cached page; replaced per response. */
const TOKEN_SLOT = '__ANONYMOUS_CSRF_TOKEN__';

/**
 * A full-page cache for the product page of visitors with no session, no basket and no message yet (first visits, links from
 * search engines and ads): for them the page is the same for everyone but the CSRF token, so it is rendered once per
 * catalogCacheMs and served without touching the session store, passport or the database. Everyone else falls
 * through to the normal route. Mounted before the session middleware.
 */
export function firstVisitProductPage(catalog: CatalogService, views: nunjucks.Environment, csrf: AnonymousCsrf, cacheMs: number): RequestHandler {
  const pages = new TtlCache<string>(cacheMs);
  const render = async (number: string) => {
    const product = await catalog.product(number);
    const locals = { user: null, path: `/products/${number}`, csrfToken: TOKEN_SLOT, flash: [], basketCount: 0, contextDate: null };
    return views.render('catalog/product.njk', { ...locals, product });
  };
  return async (req, res, next) => {
    const number = req.params.number;
    if (req.cookies?.[SESSION_COOKIE] || req.cookies?.[BASKET_COOKIE] || req.cookies?.[FLASH_COOKIE] || typeof number !== 'string' || !PRODUCT_NUMBER.test(number)) return next();
    let html: string;
    try {
      html = await pages.get(number, () => render(number));
    } catch {
      return next(); // not found or not for sale: the normal route answers with its error page
    }
    res.set('Cache-Control', 'private, no-cache').type('html').send(html.split(TOKEN_SLOT).join(csrf.issue(req, res)));
  };
}
