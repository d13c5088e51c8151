// npm run ui:screenshots: the two pictures of the run viewer the README shows (docs/images/),
// taken from a platform started here on loopback ports (embedded database in memory, the
// built-in agents, the system Chromium) running the README's example and the feature workflow.
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { chromium } from 'playwright-core';
import { loadBuiltInAgents } from '../agents/index.ts';
import { buildAgentApp } from '../agents/sdk/index.ts';
import { loadConfig } from '../services/config/index.ts';
import { buildOrchestratorApp } from '../services/orchestrator/app.ts';
import { buildUi } from '../services/orchestrator/ui/build.ts';
import { createPgliteDb, migrate } from '../services/state/index.ts';

const images = fileURLToPath(new URL('../docs/images/', import.meta.url));
const readmeExample = 'Build feature slugify utility AND deploy infrastructure for a redis cache then document it';

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('not listening');
  return `http://127.0.0.1:${addr.port}`;
}

const apps: FastifyInstance[] = [];
const db = await createPgliteDb('memory://');
await migrate(db);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  await buildUi();
  const urls: string[] = [];
  for (const def of await loadBuiltInAgents()) {
    const agent = buildAgentApp(def, { logLevel: 'silent' });
    apps.push(agent);
    urls.push(`${def.name}=${await listen(agent)}`);
  }
  const orchestrator = await buildOrchestratorApp(loadConfig({ LOG_LEVEL: 'silent', AGENT_URLS: urls.join(',') }), { db });
  apps.push(orchestrator);
  const base = await listen(orchestrator);
  const submit = async (body: unknown) => {
    const res = await fetch(`${base}/orchestrate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return ((await res.json()) as { task_id: string }).task_id;
  };
  await submit({
    workflow: 'feature_implementation',
    input: {
      files: [{ path: 'src/add.ts', content: 'export function add(a: number, b: number): number {\n  debugger;\n  return a + b;\n}\n' }],
    },
    wait: true,
  });
  const id = await submit({ description: readmeExample, wait: true });

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${base}/ui/`);
  await page.locator('table.runs tbody tr').nth(1).waitFor();
  await page.screenshot({ path: `${images}ui-runs.png` });
  await page.goto(`${base}/ui/runs/${id}`);
  await page.locator('section.run[data-status="succeeded"]').waitFor();
  await page.locator('[data-step-button]').first().click();
  await page.locator('.step-panel').waitFor();
  await page.screenshot({ path: `${images}ui-run.png`, fullPage: true });
  process.stdout.write(`wrote ${images}ui-runs.png and ${images}ui-run.png\n`);
} finally {
  await browser.close();
  for (const app of apps.reverse()) await app.close();
  await db.close();
}
