import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { healthPlugin } from '../../services/http/index.ts';
import { startOpsListeners } from '../../services/http/ops-server.ts';
import { schemaDatabaseUrl } from '../helpers/db.ts';
import { poll } from '../helpers/poll.ts';
import { startProcess } from '../helpers/processes.ts';

// HEALTH_PORT and METRICS_PORT: the Kubernetes profile probes and scrapes on ports of their own.

function opsUrls(stdout: string, service: string): { health: string; metrics: string } {
  const line = stdout.split('\n').find((l) => l.startsWith(`agentic-mesh: ${service} listening on`));
  const health = line && /health (http:\/\/[^\s,;)]+)/.exec(line)?.[1];
  const metrics = line && /metrics (http:\/\/[^\s,;)]+)/.exec(line)?.[1];
  if (!health || !metrics) throw new Error(`the announce line of ${service} names no health/metrics listener: ${line}`);
  return { health, metrics };
}

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

function metricFamilies(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!).sort();
}

/** Resolves once nothing listens at url; a kept-alive socket the server just reset may fail first. */
async function closedPort(url: string): Promise<void> {
  await poll(
    async () => {
      try {
        await fetch(url);
        return false;
      } catch (err) {
        return (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
      }
    },
    { timeoutMs: 5_000, label: `${url} to refuse connections` },
  );
}

describe('ops listeners in front of an app', () => {
  it('answer from the app’s own readiness check and registry, and say not ready while it closes', async () => {
    const registry = new Registry();
    const calls = new Counter({ name: 'test_calls_total', help: 'calls', registers: [registry] });
    let dependency: string | undefined = 'up';
    let releaseSlow!: () => void;
    const slowHeld = new Promise<void>((resolve) => (releaseSlow = resolve));
    const app = Fastify({ logger: false });
    await app.register(healthPlugin, {
      registry,
      checkReady: async () => {
        if (!dependency) throw new Error('the dependency does not answer');
        return { dependency };
      },
    });
    app.get('/slow', async () => {
      calls.inc();
      await slowHeld;
      return { done: true };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    // Port 0 for both: two listeners, each on a free port of its own.
    const ops = await startOpsListeners(app, { host: '127.0.0.1', healthPort: 0, metricsPort: 0 });
    onTestFinished(async () => {
      releaseSlow();
      await app.close();
      await ops.close();
    });
    expect(ops.healthUrl).not.toBe(ops.metricsUrl);
    expect(ops.describe()).toBe(`health ${ops.healthUrl}, metrics ${ops.metricsUrl}`);

    expect(await json(await fetch(`${ops.healthUrl}/health`))).toEqual({ status: 'ok' });
    expect(await json(await fetch(`${ops.healthUrl}/ready`))).toEqual({ status: 'ready', checks: { dependency: 'up' } });
    dependency = undefined;
    const down = await fetch(`${ops.healthUrl}/ready`);
    expect(down.status).toBe(503);
    expect(await json(down)).toEqual({ status: 'not_ready', checks: { error: 'the dependency does not answer' } });
    dependency = 'up';

    // Paths stay on their own port.
    const wrong = await fetch(`${ops.healthUrl}/metrics`);
    expect(wrong.status).toBe(404);
    expect((await json(wrong)).code).toBe('ROUTE_NOT_FOUND');
    expect((await fetch(`${ops.metricsUrl}/ready`)).status).toBe(404);
    expect((await fetch(`${ops.healthUrl}/health`, { method: 'POST' })).status).toBe(404);

    // A call on the main port shows on the metrics port: the same registry, not a copy.
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const slow = fetch(`${base}/slow`).then((r) => r.json());
    await poll(async () => (await (await fetch(`${ops.metricsUrl}/metrics`)).text()).includes('test_calls_total 1'), {
      timeoutMs: 5_000,
      label: 'the call counted on the metrics port',
    });
    const metrics = await fetch(`${ops.metricsUrl}/metrics`);
    expect(metrics.headers.get('content-type')).toBe(registry.contentType);

    // While the app drains the slow call, it is alive but takes no new traffic.
    const closing = app.close();
    await poll(async () => (await fetch(`${ops.healthUrl}/ready`)).status === 503, {
      timeoutMs: 5_000,
      label: '/ready to answer 503 while closing',
    });
    expect(await json(await fetch(`${ops.healthUrl}/ready`))).toEqual({ status: 'shutting_down' });
    expect((await fetch(`${ops.healthUrl}/health`)).status).toBe(200);
    releaseSlow();
    expect(await slow).toEqual({ done: true });
    await closing;
    await ops.close();
    await closedPort(`${ops.healthUrl}/health`);
  });

  it('fail to start on a taken port, and start nothing when neither port is set', async () => {
    const app = Fastify({ logger: false });
    await app.register(healthPlugin, { registry: new Registry(), checkReady: async () => ({}) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    onTestFinished(() => app.close());
    const taken = (app.server.address() as { port: number }).port;
    await expect(startOpsListeners(app, { host: '127.0.0.1', healthPort: 0, metricsPort: taken })).rejects.toThrow(/EADDRINUSE/);
    const none = await startOpsListeners(app, { host: '127.0.0.1' });
    expect(none.describe()).toBe('');
    expect(none.healthUrl).toBeUndefined();
    expect(none.metricsUrl).toBeUndefined();
  });
});

describe('HEALTH_PORT and METRICS_PORT in the CLI roles (child processes)', () => {
  it('a single agent serves them, counts calls made on its main port, and closes them on SIGTERM', async () => {
    const proc = await startProcess(['agent', 'documentation'], { HEALTH_PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'warn' }, 1);
    const main = proc.urls['agent documentation']!;
    const ops = opsUrls(proc.stdout(), 'agent documentation');
    expect(new URL(ops.health).port).not.toBe(new URL(main).port);

    expect(await json(await fetch(`${ops.health}/health`))).toEqual({ status: 'ok' });
    const ready = await json(await fetch(`${ops.health}/ready`));
    expect(ready).toEqual(await json(await fetch(`${main}/ready`)));
    expect(ready).toEqual({ status: 'ready', checks: { idempotency_entries: '0' } });

    const call = await fetch(`${main}/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        idempotency_key: 'ops-1',
        task_id: 't-ops',
        step_id: 's-1',
        attempt: 1,
        input: { files: [{ path: 'a.ts', content: '/** One. */\nexport const one = 1;\n' }] },
      }),
    });
    expect(call.status).toBe(200);
    expect(await json(await fetch(`${ops.health}/ready`))).toEqual({ status: 'ready', checks: { idempotency_entries: '1' } });
    const scraped = await (await fetch(`${ops.metrics}/metrics`)).text();
    expect(scraped).toMatch(/^agent_requests_total\{agent="documentation",status="succeeded",service="agent-documentation"\} 1$/m);
    expect(metricFamilies(scraped)).toEqual(metricFamilies(await (await fetch(`${main}/metrics`)).text()));

    proc.child.kill('SIGTERM');
    expect(await new Promise((resolve) => proc.child.once('exit', resolve))).toBe(0);
    await closedPort(`${ops.health}/health`);
    await closedPort(`${ops.metrics}/metrics`);
  }, 60_000);

  it('the orchestrator answers /ready on HEALTH_PORT with its database check', async () => {
    const databaseUrl = await schemaDatabaseUrl('ops');
    const proc = await startProcess(
      ['orchestrator'],
      { DATABASE_URL: databaseUrl, HEALTH_PORT: '0', METRICS_PORT: '0', ORCHESTRATOR_ID: 'ops-test', LOG_LEVEL: 'warn' },
      1,
    );
    expect(proc.stdout()).toMatch(
      /orchestrator listening on http:\S+ \(state: postgres .*; owner ops-test; health http:\S+, metrics http:\S+\)/,
    );
    const ops = opsUrls(proc.stdout(), 'orchestrator');
    expect(await json(await fetch(`${ops.health}/ready`))).toEqual({
      status: 'ready',
      checks: { database: 'postgres', owner: 'ops-test' },
    });
    expect(await (await fetch(`${ops.metrics}/metrics`)).text()).toMatch(/^# TYPE workflows_total counter$/m);
    proc.child.kill('SIGTERM');
    expect(await new Promise((resolve) => proc.child.once('exit', resolve))).toBe(0);
  }, 60_000);

  it('are not used where several roles share the process (`agents`, `start`), and the process says so', async () => {
    const agents = await startProcess(['agents'], { HEALTH_PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'warn' }, 5);
    expect(agents.stdout()).toContain('HEALTH_PORT and METRICS_PORT are not used: 5 agents run in this process');
    expect(agents.stdout()).not.toMatch(/health http/);

    const dir = await mkdtemp(join(tmpdir(), 'mesh-ops-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const all = await startProcess(
      ['start'],
      { PGLITE_DATA_DIR: join(dir, 'pg'), KNOWLEDGE_INDEX_DOCS: 'false', HEALTH_PORT: '0', METRICS_PORT: '0', LOG_LEVEL: 'warn' },
      8,
    );
    expect(all.stdout()).toContain('HEALTH_PORT and METRICS_PORT are not used: npm start runs every role in one process');
    expect(all.stdout().match(/are not used/g)).toHaveLength(1);
    expect(all.stdout()).not.toMatch(/health http/);
    expect((await fetch(`${all.urls.orchestrator}/ready`)).status).toBe(200);
    for (const p of [agents, all]) {
      p.child.kill('SIGTERM');
      expect(await new Promise((resolve) => p.child.once('exit', resolve))).toBe(0);
    }
  }, 90_000);
});
