import { Router, type Request, type Response } from 'express';
import { z, type ZodType } from 'zod';
import { COUNTRIES } from '../shared/countries';
import { requireStaff } from '../http/auth';
import { toHttpProblem } from '../http/error-handler';
import { inContext, renderInvalid } from '../http/in-context';
import { flash } from '../http/shopper';
import { amount, checkbox, inputKey, MAX_AMOUNT_MINOR, ORDER_NUMBER, parse, quantity, requiredText, str, text } from '../http/validate';
import type { Services } from '../services';
import { DomainError, invalid, notFound } from '../shared/errors';
import { parseMoney } from '../shared/money';
import { FIELD_TARGETS, FIELD_TYPE_LABELS, FIELD_TYPES } from './order-edit.entities';
import { ADDRESS_LABELS } from './order-edit-form';
import type { LineChange, OrderEdit } from './order-edit.service';
import { ADDRESS_FIELDS, type Address } from './order.entities';
import { orderDetailsPage } from './order-details.page';

const SETTINGS = '/admin/settings/order-fields';
const orderUrl = (number: string) => `/admin/orders/${encodeURIComponent(number)}`;

const SYSTEM_NAME = /^[a-z][a-z0-9_]{1,40}$/;

const optionalQuantity = z.preprocess((v) => (v === undefined || v === '' ? undefined : v), quantity.optional());
const isEmail = (v: string) => z.email().safeParse(v).success;
/** Billing needs an e-mail (receipts and notifications go there); a separate delivery address only needs to be deliverable. */
const addressPart = (required: boolean, emailRequired = required): Record<string, ZodType> => {
  const need = (max: number) => (required ? str(max).pipe(z.string().min(1, { error: 'is required' })) : str(max));
  return {
    name: need(120), company: str(120), address: need(200), address2: str(200), zip: need(20), city: need(100),
    country: str(2).refine((v) => (!required && v === '') || /^[A-Z]{2}$/.test(v), { error: 'choose a country' }),
    region: str(60), phone: str(40),
    email: str(200).refine((v) => (!emailRequired && v === '') || isEmail(v), { error: 'must be an e-mail address, e.g. name@example.com' }),
  };
};

/** The order number in a URL; anything else is a page that does not exist. */
function orderNumberOf(raw: unknown): string {
  if (typeof raw !== 'string' || !ORDER_NUMBER.test(raw)) throw notFound('The order');
  return raw;
}
function idOf(raw: unknown, what = 'The page'): number {
  if (typeof raw !== 'string' || !/^[1-9][0-9]{0,8}$/.test(raw)) throw notFound(what);
  return Number(raw);
}

/** Parses with field errors keyed by the input names the form uses. */
function parseFlat<T>(schema: ZodType<T>, input: unknown): T {
  return parse(schema, input, { key: inputKey, message: () => 'Nothing was saved. Please check the marked fields.' });
}

/** Typed values of custom fields: `<prefix><system name>` inputs. */
function fieldInputs(body: Record<string, unknown>, prefix: string): Record<string, ZodType> {
  const shape: Record<string, ZodType> = {};
  for (const k of Object.keys(body)) if (k.startsWith(prefix) && SYSTEM_NAME.test(k.slice(prefix.length))) shape[k] = str(1000);
  return shape;
}
const valuesOf = (form: Record<string, unknown>, prefix: string) => Object.fromEntries(
  Object.entries(form).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), String(v)]),
);
/** Line ids present in the form (each line row has a quantity input, or at least a field input). */
function lineIds(body: Record<string, unknown>, suffix: RegExp): number[] {
  const ids = new Set<number>();
  for (const k of Object.keys(body)) {
    const m = /^line_([1-9][0-9]{0,14})_(.+)$/.exec(k);
    if (m && suffix.test(m[2])) ids.add(Number(m[1]));
  }
  if (ids.size > 500) throw invalid('The form has too many lines.');
  return [...ids];
}

