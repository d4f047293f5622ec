import type { RequestHandler } from 'express';
import type nunjucks from 'nunjucks';
import type { AnonymousCsrf } from '../http/anonymous-csrf';
import type { BasketCountCookie } from '../http/basket-count';
import { FLASH_COOKIE } from '../http/flash';
import { SESSION_COOKIE, shopperOf } from '../http/shopper';
import type { Shopper } from '../shared/shopper';
import { TtlCache } from '../shared/ttl-cache';
import type { CatalogService } from './catalog.service';

const PRODUCT_NUMBER = /^[A-Za-z0-9-]{1,40}$/;
/** Stands for the visitor's CSRF token in a cached page; replaced per response. */
const TOKEN_SLOT = '__ANONYMOUS_CSRF_TOKEN__';

/**
 * A page cache for the product page of guests without a session and without a message to show: first visits
 * (links from search engines and ads) and returning guests with a basket. For them the page is the same for everyone
 * but the CSRF token (the signed double-submit token, no session) and the header's basket count, so it is rendered once
 * per product and count per catalogCacheMs, and served without touching the session store, passport or the ORM; the
 * count is the header's one rule (BasketCountCookie: the cookie's, else one query). Everyone else — a session (a
 * login, a placed order, a staff context date), a flash message — falls through to the normal route. Mounted before
 * the session middleware.
 */
export function firstVisitProductPage(
  catalog: CatalogService, views: nunjucks.Environment, csrf: AnonymousCsrf, basketCount: BasketCountCookie,
  itemCount: (shopper: Shopper) => Promise<number>, cacheMs: number,
): RequestHandler {
  // A page is kept cut at its token slots: each response joins the pieces with the visitor's token.
  const pages = new TtlCache<string[]>(cacheMs);
  const render = async (number: string, count: number) => {
    const product = await catalog.product(number);
    const locals = { user: null, path: `/products/${number}`, csrfToken: TOKEN_SLOT, flash: [], basketCount: count, contextDate: null };
    return views.render('catalog/product.njk', { ...locals, product }).split(TOKEN_SLOT);
  };
  return async (req, res, next) => {
    const number = req.params.number;
    if (req.cookies?.[SESSION_COOKIE] || req.cookies?.[FLASH_COOKIE] || typeof number !== 'string' || !PRODUCT_NUMBER.test(number)) return next();
    const known = basketCount.count(req, res, () => itemCount(shopperOf(req)));
    const count = typeof known === 'number' ? known : await known;
    if (count === undefined) return next(); // the count could not be read: the normal route shows the plain basket link
    let pieces: string[];
    try {
      pieces = await pages.get(`${number}#${count}`, () => render(number, count));
    } catch {
      return next(); // not found or not for sale: the normal route answers with its error page
    }
    res.set('Cache-Control', 'private, no-cache').type('html').send(pieces.join(csrf.issue(req, res)));
  };
}
