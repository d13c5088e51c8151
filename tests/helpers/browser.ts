import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';

// Debian's chromium package: browser downloads are not reachable from here or CI.
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const screenshotDir = new URL('../../.cache/ui-screenshots/', import.meta.url);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** One Chromium for a test file (each test opens its own context): launched before its tests, closed after them. */
export function chromiumForFile(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });
  return () => browser!;
}

// The API refusing a request (no key yet, a read-only key acting, a description no agent can do)
// is the page working as meant; Chromium still logs each such answer as a console error.
const expectedRefusal = /^Failed to load resource: the server responded with a status of (40[13]|422)/;

export interface WatchedPage {
  page: Page;
  /** Console errors (a CSP violation is one) and uncaught exceptions seen so far. */
  problems: string[];
}

/** A new page in its own context (its own sessionStorage), recording every console error and page error. */
export async function watchedPage(browser: Browser, baseUrl: string): Promise<WatchedPage> {
  const context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !expectedRefusal.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    void dialog.dismiss();
  });
  return { page, problems };
}

let axeSource: string | undefined;

/** Runs axe-core in the page (evaluated over the DevTools protocol: the page's CSP forbids inline scripts) and expects no violations. */
export async function expectAccessible(page: Page, label: string): Promise<void> {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  // Runs in the page: its globals are the browser's, which this project's Node types do not describe.
  const violations = await page.evaluate(async () => {
    const page = globalThis as unknown as {
      document: unknown;
      axe: {
        run: (
          context: unknown,
          options: object,
        ) => Promise<{ violations: Array<{ id: string; help: string; nodes: Array<{ target: unknown }> }> }>;
      };
    };
    const result = await page.axe.run(page.document, { resultTypes: ['violations'] });
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')})`);
  });
  expect(violations, `axe on ${label}`).toEqual([]);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(screenshotDir, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, screenshotDir).pathname, fullPage: true });
}
