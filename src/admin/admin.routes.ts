import { Router } from 'express';
import { z } from 'zod';
import { renderInvalid } from '../http/in-context';
import { requireStaff } from '../http/auth';
import { flash } from '../http/shopper';
import { idParam, parse } from '../http/validate';
import type { Services } from '../services';

const prefix = z.string().trim().regex(/^[A-Z0-9-]{1,20}$/, { error: 'must be 1–20 capital letters, digits or dashes' });
const shopSettingsForm = z.object({
  name: z.string().trim().min(1, { error: 'is required' }).max(120),
  orderPrefix: prefix,
  orderNextNumber: z.coerce.number({ error: 'must be a number' }).int({ error: 'must be a whole number' }).min(1).max(999_999_999),
  orderNumberPadding: z.coerce.number({ error: 'must be a number' }).int().min(0, { error: 'must be 0–12' }).max(12, { error: 'must be 0–12' }),
  cartPrefix: prefix,
  allowOutOfStockOrders: z.string().optional(),
  allowContextDates: z.string().optional(),
  vatOnOneLine: z.string().optional(),
});

export function adminRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);

  r.get('/', async (_req, res) => res.render('admin/dashboard.njk', { stats: await s.admin.dashboard() }));

  r.get('/shop-settings', s.staffRoles.writesNeed('settings.shop'), async (_req, res) => res.render('admin/shop-settings.njk', { shop: await s.admin.shopSettings() }));

  r.post('/shop-settings', s.staffRoles.writesNeed('settings.shop'), async (req, res) => {
    try {
      const form = parse(shopSettingsForm, req.body);
      await s.admin.updateShopSettings({ ...form, allowOutOfStockOrders: form.allowOutOfStockOrders === 'on', allowContextDates: form.allowContextDates === 'on', vatOnOneLine: form.vatOnOneLine === 'on' });
    } catch (e) {
      return renderInvalid(res, e, 'admin/shop-settings.njk', () => ({ shop: { ...req.body, allowOutOfStockOrders: req.body.allowOutOfStockOrders === 'on', allowContextDates: req.body.allowContextDates === 'on', vatOnOneLine: req.body.vatOnOneLine === 'on' } }));
    }
    flash(req, 'success', 'Shop settings saved.');
    res.redirect(303, '/admin/shop-settings');
  });

  r.get('/mail', async (_req, res) => {
    const [outbox, caught] = await Promise.all([s.admin.outbox(), s.admin.caughtMails()]);
    res.render('admin/mail.njk', { outbox, caught });
  });

  r.post('/mail/:id/resend', async (req, res) => {
    const msg = await s.admin.resend(parse(idParam, req.params.id));
    flash(req, 'success', `Mail ${msg.id} to ${msg.toAddress} is queued again.`);
    res.redirect(303, '/admin/mail');
  });

  r.get('/mail/caught/:id', async (req, res) => {
    res.render('admin/caught-mail.njk', { mail: await s.admin.caughtMail(parse(idParam, req.params.id)) });
  });

  return r;
}
