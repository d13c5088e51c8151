import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { expect, onTestFinished } from 'vitest';
import type { AgentDefinition } from '../../agents/sdk/index.ts';
import { watchedPage, type WatchedPage } from './browser.ts';
import { testDatabases } from './db.ts';
import { listenOnLoopback, startPlatform } from './platform.ts';

const postgres = testDatabases.find((d) => d.name === 'postgres')!;

export interface Viewer {
  url: string;
  submitKey: string;
  readKey: string;
  /** The API as the test's own client, with the admin key. */
  call: (path: string, body?: unknown) => Promise<{ status: number; body: any }>;
}

/**
 * The platform as the run viewer's browser tests need it: API_AUTH=keys on the test Postgres, the
 * given agents (and, through AGENT_URLS, agents started elsewhere), named workflows from the given
 * YAML files, listening on loopback; with a read+submit key and a read-only key.
 */
export async function startViewer(options: {
  agents: AgentDefinition[];
  agentUrls?: string;
  workflows?: Record<string, string>;
  /** More of the orchestrator's environment (a model planner's LLM_BASE_URL, say). */
  env?: Record<string, string>;
}): Promise<Viewer> {
  const db = await postgres.open();
  onTestFinished(() => db.close());
  const workflows = await mkdtemp(join(tmpdir(), 'mesh-ui-wf-'));
  onTestFinished(() => rm(workflows, { recursive: true, force: true }));
  for (const [name, yaml] of Object.entries(options.workflows ?? {})) await writeFile(join(workflows, `${name}.yaml`), yaml);
  const admin = randomBytes(24).toString('hex');
  const { app } = await startPlatform(db, options.agents, {
    ...(options.agentUrls ? { AGENT_URLS: options.agentUrls } : {}),
    API_AUTH: 'keys',
    ADMIN_API_KEY: admin,
    ...(options.workflows ? { WORKFLOWS_DIR: workflows } : {}),
    STEP_MAX_ATTEMPTS: '1',
    ...options.env,
  });
  const url = await listenOnLoopback(app);
  const call = async (path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${admin}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const key = async (scopes: string[]) => {
    const res = await call('/admin/api-keys', { name: `ui-${scopes.join('-')}`, scopes });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.key as string;
  };
  return { url, call, submitKey: await key(['read', 'submit']), readKey: await key(['read']) };
}

/** Opens `path` in a fresh browser context and logs in: the first API answer is a 401, and the page asks for a key once. */
export async function openViewer(browser: Browser, v: Viewer, key: string, path = '/ui/'): Promise<WatchedPage> {
  const watched = await watchedPage(browser, v.url);
  onTestFinished(async () => {
    await watched.page.context().close();
  });
  await watched.page.goto(path);
  await watched.page.getByLabel('Key').fill(key);
  await watched.page.getByRole('button', { name: 'Use this key' }).click();
  return watched;
}
