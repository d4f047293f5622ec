import { Router, type Response } from 'express';
import { z } from 'zod';
import { requireStaff } from '../http/auth';
import { renderInvalid } from '../http/in-context';
import { flash } from '../http/shopper';
import { idParam, parse, requiredText, text } from '../http/validate';
import type { Services } from '../services';
import { notFound } from '../shared/errors';
import { htmlToText } from './outbox.service';
import { SAMPLE_DATA, SANDBOX_FILTERS } from './mail-templates';

export const MAIL_TEMPLATES_PATH = '/admin/settings/mail-templates';

const body = text(100_000).min(1, { error: 'is required' });
const templateForm = z.object({ name: requiredText(120), body });
/** "Preview" needs only the template, so a new one can be tried before it has a name. */
const previewForm = z.object({ body });

function idOf(raw: unknown): number {
  const r = typeof raw === 'string' && /^\d{1,10}$/.test(raw) ? idParam.safeParse(raw) : null;
  if (!r?.success) throw notFound('The mail template');
  return r.data;
}

/**
 * /admin/settings/mail-templates: staff write notification templates (Nunjucks, rendered in a sandbox with the order's
 * data only), check them on save with the error next to the field, and preview them with a sample order.
 */
export function mailTemplateRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);
  r.use(s.staffRoles.writesNeed('settings.shop'));

  const help = { variables: JSON.stringify(SAMPLE_DATA, null, 2), filters: SANDBOX_FILTERS.join(', ') };
  const renderForm = (res: Response, status: number, extra: Record<string, unknown>) =>
    res.status(status).render('admin/settings/mail-template.njk', { ...help, fields: {}, ...extra });
  const previewOf = (body: string) => {
    const { html } = s.mailTemplates.preview(body);
    return { html, text: htmlToText(html) };
  };

  r.get('/', async (_req, res) => res.render('admin/settings/mail-templates.njk', { templates: await s.mailTemplates.list() }));

  r.get('/new', (_req, res) => renderForm(res, 200, { template: null, values: { name: '', body: STARTER } }));

  r.get('/:id', async (req, res) => {
    const template = await s.mailTemplates.find(idOf(req.params.id));
    renderForm(res, 200, { template, values: template, preview: previewOf(template.body) });
  });

  /** Save (checked first) or only preview what was typed; a refusal shows the form again with the message by the field. */
  const saveOrPreview = (id: number | null) => async (req: import('express').Request, res: Response) => {
    const template = id == null ? null : await s.mailTemplates.find(id);
    const values = { name: String(req.body?.name ?? ''), body: String(req.body?.body ?? '') };
    let saved;
    try {
      if (req.body?.action === 'preview') return renderForm(res, 200, { template, values, preview: previewOf(parse(previewForm, req.body).body) });
      saved = await s.mailTemplates.save(id, parse(templateForm, req.body));
    } catch (e) {
      return renderInvalid(res, e, (refusal, status) => renderForm(res, status, { template, values, error: refusal.message, fields: refusal.fields }), ['VALIDATION', 'CONFLICT']);
    }
    flash(req, 'success', `Saved the mail template “${saved.name}”.`);
    res.redirect(303, `${MAIL_TEMPLATES_PATH}/${saved.id}`);
  };
  r.post('/', saveOrPreview(null));
  r.post('/:id', async (req, res) => saveOrPreview(idOf(req.params.id))(req, res));

  r.post('/:id/delete', async (req, res) => {
    const deleted = await s.mailTemplates.delete(idOf(req.params.id));
    flash(req, 'success', `Deleted the mail template “${deleted.name}”.`);
    res.redirect(303, MAIL_TEMPLATES_PATH);
  });

  return r;
}

const STARTER = `<h1>{{ subject }}</h1>
<p>Hello {{ order.billingName or 'there' }},</p>
<p>Your {{ order.type }} <strong>{{ order.number }}</strong> is now <strong>{{ state.name }}</strong>.</p>
<ul>{% for l in lines %}<li>{{ l.quantity }} × {{ l.productName }}</li>{% endfor %}</ul>
{% if totals %}<p>Total: {{ totals.totalMinor | money(order.currencyCode) }}</p>{% endif %}
`;
