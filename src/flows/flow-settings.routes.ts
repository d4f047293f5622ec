import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { requireStaff } from '../http/auth';
import { renderInvalid } from '../http/in-context';
import { flash } from '../http/shopper';
import { idParam, parse, requiredText, text } from '../http/validate';
import { htmlToText } from '../mail/outbox.service';
import type { Services } from '../services';
import { DomainError, notFound } from '../shared/errors';
import { RULE_ACTOR_LABELS, RULE_ACTORS } from './flow.entities';
import { DEFAULT_STATE_TEMPLATE, SUBJECT_PLACEHOLDERS } from './flow.service';
import { FLOW_TYPE_LABELS, FLOW_TYPES, type StateInput } from './flow-settings.service';

const BASE = '/admin/settings';

/** A checkbox is sent as "on" when checked and not at all when not. */
const checkbox = z.unknown().optional().transform((v) => v === 'on' || v === 'true' || v === '1');
const optional = (max: number) => text(max).default('');
const isEmail = (v: string) => z.email().safeParse(v).success;

const flowForm = z.object({ name: requiredText(120), description: optional(2000), isDefault: checkbox });
const newFlowForm = flowForm.extend({ type: z.enum(FLOW_TYPES, { error: 'must be cart, order, quote or return' }) });

const color = z.string().trim().transform((v, ctx) => {
  if (/^#[0-9a-f]{6}$/i.test(v)) return v.toLowerCase();
  ctx.addIssue({ code: 'custom', message: `must be # and six hex digits, e.g. #1d4ed8 (“${v.slice(0, 20)}” is not)` });
  return z.NEVER;
});

const subject = optional(250).superRefine((v, ctx) => {
  const unknown = [...v.matchAll(/\{[^{}]*\}/g)].map((m) => m[0]).filter((p) => !(p in SUBJECT_PLACEHOLDERS));
  if (unknown.length) ctx.addIssue({ code: 'custom', message: `uses ${unknown.join(', ')}, which is not one of the placeholders listed` });
});

const senderName = optional(120).refine((v) => !/["<>\r\n]/.test(v), { error: 'must not contain quotes, < or >' });
const senderEmail = optional(200).refine((v) => v === '' || isEmail(v), { error: 'must be an e-mail address, e.g. shop@example.com' });
const templateName = optional(200);
/** One of the defined order fields, chosen from a select; the service refuses names that are not defined. */
const fieldName = optional(64);

/** "Send to others": e-mails separated by commas, semicolons or new lines; each one must be an e-mail. */
const recipients = optional(4000).transform((v, ctx) => {
  const list = [...new Set(v.split(/[\s,;]+/).filter(Boolean))];
  const bad = list.filter((a) => !isEmail(a));
  if (bad.length) {
    ctx.addIssue({ code: 'custom', message: `contains ${bad.slice(0, 3).map((b) => `“${b.slice(0, 60)}”`).join(', ')}, which ${bad.length === 1 ? 'is not an e-mail address' : 'are not e-mail addresses'}` });
    return z.NEVER;
  }
  if (list.length > 50) {
    ctx.addIssue({ code: 'custom', message: 'may list at most 50 addresses' });
    return z.NEVER;
  }
  return list;
});

/** The checked "May move to" boxes: none, one or many state ids. */
const stateIds = z.unknown().optional().transform((v, ctx) => {
  const list = v == null || v === '' ? [] : Array.isArray(v) ? v : [v];
  if (list.length > 500 || list.some((x) => typeof x !== 'string' || !/^[1-9][0-9]{0,8}$/.test(x))) {
    ctx.addIssue({ code: 'custom', message: 'contains something that is not a state' });
    return z.NEVER;
  }
  return [...new Set(list.map(Number))];
});

const stateForm = z.object({
  name: requiredText(120),
  description: optional(2000),
  isDefault: checkbox,
  excludeFromStatistics: checkbox,
  color,
  allowEdit: checkbox,
  allowOrder: checkbox,
  deleted: checkbox,
  mailSubject: subject,
  mailSenderName: senderName,
  mailSenderEmail: senderEmail,
  mailTemplate: templateName,
  sendToBillingEmail: checkbox,
  sendToDeliveryEmail: checkbox,
  sendToField: checkbox,
  customRecipientField: fieldName,
  othersRecipients: recipients,
  othersTemplate: templateName,
  mayMoveTo: stateIds,
  role: z.preprocess((v) => (v === '' || v == null ? null : v), z.string().max(20).nullable()),
  final: checkbox,
  moveActors: z.record(z.string().regex(/^\d{1,10}$/), z.array(z.enum(RULE_ACTORS, { error: 'is not one of the listed customers' })).max(RULE_ACTORS.length))
    .transform((r) => Object.fromEntries(Object.entries(r).map(([id, actors]) => [Number(id), [...new Set(actors)]]))).default({}),
}).superRefine((v, ctx) => {
  if (v.sendToField && !v.customRecipientField) {
    ctx.addIssue({ code: 'custom', path: ['customRecipientField'], message: 'is needed when “Send to the e-mail in an order field” is checked' });
  }
}) satisfies z.ZodType<StateInput>;

const moveForm = z.object({ direction: z.enum(['up', 'down'], { error: 'must be up or down' }) });
const previewQuery = z.object({ template: z.string().max(200).default(DEFAULT_STATE_TEMPLATE), stateId: idParam.optional() });
const newFlowQuery = z.object({ type: z.enum(FLOW_TYPES).optional().catch(undefined) });

/** An id in the URL; anything that is not one is simply a page that does not exist. */
function idOf(raw: unknown): number {
  const r = typeof raw === 'string' && /^\d{1,10}$/.test(raw) ? idParam.safeParse(raw) : null;
  if (!r?.success) throw notFound('The page');
  return r.data;
}

/** The labels the forms show, so the summary at the top names fields the way the page does. */
const LABELS: Record<string, string> = {
  type: 'Type', name: 'Name', description: 'Description', isDefault: 'Default', color: 'Colour', deleted: 'Deleted',
  mailSubject: 'Subject', mailSenderName: 'Sender name', mailSenderEmail: 'Sender e-mail', mailTemplate: 'Template for the customer',
  customRecipientField: 'Order field', othersRecipients: 'Other recipients', othersTemplate: 'Template for others', mayMoveTo: 'May move to',
  role: 'Role', final: 'Final',
};

/** The refusals a form shows next to what was typed (validation or a business rule), not a missing record. */
const FORM_REFUSALS = ['VALIDATION', 'CONFLICT'] as const;

/** A validation refusal's message names the fields the way the form does; a business rule's message stays as it is. */
function messageOf(e: DomainError): string {
  const entries = Object.entries(e.fields);
  if (e.code !== 'VALIDATION' || !entries.length) return e.message;
  return `Nothing was saved. Please check: ${entries.map(([k, v]) => `${LABELS[k] ?? k} ${v}`).join('; ')}.`;
}

/** What was typed, to show the form again: plain strings only, and the checked boxes as strings. */
function typed(body: Record<string, unknown>): { values: Record<string, string>; selected: string[]; actors: Record<string, string[]> } {
  const values: Record<string, string> = {};
  for (const [k, v] of Object.entries(body ?? {})) if (typeof v === 'string' && k !== '_csrf') values[k] = v;
  const raw = body?.mayMoveTo;
  const selected = (Array.isArray(raw) ? raw : raw == null ? [] : [raw]).filter((x): x is string => typeof x === 'string');
  return { values, selected, actors: moveActorsOf(body) };
}

/** The "who may make this move" boxes arrive as actors_<target state id> (one or several values). */
function moveActorsOf(body: Record<string, unknown>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(body ?? {})) {
    const id = /^actors_(\d{1,10})$/.exec(k)?.[1];
    if (id) out[id] = (Array.isArray(v) ? v : [v]).map(String);
  }
  return out;
}

const stateInput = (body: Record<string, unknown>) => parse(stateForm, { ...body, moveActors: moveActorsOf(body) });

/**
 * /admin/settings: staff pages for flows, their states, "May move to" rules and notifications.
 * Thin: parse → one service call → redirect with a flash, or show the form again with what was typed.
 */
export function flowSettingsRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);
  r.use(s.staffRoles.writesNeed('settings.flows'));

  const renderFlow = async (res: Response, flowId: number, status = 200, extra: Record<string, unknown> = {}) => {
    const page = await s.flowSettings.flowPage(flowId);
    res.status(status).render('admin/settings/flow.njk', { ...page, values: page.flow, fields: {}, ...extra });
  };

  const renderState = async (res: Response, flowId: number, stateId: number | undefined, status = 200, extra: Record<string, unknown> = {}) => {
    const editor = await s.flowSettings.stateEditor(flowId, stateId);
    const values = editor.state ?? { color: '#6b7280', allowOrder: true, allowEdit: false };
    res.status(status).render('admin/settings/state.njk', { ...editor, values, selected: editor.selected.map(String), actors: editor.actors, actorLabels: RULE_ACTOR_LABELS, fields: {}, ...extra });
  };

  r.get('/', (_req, res) => res.redirect(`${BASE}/flows`));

  r.get('/flows', async (_req, res) => {
    res.render('admin/settings/flows.njk', { groups: await s.flowSettings.listFlows(), templates: s.flowSettings.mailTemplates() });
  });

  r.get('/flows/new', (req, res) => {
    const q = parse(newFlowQuery, req.query);
    res.render('admin/settings/flow-new.njk', { types: FLOW_TYPE_LABELS, values: { type: q.type ?? 'order' }, fields: {} });
  });

  r.post('/flows', async (req, res) => {
    let flow;
    try {
      flow = await s.flowSettings.createFlow(parse(newFlowForm, req.body));
    } catch (e) {
      return renderInvalid(res, e, (refusal) => res.render('admin/settings/flow-new.njk', { types: FLOW_TYPE_LABELS, ...typed(req.body), error: messageOf(refusal), fields: refusal.fields }), FORM_REFUSALS);
    }
    flash(req, 'success', `Created “${flow.name}”. Now add its states.`);
    res.redirect(303, `${BASE}/flows/${flow.id}`);
  });

  r.get('/flows/:flowId', async (req, res) => renderFlow(res, idOf(req.params.flowId)));

  r.post('/flows/:flowId', async (req, res) => {
    const flowId = idOf(req.params.flowId);
    let flow;
    try {
      flow = await s.flowSettings.updateFlow(flowId, parse(flowForm, req.body));
    } catch (e) {
      return renderInvalid(res, e, (refusal, status) => renderFlow(res, flowId, status, { values: typed(req.body).values, error: messageOf(refusal), fields: refusal.fields }), FORM_REFUSALS);
    }
    flash(req, 'success', `Saved “${flow.name}”.`);
    res.redirect(303, `${BASE}/flows/${flow.id}`);
  });

  r.post('/flows/:flowId/delete', async (req, res) => {
    const flowId = idOf(req.params.flowId);
    let deleted;
    try {
      deleted = await s.flowSettings.deleteFlow(flowId);
    } catch (e) {
      return renderInvalid(res, e, (refusal, status) => renderFlow(res, flowId, status, { error: messageOf(refusal) }), FORM_REFUSALS);
    }
    const note = deleted.companies ? ` ${deleted.companies} ${deleted.companies === 1 ? 'company that used it now uses' : 'companies that used it now use'} the default cart flow.` : '';
    flash(req, 'success', `Deleted “${deleted.name}” with its states and rules.${note}`);
    res.redirect(303, `${BASE}/flows`);
  });

  r.get('/flows/:flowId/states/new', async (req, res) => renderState(res, idOf(req.params.flowId), undefined));

  r.post('/flows/:flowId/states', async (req, res) => {
    const flowId = idOf(req.params.flowId);
    let state;
    try {
      state = await s.flowSettings.createState(flowId, stateInput(req.body));
    } catch (e) {
      return renderInvalid(res, e, (refusal, status) => renderState(res, flowId, undefined, status, { ...typed(req.body), error: messageOf(refusal), fields: refusal.fields }), FORM_REFUSALS);
    }
    flash(req, 'success', `Added the state “${state.name}”.`);
    res.redirect(303, `${BASE}/flows/${flowId}`);
  });

  r.get('/flows/:flowId/states/:stateId', async (req, res) => renderState(res, idOf(req.params.flowId), idOf(req.params.stateId)));

  r.post('/flows/:flowId/states/:stateId', async (req, res) => {
    const flowId = idOf(req.params.flowId);
    const stateId = idOf(req.params.stateId);
    let state;
    try {
      state = await s.flowSettings.updateState(flowId, stateId, stateInput(req.body));
    } catch (e) {
      return renderInvalid(res, e, (refusal, status) => renderState(res, flowId, stateId, status, { ...typed(req.body), error: messageOf(refusal), fields: refusal.fields }), FORM_REFUSALS);
    }
    flash(req, 'success', `Saved the state “${state.name}”.`);
    res.redirect(303, `${BASE}/flows/${flowId}/states/${stateId}`);
  });

  r.post('/flows/:flowId/states/:stateId/move', async (req, res) => {
    const flowId = idOf(req.params.flowId);
    const { direction } = parse(moveForm, req.body);
    const { state, moved } = await s.flowSettings.moveState(flowId, idOf(req.params.stateId), direction);
    flash(req, 'success', moved ? `Moved “${state.name}” ${direction}.` : `“${state.name}” is already ${direction === 'up' ? 'first' : 'last'}.`);
    res.redirect(303, `${BASE}/flows/${flowId}#states`);
  });

  const setDeleted = (deleted: boolean) => async (req: Request, res: Response) => {
    const flowId = idOf(req.params.flowId);
    let state;
    try {
      state = await s.flowSettings.setStateDeleted(flowId, idOf(req.params.stateId), deleted);
    } catch (e) {
      return renderInvalid(res, e, (refusal, status) => renderFlow(res, flowId, status, { error: messageOf(refusal) }), FORM_REFUSALS);
    }
    flash(req, 'success', deleted
      ? `Deleted “${state.name}”: it stays in the history and on records already in it, but can no longer be entered.`
      : `Restored “${state.name}”: it can be entered again.`);
    res.redirect(303, `${BASE}/flows/${flowId}#states`);
  };
  r.post('/flows/:flowId/states/:stateId/delete', setDeleted(true));
  r.post('/flows/:flowId/states/:stateId/restore', setDeleted(false));

  r.get('/templates/preview', async (req, res) => {
    const q = parse(previewQuery, req.query);
    const preview = await s.flowSettings.templatePreview(q.template, q.stateId);
    const html = s.views.render(preview.template, preview.context);
    res.render('admin/settings/template-preview.njk', { ...preview, html, text: htmlToText(html) });
  });

  return r;
}
