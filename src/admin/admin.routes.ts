import { Router } from 'express';
import { requireStaff } from '../http/auth';
import { flash } from '../http/shopper';
import { idParam, parse } from '../http/validate';
import type { Services } from '../services';

export function adminRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);

  r.get('/', async (_req, res) => res.render('admin/dashboard.njk', { stats: await s.admin.dashboard() }));

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
