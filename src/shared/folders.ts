import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Creates `dir` and any missing parents (mkdir -p). Not `fs.mkdir(dir, { recursive: true })`: Node's recursive mkdir
 * spins forever, at full CPU, when a parent exists but cannot hold the child (under /proc, a dangling symlink) —
 * it takes ENOENT for a missing parent and retries. Here each missing folder is made once, nearest first, and a
 * refusal is thrown as it is.
 */
export async function ensureFolder(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    try {
      await fs.stat(at);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (path.dirname(at) === at) break;
    missing.unshift(at);
  }
  for (const folder of missing) {
    await fs.mkdir(folder).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}