/** The whole edit form → one OrderEdit. */
function parseEdit(body: Record<string, unknown>): OrderEdit {
  const ids = lineIds(body, /^(quantity|field_.+)$/);
  const shape: Record<string, ZodType> = {
    version: z.coerce.number({ error: 'is missing' }).int().min(1),
    addProductNumber: str(40), addQuantity: optionalQuantity, addUnitPrice: str(20), addDiscount: amount(false),
    orderDiscount: amount(false), removeVoucher: checkbox, note: str(500), deliverySameAsBilling: checkbox,
  };
  for (const id of ids) {
    if (`line_${id}_quantity` in body) {
      Object.assign(shape, {
        [`line_${id}_quantity`]: quantity, [`line_${id}_unitPrice`]: amount(true), [`line_${id}_discount`]: amount(false), [`line_${id}_remove`]: checkbox,
      });
    }
    Object.assign(shape, fieldInputs(body, `line_${id}_field_`));
  }
  const same = body.deliverySameAsBilling === 'on';
  for (const [f, schema] of Object.entries(addressPart(true))) shape[`billing_${f}`] = schema;
  for (const [f, schema] of Object.entries(addressPart(!same, false))) shape[`delivery_${f}`] = schema;
  Object.assign(shape, fieldInputs(body, 'order_field_'));
  const form = parseFlat(z.object(shape), body) as Record<string, any>;

  let addUnitPriceMinor: number | null = null;
  if (form.addUnitPrice !== '') {
    addUnitPriceMinor = parseMoney(form.addUnitPrice);
    if (addUnitPriceMinor == null || addUnitPriceMinor > MAX_AMOUNT_MINOR) throw invalid('Nothing was saved.', { addUnitPrice: 'must be an amount like 125.50, or empty for the catalog price' });
  }
  if (!form.addProductNumber && (form.addQuantity != null || form.addUnitPrice || form.addDiscount)) {
    throw invalid('Nothing was saved.', { addProductNumber: 'is needed to add a product' });
  }
  const address = (prefix: string) => Object.fromEntries(ADDRESS_FIELDS.map((f) => [f, form[`${prefix}_${f}`] ?? ''])) as Address;
  const lines: LineChange[] = ids.map((id) => {
    const has = `line_${id}_quantity` in form;
    return {
      lineId: id,
      ...(has ? { quantity: form[`line_${id}_quantity`], unitPriceMinor: form[`line_${id}_unitPrice`], discountMinor: form[`line_${id}_discount`], remove: form[`line_${id}_remove`] } : {}),
      fields: valuesOf(form, `line_${id}_field_`),
    };
  });
  return {
    expectedVersion: form.version,
    lines,
    add: form.addProductNumber ? { productNumber: form.addProductNumber.toUpperCase(), quantity: form.addQuantity ?? 1, unitPriceMinor: addUnitPriceMinor, discountMinor: form.addDiscount } : null,
    orderDiscountMinor: form.orderDiscount,
    removeVoucher: form.removeVoucher,
    addresses: { billing: address('billing'), deliverySameAsBilling: same, delivery: same ? address('billing') : address('delivery') },
    fields: valuesOf(form, 'order_field_'),
    note: form.note,
  };
}

/** The custom fields form on the details page → an OrderEdit touching only field values. */
function parseFieldValues(body: Record<string, unknown>): OrderEdit {
  const ids = lineIds(body, /^field_.+$/);
  const shape: Record<string, ZodType> = { version: z.coerce.number({ error: 'is missing' }).int().min(1), ...fieldInputs(body, 'order_field_') };
  for (const id of ids) Object.assign(shape, fieldInputs(body, `line_${id}_field_`));
  const form = parseFlat(z.object(shape), body) as Record<string, any>;
  return {
    expectedVersion: form.version,
    fields: valuesOf(form, 'order_field_'),
    lines: ids.map((id) => ({ lineId: id, fields: valuesOf(form, `line_${id}_field_`) })),
  };
}

const fieldForm = z.object({
  systemName: str(41).refine((v) => SYSTEM_NAME.test(v), { error: 'must start with a letter a–z and use only a–z, 0–9 and _ (2 to 41 characters), e.g. gift_message' }),
  name: requiredText(120),
  type: z.enum(FIELD_TYPES, { error: 'must be text, number, date, yes/no or e-mail' }),
  appliesTo: z.enum(FIELD_TARGETS, { error: 'must be the order or an order line' }),
  sortOrder: z.preprocess((v) => (v === '' || v === undefined ? 0 : v), z.coerce.number({ error: 'must be a whole number' }).int({ error: 'must be a whole number' }).min(0).max(9999, { error: 'must be at most 9999' })),
});
const fieldUpdateForm = fieldForm.pick({ name: true, sortOrder: true });
const compareQuery = z.object({ version: z.string().regex(/^[1-9][0-9]{0,8}$/).transform(Number), only: z.literal('changes').optional().catch(undefined) });

