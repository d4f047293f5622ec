import type { MikroORM } from '@mikro-orm/postgresql';
import { Router, type RequestHandler } from 'express';
import { flash, safeNext, shopperOf } from '../http/shopper';
import type { Services } from '../services';
import { DEFAULT_SHOP_ID } from './catalog.service';

const ORDER_TIME = /^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})$/;

/** `MM/dd/yyyy` (also with `.` or `-`) → `yyyy-MM-dd`, or null when it is not a real calendar date. */
export function parseOrderTime(value: string): string | null {
  const m = ORDER_TIME.exec(value.trim());
  if (!m) return null;
  const [month, day, year] = [Number(m[1]), Number(m[3]), Number(m[4])];
  if (year < 1900 || year > 9999) return null;
  const d = new Date(Date.UTC(year, month - 1, day));
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return null;
  return d.toISOString().slice(0, 10);
}

async function contextDatesAllowed(orm: MikroORM): Promise<boolean> {
  const [row] = await orm.em.execute<{ allow: boolean }[]>('select allow_context_dates as allow from shops where id = ?', [DEFAULT_SHOP_ID]);
  return row?.allow === true;
}

/**
 * A staff user visiting a storefront URL with `?OrderTime=MM/dd/yyyy` while the shop allows context dates keeps that
 * date in the session; their basket is then priced as of it. Everyone else's OrderTime is ignored. A stored date is
 * dropped when the shop no longer allows context dates. Sets `res.locals.contextDate` for the banner.
 */
export function contextDateMiddleware(orm: MikroORM, s: Services): RequestHandler {
  return async (req, res, next) => {
    if (req.user?.role !== 'staff') return next();
    const raw = req.query.OrderTime;
    const storefront = !req.path.startsWith('/admin') && !req.path.startsWith('/api/');
    if ((storefront && raw !== undefined) || req.session.contextDate) {
      if (!(await contextDatesAllowed(orm))) {
        if (req.session.contextDate) {
          delete req.session.contextDate;
          await s.carts.repriceForContextDate(shopperOf(req));
        }
      } else if (storefront && raw !== undefined) {
        const date = typeof raw === 'string' ? parseOrderTime(raw) : null;
        if (date) {
          if (date !== req.session.contextDate) {
            req.session.contextDate = date;
            await s.carts.repriceForContextDate(shopperOf(req));
          }
        } else flash(req, 'error', 'OrderTime must be a date written as MM/dd/yyyy (or with . or -), e.g. 12/24/2026. The context date was not changed.');
      }
    }
    res.locals.contextDate = req.session.contextDate ?? null;
    next();
  };
}

/** POST /context-date/clear: back to today's prices. */
export function contextDateRoutes(s: Services): Router {
  const r = Router();
  r.post('/context-date/clear', async (req, res) => {
    const had = req.session.contextDate != null;
    delete req.session.contextDate;
    if (had) await s.carts.repriceForContextDate(shopperOf(req));
    flash(req, 'success', 'Prices are shown as of today again.');
    res.redirect(303, safeNext(req.body?.next));
  });
  return r;
}
