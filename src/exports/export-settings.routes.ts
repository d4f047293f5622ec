import type { RequestHandler } from 'express';
import { Router } from 'express';
import multer from 'multer';
import { z } from 'zod';
import { renderInvalid } from '../http/in-context';
import { requireStaff } from '../http/auth';
import { flash } from '../http/shopper';
import { parse, text } from '../http/validate';
import type { Services } from '../services';
import { invalid } from '../shared/errors';

export const EXPORT_SETTINGS_PATH = '/admin/settings/export';
const MAX_XSL_BYTES = 512 * 1024;

const checkbox = z.unknown().optional().transform((v) => v === 'on');
const exportForm = z.object({
  enabled: checkbox,
  folder: text(500).default(''),
  notifyEmail: text(200).default('').refine((v) => v === '' || z.email().safeParse(v).success, { error: 'must be an e-mail address, e.g. erp@example.com' }),
  removeXsl: checkbox,
});

/**
 * The settings form is multipart (it carries the stylesheet), so it is parsed before the CSRF check, which reads
 * the form's token (app.ts mounts this for POST /admin/settings/export only). An oversized or extra file is not a
 * crash: the form is shown again with the reason next to the file field.
 */
export const exportSettingsUpload: RequestHandler = (req, res, next) => {
  multer({ storage: multer.memoryStorage(), limits: { fileSize: MAX_XSL_BYTES, files: 1, fields: 20 } }).single('xsl')(req, res, (err?: unknown) => {
    if (err instanceof multer.MulterError) {
      res.locals.uploadProblem = err.code === 'LIMIT_FILE_SIZE' ? `The file is larger than ${MAX_XSL_BYTES / 1024} KB.` : `The upload was refused (${err.message}).`;
      return next();
    }
    next(err);
  });
};

/** /admin/settings/export: the automatic XML export's settings (thin: parse → one service call → redirect or the form again). */
export function exportSettingsRoutes(s: Services): Router {
  const r = Router();
  r.use(requireStaff);
  r.use(s.staffRoles.writesNeed('settings.shop'));

  r.get('/', async (_req, res) => {
    const page = await s.exportSettings.page();
    res.render('admin/settings/export.njk', { ...page, values: page.settings, fields: {} });
  });

  r.post('/', async (req, res) => {
    try {
      const form = parse(exportForm, req.body);
      if (res.locals.uploadProblem) throw invalid(`Nothing was saved. ${res.locals.uploadProblem}`, { xsl: res.locals.uploadProblem });
      const file = req.file;
      await s.exportSettings.save({ ...form, xsl: file?.size ? { fileName: file.originalname.slice(0, 200), source: file.buffer.toString('utf8') } : undefined });
    } catch (e) {
      return renderInvalid(res, e, 'admin/settings/export.njk', async () => ({
        ...(await s.exportSettings.page()), values: { ...req.body, enabled: req.body?.enabled === 'on', removeXsl: req.body?.removeXsl === 'on' },
      }));
    }
    flash(req, 'success', 'Export settings saved.');
    res.redirect(303, EXPORT_SETTINGS_PATH);
  });

  return r;
}
