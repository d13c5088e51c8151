import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyBaseLogger } from 'fastify';
import { bundleIsStale } from './sources.ts';

export interface BundleFile {
  body: Buffer;
  type: string;
}

export type BundleState =
  { state: 'ready'; files: ReadonlyMap<string, BundleFile> } | { state: 'building'; since: Date } | { state: 'failed'; reason: string };

const here = fileURLToPath(new URL('./', import.meta.url));
const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The built run viewer, read into memory on first use (a few hundred kilobytes): files are then
 * found by exact name, so no request path ever reaches the file system. When there is no bundle
 * (a clone whose install skipped the build), a child process builds it while the API is already
 * up; until then /ui answers 503.
 */
export class UiBundle {
  private current: BundleState | undefined;
  private loading: Promise<BundleState> | undefined;
  private readonly dir: string;
  private readonly buildScript: string;
  private readonly uiDir: string;
  /** Settles once prepare's comparison of the bundle with its sources is done (tests). */
  staleCheck: Promise<void> = Promise.resolve();

  constructor(
    dir = join(here, 'dist'),
    buildScript = join(here, import.meta.url.endsWith('.ts') ? 'build.ts' : 'build.js'),
    /** Where the viewer's sources are, to tell a bundle older than them. */
    uiDir = here,
  ) {
    this.dir = dir;
    this.buildScript = buildScript;
    this.uiDir = uiDir;
  }

  /**
   * At start: build in the background when there is no bundle (a stat, nothing read), or when its
   * sources changed since it was built (a checkout updated since): the old bundle is served until
   * the new one is there. The sources are compared after start, not before it.
   */
  async prepare(log: FastifyBaseLogger): Promise<void> {
    if (this.current) return;
    if (!(await stat(join(this.dir, 'index.html')).catch(() => undefined))) return this.build(log);
    if (!this.buildScript.endsWith('.ts')) return;
    this.staleCheck = bundleIsStale(this.dir, this.uiDir).then(
      (stale) => {
        if (!stale || this.current?.state === 'building') return;
        this.build(log, 'run viewer: its sources changed since the bundle was built; building it again (the old one is served meanwhile)');
      },
      (err: Error) => log.warn({ err }, 'run viewer: could not compare the bundle with its sources'),
    );
  }

  /** What /ui can serve now; starts a build in the background when there is no bundle. */
  async get(log: FastifyBaseLogger): Promise<BundleState> {
    if (this.current?.state === 'ready') return this.current;
    this.loading ??= this.load(log).finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async load(log: FastifyBaseLogger): Promise<BundleState> {
    const files = await readBundle(this.dir);
    if (files) return (this.current = { state: 'ready', files });
    if (this.current?.state === 'building' || this.current?.state === 'failed') return this.current;
    this.build(log);
    return this.current!;
  }

  private build(log: FastifyBaseLogger, why = 'run viewer: no bundle yet, building it in the background'): void {
    if (this.current?.state === 'building') return;
    if (!this.buildScript.endsWith('.ts')) {
      this.current = {
        state: 'failed',
        reason: 'this install has no run viewer bundle and no build tools: run `npm run build` where it was built',
      };
      return;
    }
    this.current = { state: 'building', since: new Date() };
    log.info(why);
    const child = spawn(process.execPath, [this.buildScript], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2_000)));
    // The server may close before the build ends; the build finishes for the next start.
    child.unref();
    child.on('error', (err) => (this.current = { state: 'failed', reason: err.message }));
    child.on('exit', (code) => {
      if (code === 0) {
        // Built here, or by another process that held the lock: the next request reads it.
        this.current = undefined;
        log.info('run viewer: bundle ready');
      } else {
        this.current = { state: 'failed', reason: stderr.trim() || `the build exited with code ${code}` };
        log.warn({ reason: this.current.reason }, 'run viewer: build failed; run `npm run build:ui` to see why');
      }
    });
  }
}

async function readBundle(dir: string): Promise<Map<string, BundleFile> | undefined> {
  if (!(await stat(join(dir, 'index.html')).catch(() => undefined))) return undefined;
  const files = new Map<string, BundleFile>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    // A dot-file is the build's own record (the sources' fingerprint), not part of the page.
    if (!entry.isFile() || entry.name.startsWith('.')) continue;
    const path = join(entry.parentPath, entry.name);
    const name = path
      .slice(dir.length + 1)
      .split('\\')
      .join('/');
    files.set(name, { body: await readFile(path), type: types[extname(name)] ?? 'application/octet-stream' });
  }
  return files;
}