/** "Nothing was saved. Please check: Quantity of Chef knife must be at most 9999; …" — names as the form shows them. */
function summary(e: DomainError, labels: Record<string, string>): string {
  const entries = Object.entries(e.fields).filter(([k]) => k !== '_');
  if (!entries.length) return e.message;
  return `Nothing was saved. Please check: ${entries.map(([k, v]) => `${labels[k] ?? k} ${v}`).join('; ')}.`;
}

/** What was typed, to show the form again; unchecked boxes are absent from a form, so they are set explicitly. */
function typed(body: Record<string, unknown>, checkboxes: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body ?? {})) if (typeof v === 'string' && k !== '_csrf' && k !== 'version') out[k] = v;
  for (const c of checkboxes) out[c] = typeof body?.[c] === 'string' ? 'on' : '';
  return out;
}

/**
 * Mounted at /admin (before /admin/settings and /admin/orders): order editing, versions and compare under
 * /admin/orders/:number/…, custom order / order line fields under /admin/settings/order-fields. Staff only.
 */
export function orderEditRoutes(s: Services): Router {
  const r = Router();
  const edit = s.orderEdit;
  const fieldDefs = s.orderFields;

  // An order that may not be edited now (state, permission): the refusal is shown next to "Edit order" on its details page.
  const detailsPage = orderDetailsPage(s, 'order');

  // ---- the edit form ----

  type Shown = { refusal?: DomainError; values?: Record<string, string> };

  const renderEdit = async (req: Request, res: Response, number: string, shown: Shown = {}) => {
    const page = await edit.editPage(number, req.user!);
    const { refusal } = shown;
    res.status(refusal ? toHttpProblem(refusal).status : 200).render('admin/order-edit/edit.njk', {
      ...page, countries: COUNTRIES, countryCodes: COUNTRIES.map((c) => c.code), addressLabels: ADDRESS_LABELS, base: '/admin/orders',
      error: refusal ? summary(refusal, page.labels) : undefined, fields: refusal?.fields ?? {}, values: { ...page.values, ...(shown.values ?? {}) },
    });
  };

  r.get('/orders/:number/edit', requireStaff, inContext('edit', detailsPage, async (req, res) => renderEdit(req, res, orderNumberOf(req.params.number))));

  r.post('/orders/:number/edit', requireStaff, inContext('edit', detailsPage, async (req, res) => {
    const number = orderNumberOf(req.params.number);
    let result;
    try {
      result = await edit.save(number, parseEdit(req.body ?? {}), req.user!);
    } catch (e) {
      // Changed meanwhile: show the order as it is now (the other change), never the stale typed values over it.
      return renderInvalid(res, e, (refusal) => renderEdit(req, res, number, {
        refusal, values: refusal.code === 'CONFLICT' ? {} : typed(req.body, ['deliverySameAsBilling', 'removeVoucher']),
      }), ['VALIDATION', 'CONFLICT', 'INSUFFICIENT_STOCK']);
    }
    flash(req, 'success', result.versionNo ? `${number} saved as version ${result.versionNo}. Totals were recalculated; shipping and payment fees stay as charged.` : `${number}: nothing was changed, so no new version was made.`);
    res.redirect(303, orderUrl(number));
  }));

  // ---- custom field values alone (the "Additional information" box of the details page) ----

  // A refusal is shown in the box, by the fields, with what was typed (see orderDetailsPage).
  r.get('/orders/:number/edit/fields', requireStaff, (req, res) => res.redirect(303, `${orderUrl(orderNumberOf(req.params.number))}#additional-information`));

  r.post('/orders/:number/edit/fields', requireStaff, inContext('fields', detailsPage, async (req, res) => {
    const number = orderNumberOf(req.params.number);
    const result = await edit.save(number, parseFieldValues(req.body ?? {}), req.user!);
    flash(req, 'success', result.versionNo ? `${number}: additional information saved as version ${result.versionNo}.` : `${number}: nothing was changed.`);
    res.redirect(303, `${orderUrl(number)}#additional-information`);
  }));

  // ---- versions ----

  r.get('/orders/:number/versions', requireStaff, async (req, res) => {
    res.render('admin/order-edit/versions.njk', { ...(await edit.versions(orderNumberOf(req.params.number))), base: '/admin/orders' });
  });

  r.get('/orders/:number/versions/compare', requireStaff, async (req, res) => {
    const number = orderNumberOf(req.params.number);
    const q = compareQuery.safeParse(req.query);
    if (!q.success) throw notFound('That version');
    res.render('admin/order-edit/compare.njk', { ...(await edit.compare(number, q.data.version)), onlyChanges: q.data.only === 'changes', base: '/admin/orders' });
  });

  r.get('/orders/:number/versions/:no', requireStaff, async (req, res) => {
    const view = await edit.version(orderNumberOf(req.params.number), idOf(req.params.no, 'That version'));
    res.render('admin/order-edit/version.njk', { ...view, base: '/admin/orders' });
  });

  // ---- custom field definitions ----

  const renderFieldSettings = async (res: Response, status = 200, extra: Record<string, unknown> = {}) => {
    res.status(status).render('admin/order-edit/field-settings.njk', {
      defs: await fieldDefs.fieldDefinitions(), types: FIELD_TYPE_LABELS, values: { type: 'text', appliesTo: 'order' }, fields: {}, ...extra,
    });
  };

  // The fields are a shop setting: a role without 'settings.shop' sees them read-only, and its saves are refused.
  const fieldSettings = s.staffRoles.writesNeed('settings.shop');
  r.get('/settings/order-fields', requireStaff, fieldSettings, async (_req, res) => renderFieldSettings(res));

  r.post('/settings/order-fields', requireStaff, fieldSettings, async (req, res) => {
    let def;
    try {
      def = await fieldDefs.createField(parseFlat(fieldForm, req.body ?? {}));
    } catch (e) {
      return renderInvalid(res, e, (refusal, status) => renderFieldSettings(res, status, { error: summary(refusal, FIELD_LABELS), fields: refusal.fields, values: typed(req.body) }));
    }
    flash(req, 'success', `Added the ${def.appliesTo === 'line' ? 'order line' : 'order'} field “${def.name}”.`);
    res.redirect(303, SETTINGS);
  });

  const renderFieldEdit = async (res: Response, id: number, status = 200, extra: Record<string, unknown> = {}) => {
    const def = await fieldDefs.fieldDefinition(id);
    res.status(status).render('admin/order-edit/field-edit.njk', { def, types: FIELD_TYPE_LABELS, values: { name: def.name, sortOrder: String(def.sortOrder) }, fields: {}, ...extra });
  };

  r.get('/settings/order-fields/:id', requireStaff, fieldSettings, async (req, res) => renderFieldEdit(res, idOf(req.params.id, 'The field')));

  r.post('/settings/order-fields/:id', requireStaff, fieldSettings, async (req, res) => {
    const id = idOf(req.params.id, 'The field');
    let def;
    try {
      def = await fieldDefs.updateField(id, parseFlat(fieldUpdateForm, req.body ?? {}));
    } catch (e) {
      return renderInvalid(res, e, (refusal, status) => renderFieldEdit(res, id, status, { error: summary(refusal, FIELD_LABELS), fields: refusal.fields, values: typed(req.body) }));
    }
    flash(req, 'success', `Saved the field “${def.name}”.`);
    res.redirect(303, SETTINGS);
  });

  r.post('/settings/order-fields/:id/delete', requireStaff, fieldSettings, async (req, res) => {
    const def = await fieldDefs.deleteField(idOf(req.params.id, 'The field'));
    flash(req, 'success', `Deleted the field “${def.name}”. Values already stored on orders are kept, but no longer shown as a field.`);
    res.redirect(303, SETTINGS);
  });

  return r;
}

const FIELD_LABELS: Record<string, string> = { systemName: 'System name', name: 'Name', type: 'Type', appliesTo: 'Applies to', sortOrder: 'Position' };
