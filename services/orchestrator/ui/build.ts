// Builds the run viewer (src/ with Vite) into dist/: `npm run build:ui`, npm's postinstall, and the
// orchestrator's background build when it starts without a bundle, or with one older than its
// sources, all run this file. The bundle is written beside dist/ and renamed into place, so a server
// never reads half a build, and a lock file keeps two processes (two test workers, an install and a
// start) from building at once.
import { open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { bundleIsStale, fingerprintFile, sourceFingerprint } from './sources.ts';

const here = fileURLToPath(new URL('./', import.meta.url));
const lockOf = (uiDir: string) => join(uiDir, '.build.lock');
// A lock older than this was left by a build that died.
const staleLockMs = 5 * 60_000;

export type BuildOutcome = 'built' | 'present' | 'built elsewhere';

export async function buildUi(options: { force?: boolean; uiDir?: string } = {}): Promise<BuildOutcome> {
  const uiDir = options.uiDir ?? here;
  const outDir = join(uiDir, 'dist');
  if (!options.force && (await exists(join(outDir, 'index.html'))) && !(await bundleIsStale(outDir, uiDir))) return 'present';
  const lockFile = lockOf(uiDir);
  const lock = await takeLock(lockFile);
  if (!lock) return waitForOtherBuild(lockFile, outDir);
  const staging = join(uiDir, `dist.${process.pid}.tmp`);
  try {
    // Imported here: only a build loads Vite, never the server.
    const { build } = await import('vite').catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ERR_MODULE_NOT_FOUND') throw err;
      throw new Error('Vite is not installed (a production install has no dev dependencies): build it with `npm run build` where they are');
    });
    // Taken before the build: a source changed while Vite ran makes this bundle stale, not current.
    const fingerprint = await sourceFingerprint(uiDir);
    await build({ configFile: join(uiDir, 'vite.config.ts'), logLevel: 'warn', build: { outDir: staging, emptyOutDir: true } });
    if (fingerprint) await writeFile(join(staging, fingerprintFile), fingerprint);
    await rm(outDir, { recursive: true, force: true });
    await rename(staging, outDir);
    return 'built';
  } finally {
    await rm(staging, { recursive: true, force: true });
    await lock.close();
    await rm(lockFile, { force: true });
  }
}

/** Another process holds the lock: its bundle, once it is there. */
async function waitForOtherBuild(lockFile: string, outDir: string): Promise<BuildOutcome> {
  const deadline = Date.now() + staleLockMs;
  while (Date.now() < deadline) {
    await sleep(500);
    if (!(await exists(lockFile))) {
      if (await exists(join(outDir, 'index.html'))) return 'built elsewhere';
      throw new Error('another process building the run viewer stopped without a bundle');
    }
  }
  throw new Error(`another process has held ${lockFile} for ${staleLockMs / 60_000} minutes`);
}

async function takeLock(lockFile: string) {
  try {
    return await open(lockFile, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = Date.now() - ((await stat(lockFile).catch(() => undefined))?.mtimeMs ?? 0);
    if (age < staleLockMs) return undefined;
    await rm(lockFile, { force: true });
    return open(lockFile, 'wx').catch(() => undefined);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const force = process.argv.includes('--force');
  try {
    const outcome = await buildUi({ force });
    process.stdout.write(`agentic-mesh: run viewer (/ui) ${outcome === 'present' ? 'already built' : outcome}\n`);
  } catch (err) {
    process.stderr.write(`agentic-mesh: the run viewer (/ui) was not built: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
