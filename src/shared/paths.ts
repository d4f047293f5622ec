import fs from 'node:fs';
import path from 'node:path';

/**
 * The project's root (package.json, views/, public/): the first folder above this file with a package.json. The same
 * from the sources (src/shared, run by tsx and jest) and from the build (dist/src/shared, run by node).
 */
function projectRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`No package.json above ${from}: run Orderflow from its folder`);
  }
}

export const PROJECT_ROOT = projectRoot(__dirname);
export const VIEWS_DIR = path.join(PROJECT_ROOT, 'views');
export const PUBLIC_DIR = path.join(PROJECT_ROOT, 'public');
