import { Router, type RequestHandler, type Response } from 'express';
import multer from 'multer';
import { z } from 'zod';
import { requireStaff } from '../http/auth';
import { renderInvalid } from '../http/in-context';
import { flash } from '../http/shopper';
import { amount, checkbox, day, idParam, parse, str, text } from '../http/validate';
import type { Services } from '../services';
import { invalid } from '../shared/errors';
import type { ProductInput } from './catalog-admin.service';
import { ACCEPTED_TYPES, MAX_UPLOAD_BYTES, tooLarge } from './product-images';
import { STAFF_STOCK_REASONS, STOCK_REASON_LABELS } from '../stock/stock';

const PRODUCT_NUMBER = /^[A-Za-z0-9-]{1,40}$/;
const STAFF_REASON_OPTIONS = STAFF_STOCK_REASONS.map((code) => ({ code, label: STOCK_REASON_LABELS[code] }));
const productNumber = z.string().regex(PRODUCT_NUMBER, { error: 'is not a product number' });
const productUrl = (number: string) => `/admin/products/${encodeURIComponent(number)}`;

const listQuery = z.object({
  q: text(100).optional().catch(undefined),
  page: z.coerce.number().int().min(1).max(100000).catch(1).default(1),
});

/** "25", "12.5" or "12,5" (%) → basis points. */
const vatRate = str(6).transform((v, ctx) => {
  const m = /^(\d{1,3})(?:[.,](\d{1,2}))?$/.exec(v);
  const bp = m ? Number(m[1]) * 100 + Number((m[2] ?? '0').padEnd(2, '0')) : NaN;
  if (!(bp <= 10000)) ctx.addIssue({ code: 'custom', message: v === '' ? 'is required' : 'must be a percentage from 0 to 100, like 25 or 12.5' });
  return bp;
});

const productForm = z.object({
  number: str(40).pipe(z.string().min(1, { error: 'is required' }).regex(PRODUCT_NUMBER, { error: 'may only hold letters, digits and dashes' })),
  name: str(200).pipe(z.string().min(1, { error: 'is required' })),
  description: str(2000),
  groupId: z.coerce.number({ error: 'is required' }).int().positive({ error: 'is required' }),
  price: amount(true),
  vatRate,
  unit: str(20).pipe(z.string().min(1, { error: 'is required' })),
  active: checkbox,
});

const stockForm = z.object({
  locationId: idParam,
  change: z.coerce.number({ error: 'must be a whole number like 5 or -3' }).int({ error: 'must be a whole number like 5 or -3' })
    .min(-100000, { error: 'must be between -100000 and 100000' }).max(100000, { error: 'must be between -100000 and 100000' })
    .refine((n) => n !== 0, { error: 'must not be 0' }),
  reason: z.enum(STAFF_STOCK_REASONS, { error: 'is not a reason staff can choose' }),
  note: str(200),
});

const priceForm = z.object({
  validFrom: day('valid from'),
  validTo: z.preprocess((v) => (v === '' || v === undefined ? null : v), day('valid to').nullable()),
  datedPrice: amount(true),
});

/** The product form's typed values, to show again after a refusal. */
function formValues(body: Record<string, unknown>) {
  return { ...body, active: body.active === 'on', groupId: Number(body.groupId) || null };
}

const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_UPLOAD_BYTES, files: 1, fields: 5, fieldSize: 4096 } });

/**
 * Reads the multipart body of an image upload (its `_csrf` field included) before the CSRF check, for staff only.
 * A file over the size limit is not an error page: the route shows the message on the product page.
 */
export const productImageUpload: RequestHandler = (req, res, next) => {
  if (req.user?.role !== 'staff') return next();
  upload.single('image')(req, res, (err?: unknown) => {
    if (err instanceof multer.MulterError) res.locals.uploadError = err.code === 'LIMIT_FILE_SIZE' ? tooLarge() : invalid('Upload one image file.', { image: 'must be one file' });
    else if (err) return next(err);
    next();
  });
};

