import fs from 'node:fs';
import path from 'node:path';
import { RequestContext } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Router } from 'express';
import { z } from 'zod';
import { requireStaff } from '../http/auth';
import { idParam, parse, text } from '../http/validate';
import type { Services } from '../services';
import { notFound } from '../shared/errors';
import { VIEWS_DIR } from '../shared/paths';
import { detectFormat, ImportService, type ImportFormat } from './import.service';

const RAW_TYPES = ['application/xml', 'text/xml', 'text/csv', 'application/octet-stream'];
const channelSchema = text(100).optional().transform((v) => v || undefined);
const pasteForm = z.object({ content: z.string().min(1, { error: 'paste the file content' }), channel: channelSchema, format: z.enum(['auto', 'csv', 'xml']).default('auto') });
const uploadQuery = z.object({ channel: channelSchema, filename: text(200).default(''), format: z.enum(['auto', 'csv', 'xml']).default('auto') });
const UPLOAD_JS = fs.readFileSync(path.join(VIEWS_DIR, 'admin/import/upload.js'), 'utf8');

const requestEm = () => RequestContext.getEntityManager() as EntityManager;
const formatOf = (f: string, head: string): ImportFormat => (f === 'auto' ? detectFormat(head) : (f as ImportFormat));

const MAX_UPLOAD_BYTES = 500 * 1024 * 1024;

/** Re-yields the request body from its first chunk on, refusing with 413 past the size limit. */
async function* limited(first: IteratorResult<Buffer>, rest: AsyncIterator<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for (let next = first; !next.done; next = await rest.next()) {
    seen += next.value.length;
    if (seen > maxBytes) throw Object.assign(new Error('upload too large'), { type: 'entity.too.large', status: 413 });
    yield next.value;
  }
}

/** Yields a buffer in slices, so pasted content goes through the same streaming reader as a file. */
async function* slices(buf: Buffer, size = 256 * 1024): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/**
 * /admin/orders/import: staff import orders from other channels. A file is sent as the raw request body by the
 * page's script and streamed into the importer; without script, small files (the form limit is 64 kB) are pasted into a text
 * area. Large files: `npm run import -- FILE`. Every run is stored and shown on its results page.
 */
export function importRoutes(_s: Services): Router {
  const r = Router();
  const imports = new ImportService();
  r.use(requireStaff);

  r.get('/', async (_req, res) => {
    res.render('admin/import/index.njk', { runs: await imports.recentRuns(requestEm()) });
  });

  r.get('/upload.js', (_req, res) => {
    res.type('application/javascript').set('Cache-Control', 'private, max-age=3600').send(UPLOAD_JS);
  });

  r.post('/', async (req, res) => {
    if (req.is(RAW_TYPES)) {
      // The upload is read as a stream straight into the importer: a large file is never held in memory.
      const q = parse(uploadQuery, req.query);
      const chunks = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const first = await chunks.next();
      const head = first.done ? '' : Buffer.from(first.value).subarray(0, 64).toString('utf8');
      const report = await imports.importStream(requestEm(), limited(first, chunks, MAX_UPLOAD_BYTES), {
        format: formatOf(q.format, head), channel: q.channel, filename: q.filename, via: 'upload', userId: req.user!.id,
      });
      const location = `/admin/orders/import/runs/${report.runId}`;
      if (req.accepts(['html', 'json']) === 'json') res.json({ ...report, location });
      else res.redirect(303, location);
      return;
    }
    const form = parse(pasteForm, req.body);
    const report = await imports.importStream(requestEm(), slices(Buffer.from(form.content, 'utf8')), {
      format: formatOf(form.format, form.content.slice(0, 64)), channel: form.channel, filename: 'pasted', via: 'paste', userId: req.user!.id,
    });
    res.redirect(303, `/admin/orders/import/runs/${report.runId}`);
  });

  r.get('/runs/:id', async (req, res) => {
    const run = await imports.run(requestEm(), parse(idParam, req.params.id));
    if (!run) throw notFound('The import run');
    res.render('admin/import/run.njk', { run });
  });

  return r;
}
