// What a run viewer bundle was built from, so a checkout whose sources changed since builds it
// again. Kept apart from build.ts: the server imports this, and build.ts (which loads Vite) is a
// development tool that never goes into the compiled install.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('./', import.meta.url));

/** The file in a bundle naming the sources it was built from (readBundle serves no dot-file). */
export const fingerprintFile = '.sources';

/**
 * What the bundle is built from: src/, the page, Vite's config and the dependencies' lock file, as
 * one hash; undefined where there are no sources (an install built elsewhere), which is never stale.
 * A `git pull` that changes the viewer changes it, so the next start or install builds again
 * instead of serving the old page.
 */
export async function sourceFingerprint(uiDir = here, depsLock = join(uiDir, '../../../package-lock.json')): Promise<string | undefined> {
  const src = join(uiDir, 'src');
  const files = await readdir(src, { recursive: true, withFileTypes: true }).catch(() => undefined);
  if (!files) return undefined;
  const paths = files
    .filter((f) => f.isFile())
    .map((f) => join(f.parentPath, f.name))
    .concat(join(uiDir, 'index.html'), join(uiDir, 'vite.config.ts'), depsLock)
    .sort();
  const hash = createHash('sha256');
  for (const path of paths) {
    const body = await readFile(path).catch(() => undefined);
    if (body)
      hash
        .update(`${path.slice(uiDir.length)}\0`)
        .update(body)
        .update('\0');
  }
  return hash.digest('hex');
}

/** The bundle in `dir` was built from other sources than those in `uiDir` now. */
export async function bundleIsStale(dir = join(here, 'dist'), uiDir = here): Promise<boolean> {
  const now = await sourceFingerprint(uiDir);
  if (now === undefined) return false;
  return (await readFile(join(dir, fingerprintFile), 'utf8').catch(() => undefined)) !== now;
}