export function catalogAdminRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);

  /** What the product page shows: the product with its stock, movements, prices and image, and the form choices. */
  async function productPage(number: string) {
    const [view, groups] = await Promise.all([s.catalogAdmin.product(number), s.catalogAdmin.groups()]);
    return { ...view, groups, reasons: STAFF_REASON_OPTIONS, accept: ACCEPTED_TYPES };
  }

  /** The product page again with a refusal next to the form it came from and that form's typed values. */
  async function renderRefusal(res: Response, number: string, form: string, e: unknown, values: Record<string, unknown> = {}) {
    await renderInvalid(res, e, async (refusal) => res.render('admin/catalog/product.njk', {
      ...(await productPage(number)), refused: { form, message: refusal.message, fields: refusal.fields, values },
    }), ['VALIDATION', 'CONFLICT', 'INSUFFICIENT_STOCK']);
  }

  r.get('/', async (req, res) => {
    const query = parse(listQuery, req.query);
    res.render('admin/catalog/list.njk', { ...(await s.catalogAdmin.list({ search: query.q || undefined, page: query.page })), query });
  });

  r.get('/new', async (_req, res) => {
    res.render('admin/catalog/new.njk', { groups: await s.catalogAdmin.groups(), values: { active: true, unit: 'pcs', vatRate: '25' } });
  });

  r.post('/', async (req, res) => {
    let product;
    try {
      product = await s.catalogAdmin.create(toInput(parse(productForm, req.body)));
    } catch (e) {
      return renderInvalid(res, e, 'admin/catalog/new.njk', async () => ({ groups: await s.catalogAdmin.groups(), values: formValues(req.body) }), ['VALIDATION', 'CONFLICT']);
    }
    flash(req, 'success', `Product ${product.number} created.`);
    res.redirect(303, productUrl(product.number));
  });

  r.get('/:number', async (req, res) => {
    res.render('admin/catalog/product.njk', await productPage(parse(productNumber, req.params.number)));
  });

  r.post('/:number', async (req, res) => {
    const number = parse(productNumber, req.params.number);
    let product;
    try {
      product = await s.catalogAdmin.update(number, toInput(parse(productForm, req.body)));
    } catch (e) {
      return renderRefusal(res, number, 'product', e, formValues(req.body));
    }
    flash(req, 'success', `Product ${product.number} saved.`);
    res.redirect(303, productUrl(product.number));
  });

  r.post('/:number/stock', async (req, res) => {
    const number = parse(productNumber, req.params.number);
    let level: number;
    try {
      level = await s.catalogAdmin.adjustStock(number, parse(stockForm, req.body), req.user!.id);
    } catch (e) {
      return renderRefusal(res, number, 'stock', e, req.body);
    }
    flash(req, 'success', `Stock adjusted; the location now holds ${level}.`);
    res.redirect(303, `${productUrl(number)}#stock`);
  });

  r.post('/:number/prices', async (req, res) => {
    const number = parse(productNumber, req.params.number);
    try {
      const form = parse(priceForm, req.body);
      await s.catalogAdmin.addPrice(number, { validFrom: form.validFrom, validTo: form.validTo, priceMinor: form.datedPrice });
    } catch (e) {
      return renderRefusal(res, number, 'prices', e, req.body);
    }
    flash(req, 'success', 'Dated price added.');
    res.redirect(303, `${productUrl(number)}#prices`);
  });

  r.post('/:number/prices/delete', async (req, res) => {
    const number = parse(productNumber, req.params.number);
    await s.catalogAdmin.removePrice(number, parse(z.object({ validFrom: day('valid from') }), req.body).validFrom);
    flash(req, 'success', 'Dated price removed.');
    res.redirect(303, `${productUrl(number)}#prices`);
  });

  r.post('/:number/image', async (req, res) => {
    const number = parse(productNumber, req.params.number);
    const alt = { alt: typeof req.body?.alt === 'string' ? req.body.alt : '' };
    try {
      if (res.locals.uploadError) throw res.locals.uploadError;
      const form = parse(z.object({ alt: str(200) }), alt);
      await s.catalogAdmin.setImage(number, req.file?.buffer ?? Buffer.alloc(0), form.alt);
    } catch (e) {
      return renderRefusal(res, number, 'image', e, alt);
    }
    flash(req, 'success', 'Image saved.');
    res.redirect(303, `${productUrl(number)}#image`);
  });

  r.post('/:number/image/delete', async (req, res) => {
    const number = parse(productNumber, req.params.number);
    await s.catalogAdmin.removeImage(number);
    flash(req, 'success', 'Image removed.');
    res.redirect(303, `${productUrl(number)}#image`);
  });

  return r;
}

function toInput(form: z.infer<typeof productForm>): ProductInput {
  const { price, vatRate: vatRateBp, ...rest } = form;
  return { ...rest, priceMinor: price, vatRateBp };
}
