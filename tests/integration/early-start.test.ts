import { describe, expect, it, onTestFinished } from 'vitest';
import { runAll } from '../../services/cli/roles.ts';
import { loadConfig } from '../../services/config/index.ts';
import { listenEarly } from '../../services/http/early-server.ts';
import { buildOrchestratorApp } from '../../services/orchestrator/app.ts';
import { testDatabases } from '../helpers/db.ts';
import { sharedMathAgent } from '../helpers/platform.ts';

const postgres = testDatabases.find((d) => d.name === 'postgres')!;

describe("the orchestrator's port, open before the orchestrator is up (npm start)", () => {
  it('says "starting" until the app takes it over, then serves the API on the same port, and closes with it', async () => {
    const early = await listenEarly('127.0.0.1', 0, 'orchestrator');
    let closed = false;
    onTestFinished(() => (closed ? undefined : early.close()));

    const health = await fetch(`${early.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'starting' });
    for (const [method, path] of [
      ['GET', '/ready'],
      ['POST', '/orchestrate'],
      ['GET', '/tasks'],
    ] as const) {
      const res = await fetch(`${early.url}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.json()).toMatchObject({ code: 'STARTING', message: 'the orchestrator is starting; try again in a moment' });
    }

    const db = await postgres.open();
    onTestFinished(() => db.close());
    const agent = await sharedMathAgent();
    const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_MAX: '0', AGENT_URLS: agent.env.AGENT_URLS });
    const app = await buildOrchestratorApp(config, { db, early });
    // Built but not ready: still "starting".
    expect((await fetch(`${early.url}/ready`)).status).toBe(503);
    await app.ready();
    early.open();
    expect(app.server).toBe(early.server);
    expect((await fetch(`${early.url}/ready`)).status).toBe(200);
    const run = await fetch(`${early.url}/orchestrate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ plan: { steps: [{ id: 'a', agent: 'math', input: { values: [2, 3] } }] }, wait: true }),
    });
    expect(run.status).toBe(200);
    expect(await run.json()).toMatchObject({ status: 'succeeded', results: [{ output: { sum: 5 } }] });

    await app.close();
    await early.close();
    closed = true;
    await expect(fetch(`${early.url}/health`)).rejects.toThrow();
  });

  it('a port already taken fails at once, naming it', async () => {
    const first = await listenEarly('127.0.0.1', 0, 'orchestrator');
    onTestFinished(() => first.close());
    const port = Number(new URL(first.url).port);
    await expect(listenEarly('127.0.0.1', port, 'orchestrator')).rejects.toThrow(/EADDRINUSE/);
  });

  it("start with PORT set (one role's port) refuses before it listens, naming ORCHESTRATOR_PORT", async () => {
    await expect(runAll(loadConfig({ PORT: '18001', LOG_LEVEL: 'silent' }))).rejects.toThrow(
      /PORT=18001 is the port of a single-role process; .*set ORCHESTRATOR_PORT for the API/,
    );
  });
});
