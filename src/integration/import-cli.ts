import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config';
import { initOrm } from '../db/database';
import { detectFormat, ImportService, type ImportFormat } from './import.service';

/**
 * `npm run import -- FILE [--channel NAME] [--format csv|xml]`: imports orders from a large file as a stream
 * (DATABASE_URL names the database), printing progress per batch and every refused row with its line number.
 * Exit code 0 when every order was imported or already there, 2 when some rows were refused, 1 on failure.
 */
function usage(): never {
  console.error('usage: npm run import -- FILE [--channel NAME] [--format csv|xml]');
  process.exit(1);
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let file: string | undefined;
  let channel: string | undefined;
  let format: ImportFormat | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--channel') channel = args[++i] ?? usage();
    else if (args[i] === '--format') { const f = args[++i]; if (f !== 'csv' && f !== 'xml') usage(); format = f; } else if (!file) file = args[i];
    else usage();
  }
  if (!file) usage();
  const url = loadConfig(process.env, { serving: false }).databaseUrl;
  if (!url) throw new Error('DATABASE_URL is required');
  if (!format) {
    const fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(64);
    fs.readSync(fd, head, 0, 64, 0);
    fs.closeSync(fd);
    format = detectFormat(head.toString('utf8'));
  }
  const orm = await initOrm(url, { poolMax: 2 });
  try {
    const started = Date.now();
    const report = await new ImportService().importStream(orm.em, fs.createReadStream(file, { highWaterMark: 256 * 1024 }), {
      format, channel, filename: path.basename(file), via: 'cli',
      onError: (e) => console.error(`line ${e.line}${e.externalId ? ` (${e.externalId})` : ''}: ${e.reason}`),
      onProgress: (p) => console.log(`${p.ordersSeen} orders read: ${p.imported} imported, ${p.alreadyImported} already imported, ${p.failed} refused (${Math.round((Date.now() - started) / 1000)} s)`),
    });
    console.log(`Import run ${report.runId} ${report.status}: ${report.message}`);
    if (report.status === 'failed') return 1;
    return report.failed ? 2 : 0;
  } finally {
    await orm.close();
  }
}

main().then((code) => process.exit(code)).catch((e) => {
  console.error(e);
  process.exit(1);
});
