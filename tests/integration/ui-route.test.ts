import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import { uiRoutes } from '../../services/orchestrator/routes/ui.ts';
import { UiBundle } from '../../services/orchestrator/ui/bundle.ts';
import { buildUi } from '../../services/orchestrator/ui/build.ts';
import { fingerprintFile, sourceFingerprint } from '../../services/orchestrator/ui/sources.ts';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { poll } from '../helpers/poll.ts';
import { startPlatform } from '../helpers/platform.ts';
import { testAgents } from '../helpers/test-agents.ts';

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mesh-ui-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A stand-in for build.ts run as the real child process: it writes a bundle once told to, or fails. */
async function builder(dir: string, behaviour: 'wait-for-go' | 'fail'): Promise<string> {
  const script = join(dir, 'build.ts');
  const body =
    behaviour === 'fail'
      ? `process.stderr.write('vite: cannot resolve ./src/main.tsx'); process.exit(1);`
      : `import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
         const deadline = Date.now() + 20_000;
         while (!existsSync(${JSON.stringify(join(dir, 'go'))}) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
         mkdirSync(${JSON.stringify(join(dir, 'dist', 'assets'))}, { recursive: true });
         writeFileSync(${JSON.stringify(join(dir, 'dist', 'index.html'))}, '<!doctype html><title>built</title>');
         writeFileSync(${JSON.stringify(join(dir, 'dist', 'assets', 'app-abc123.js'))}, 'console.log(1)');`;
  await writeFile(script, body);
  return script;
}

async function uiApp(bundle: UiBundle, logs?: string[]) {
  const app = Fastify(logs ? { logger: { level: 'info', stream: { write: (line: string) => logs.push(line) } } } : {});
  await app.register(uiRoutes, { bundle });
  onTestFinished(() => app.close());
  await app.ready();
  return app;
}

