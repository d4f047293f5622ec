/**
 * Export settings staff change in the admin (/admin/settings/export): on/off, the folder, an uploaded XSL stylesheet
 * and an address the exported XML is mailed to. Stored in the one row of `export_settings`; the environment
 * (EXPORT_DIR, EXPORT_XSL) stays the default when the folder is empty or no stylesheet is uploaded.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { invalid } from '../shared/errors';
import { xslProblem } from './auto-export.service';
import { ensureFolder } from '../shared/folders';

export interface StoredExportSettings {
  enabled: boolean;
  folder: string;
  xslFileName: string;
  xslSource: string | null;
  notifyEmail: string;
  updatedAt: Date | null;
}

export interface ExportSettingsInput {
  enabled: boolean;
  folder: string;
  notifyEmail: string;
  /** Drop the uploaded stylesheet (EXPORT_XSL, if set, applies again). */
  removeXsl: boolean;
  /** A newly uploaded stylesheet; it replaces the stored one once it is known to work. */
  xsl?: { fileName: string; source: string };
}

export interface ExportDefaults { exportDir: string; exportXslPath?: string }

/** Reads the settings row; a database without it (before the migration) behaves as the environment says. */
export async function readExportSettings(em: EntityManager): Promise<StoredExportSettings> {
  const [row] = await em.execute<{ enabled: boolean; folder: string; xsl_file_name: string; xsl_source: string | null; notify_email: string; updated_at: Date }[]>(
    'select enabled, folder, xsl_file_name, xsl_source, notify_email, updated_at from export_settings where id = 1',
  );
  if (!row) return { enabled: true, folder: '', xslFileName: '', xslSource: null, notifyEmail: '', updatedAt: null };
  return { enabled: row.enabled, folder: row.folder, xslFileName: row.xsl_file_name, xslSource: row.xsl_source, notifyEmail: row.notify_email, updatedAt: row.updated_at };
}

export class ExportSettingsService {
  constructor(private readonly orm: MikroORM, private readonly defaults: ExportDefaults) {}

  private get em() {
    return this.orm.em;
  }

  /** The settings page: what is stored, what the environment supplies, and how the export queue stands. */
  async page() {
    const settings = await readExportSettings(this.em);
    const jobs = await this.em.execute<{ status: string; n: number }[]>('select status, count(*)::int as n from order_export_jobs group by status');
    const count = (status: string) => Number(jobs.find((j) => j.status === status)?.n ?? 0);
    return {
      settings,
      defaults: { folder: path.resolve(this.defaults.exportDir), xsl: this.defaults.exportXslPath ?? '' },
      effectiveFolder: path.resolve(settings.folder || this.defaults.exportDir),
      jobs: { queued: count('queued'), failed: count('failed'), done: count('done') },
    };
  }

  /**
   * Saves the settings. The folder must be one the app can create and write to, and an uploaded stylesheet must
   * parse and run on a sample order; either refusal names the field and saves nothing.
   */
  async save(input: ExportSettingsInput): Promise<StoredExportSettings> {
    const fields: Record<string, string> = {};
    if (input.folder) {
      const problem = await folderProblem(input.folder);
      if (problem) fields.folder = problem;
    }
    if (input.xsl) {
      const problem = await xslProblem(input.xsl.source);
      if (problem) fields.xsl = `“${input.xsl.fileName}” cannot be used. ${problem}`;
    }
    const first = Object.values(fields)[0];
    if (first) throw invalid(`Nothing was saved. ${first}`, fields);
    return this.em.transactional(async (em) => {
      const xsl = input.xsl ? { name: input.xsl.fileName, source: input.xsl.source } : input.removeXsl ? { name: '', source: null } : undefined;
      await em.execute(
        `update export_settings set enabled = ?, folder = ?, notify_email = ?, updated_at = now()
           ${xsl ? ', xsl_file_name = ?, xsl_source = ?' : ''} where id = 1`,
        [input.enabled, input.folder, input.notifyEmail, ...(xsl ? [xsl.name, xsl.source] : [])],
      );
      return readExportSettings(em);
    });
  }
}

/** Why files cannot be written to `folder` (it is created when missing), or null when they can. */
async function folderProblem(folder: string): Promise<string | null> {
  const dir = path.resolve(folder);
  try {
    await ensureFolder(dir);
    await fs.access(dir, fs.constants.W_OK);
    if (!(await fs.stat(dir)).isDirectory()) return `${dir} is not a folder.`;
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EACCES' || code === 'EPERM' ? 'the app may not write there'
      : code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way'
      : code === 'ENOENT' ? 'no folder can be made there' : (e as Error).message;
    return `${dir} cannot be used as the export folder: ${why}.`;
  }
}