describe('GET /ui', () => {
  it('answers 503 with Retry-After while the bundle is built in the background, then serves it', async () => {
    const dir = await tempDir();
    const app = await uiApp(new UiBundle(join(dir, 'dist'), await builder(dir, 'wait-for-go')));
    // ready() has started the build already: the first request does not wait for it.
    const building = await app.inject({ url: '/ui/' });
    expect(building.statusCode).toBe(503);
    expect(building.headers['retry-after']).toBe('5');
    expect(building.body).toMatch(/^The run viewer is being built \(since .+\); this page works in a few seconds\.$/);
    expect(building.headers['content-security-policy']).toContain("default-src 'none'");

    await writeFile(join(dir, 'go'), '');
    const page = await poll(
      async () => {
        const res = await app.inject({ url: '/ui/' });
        return res.statusCode === 200 ? res : undefined;
      },
      { timeoutMs: 20_000, label: 'the bundle to be served' },
    );
    expect(page.body).toBe('<!doctype html><title>built</title>');
    expect(page.headers['cache-control']).toBe('no-cache');
  });

  it('says why when the build failed', async () => {
    const dir = await tempDir();
    const app = await uiApp(new UiBundle(join(dir, 'dist'), await builder(dir, 'fail')));
    const res = await poll(
      async () => {
        const r = await app.inject({ url: '/ui/runs/x' });
        return r.body.includes('could not be built') ? r : undefined;
      },
      { timeoutMs: 20_000, label: 'the failed build to be reported' },
    );
    expect(res.statusCode).toBe(503);
    expect(res.body).toBe('The run viewer could not be built: vite: cannot resolve ./src/main.tsx');
    expect(res.headers['retry-after']).toBe('60');
  });

  it('a bundle older than its sources (an updated checkout) is built again in the background, the old one served meanwhile', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'src'));
    await mkdir(join(dir, 'dist'));
    await writeFile(join(dir, 'src', 'main.tsx'), 'export const version = 1;\n');
    await writeFile(join(dir, 'dist', 'index.html'), '<!doctype html><title>old</title>');
    await writeFile(join(dir, 'dist', fingerprintFile), (await sourceFingerprint(dir))!);
    const script = await builder(dir, 'wait-for-go');

    // Built from these sources: served, nothing built.
    const fresh = new UiBundle(join(dir, 'dist'), script, dir);
    const freshLogs: string[] = [];
    const current = await uiApp(fresh, freshLogs);
    await fresh.staleCheck;
    expect(freshLogs.join('')).not.toContain('sources changed');
    expect((await current.inject({ url: '/ui/' })).body).toBe('<!doctype html><title>old</title>');
    // The build's record is not part of the page.
    expect((await current.inject({ url: `/ui/${fingerprintFile}` })).statusCode).toBe(404);

    // A source changed since: the old page until the new one is built, then the new one.
    await writeFile(join(dir, 'src', 'main.tsx'), 'export const version = 2;\n');
    const stale = new UiBundle(join(dir, 'dist'), script, dir);
    const logs: string[] = [];
    const app = await uiApp(stale, logs);
    await stale.staleCheck;
    expect(logs.join('')).toContain('run viewer: its sources changed since the bundle was built');
    const meanwhile = await app.inject({ url: '/ui/' });
    expect([meanwhile.statusCode, meanwhile.body]).toEqual([200, '<!doctype html><title>old</title>']);
    await writeFile(join(dir, 'go'), '');
    await poll(async () => (await app.inject({ url: '/ui/' })).body === '<!doctype html><title>built</title>', {
      timeoutMs: 20_000,
      label: 'the new bundle to be served',
    });
  });

  it('buildUi builds again when the sources changed since the bundle, and not when they did not', { timeout: 180_000 }, async () => {
    // A copy of the viewer inside the project, so Vite finds its dependencies.
    const ui = fileURLToPath(new URL('../../services/orchestrator/ui/', import.meta.url));
    const copy = fileURLToPath(new URL(`../../.cache/ui-copy-${process.pid}/`, import.meta.url));
    onTestFinished(() => rm(copy, { recursive: true, force: true }));
    for (const part of ['src', 'index.html', 'vite.config.ts']) await cp(join(ui, part), join(copy, part), { recursive: true });

    expect(await buildUi({ uiDir: copy })).toBe('built');
    expect(await readFile(join(copy, 'dist', fingerprintFile), 'utf8')).toBe(await sourceFingerprint(copy));
    expect(await buildUi({ uiDir: copy })).toBe('present');
    const format = join(copy, 'src', 'format.ts');
    await writeFile(format, `${await readFile(format, 'utf8')}\nexport const rebuilt = 'yes';\n`);
    expect(await buildUi({ uiDir: copy })).toBe('built');
    expect(await buildUi({ uiDir: copy })).toBe('present');
  });

  it('serves the real bundle without a key while the API wants one: CSP, long cache for hashed assets, the page for its own routes, 404 for a missing file', async () => {
    expect(await buildUi()).not.toBe(undefined);
    const db = await createPgliteDb('memory://');
    await migrate(db);
    onTestFinished(() => db.close());
    const { app } = await startPlatform(db, testAgents().agents, { API_AUTH: 'keys', ADMIN_API_KEY: randomBytes(24).toString('hex') });

    const index = await app.inject({ url: '/ui/' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(index.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    expect(index.headers['x-content-type-options']).toBe('nosniff');
    expect(index.headers['referrer-policy']).toBe('no-referrer');
    // Nothing inline: every script and stylesheet is a file under /ui/assets.
    expect(index.body).not.toMatch(/<script(?![^>]*\bsrc="\/ui\/assets\/)[^>]*>/);
    expect(index.body).not.toMatch(/<style|style="/);

    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(index.body)![1]!;
    const asset = await app.inject({ url: script });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');

    expect((await app.inject({ url: '/ui/runs/0193a0a0-0000-7000-8000-000000000000' })).body).toBe(index.body);
    expect((await app.inject({ url: '/ui' })).headers.location).toBe('/ui/');
    const missing = await app.inject({ url: '/ui/assets/gone-1234.js' });
    expect(missing.statusCode).toBe(404);
    expect((await app.inject({ url: '/ui/../tasks' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/tasks' })).statusCode).toBe(401);
  });
});
