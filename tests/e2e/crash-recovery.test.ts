import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { schemaDatabaseUrl } from '../helpers/db.ts';
import { poll } from '../helpers/poll.ts';
import { startProcess, type PlatformProcess } from '../helpers/processes.ts';

const files = [
  { path: 'src/math.ts', content: 'export function add(a: number, b: number): number {\n  return a + b;\n}\n' },
  {
    path: 'src/math.test.ts',
    content:
      "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from './math.ts';\n\ntest('adds', () => {\n  assert.equal(add(2, 3), 5);\n});\n",
  },
];

// review -> (typecheck+test, typecheck+lint) -> docs: the cicd steps take seconds, so there is a
// finished step and steps in flight when the orchestrator is killed.
const plan = {
  steps: [
    { id: 'review', agent: 'code-review', input: { files } },
    { id: 'ci-test', agent: 'cicd', input: { files, steps: ['typecheck', 'test'] }, depends_on: ['review'] },
    { id: 'ci-lint', agent: 'cicd', input: { files, steps: ['typecheck', 'lint'] }, depends_on: ['review'] },
    { id: 'docs', agent: 'documentation', input: { files }, depends_on: ['ci-test', 'ci-lint'] },
  ],
};

async function json(url: string, init?: RequestInit): Promise<Record<string, any>> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json' } });
  return (await res.json()) as Record<string, any>;
}

/** AGENT_URLS for the agents a `agentic-mesh agents` process says it serves. */
const agentUrlsOf = (agents: PlatformProcess) =>
  Object.entries(agents.urls)
    .map(([name, url]) => `${name.replace(/^agent /, '')}=${url}`)
    .join(',');

/** The task once it has succeeded or failed, within a minute. */
const finished = (api: string, taskId: string, label: string) =>
  poll(
    async () => {
      const task = await json(`${api}/tasks/${taskId}`);
      return task.status === 'succeeded' || task.status === 'failed' ? task : undefined;
    },
    { timeoutMs: 60_000, label, intervalMs: 100 },
  );

describe('crash recovery (child processes)', () => {
  it('finishes a workflow after SIGKILL of its orchestrator, never running a handler twice for a key', async () => {
    const databaseUrl = await schemaDatabaseUrl('e2e');

    const agents = await startProcess(['agents'], { LOG_LEVEL: 'info' }, 5);
    const agentUrls = agentUrlsOf(agents);
    const env = { DATABASE_URL: databaseUrl, AGENT_URLS: agentUrls, LEASE_MS: '2000', RECOVERY_INTERVAL_MS: '300', LOG_LEVEL: 'warn' };

    const first = await startProcess(['orchestrator'], { ...env, ORCHESTRATOR_ID: 'e2e-first' }, 1);
    const api1 = first.urls.orchestrator!;
    const { task_id } = await json(`${api1}/orchestrate`, { method: 'POST', body: JSON.stringify({ plan }) });
    expect(task_id).toMatch(/^[0-9a-f-]{36}$/);

    // Kill it once review has finished and a cicd step is in an agent's hands (its handler started).
    const handlerStarted = (step: string) =>
      agents
        .stdout()
        .split('\n')
        .some((l) => l.includes('"handler_started"') && l.includes(`${task_id}:${step}:1`));
    await poll(
      async () => {
        const task = await json(`${api1}/tasks/${task_id}`);
        const byId = Object.fromEntries(task.steps.map((s: { id: string; status: string }) => [s.id, s.status]));
        return (
          byId.review === 'succeeded' &&
          ((byId['ci-test'] === 'running' && handlerStarted('ci-test')) || (byId['ci-lint'] === 'running' && handlerStarted('ci-lint')))
        );
      },
      { timeoutMs: 30_000, label: 'review done and a cicd step running in its agent', intervalMs: 20 },
    );
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));

    const second = await startProcess(['orchestrator'], { ...env, ORCHESTRATOR_ID: 'e2e-second' }, 1);
    const api2 = second.urls.orchestrator!;
    const done = await finished(api2, task_id, 'workflow to finish on the second orchestrator');
    expect(done.status).toBe('succeeded');
    expect(done.steps.map((s: { status: string }) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(done.steps[1].output.passed).toBe(true);
    expect(done.checkpoint.docs.markdown).toContain('add(a: number, b: number): number');

    // Every handler ran at most once per idempotency key, and each step exactly once overall.
    const started = agents
      .stdout()
      .split('\n')
      .filter((l) => l.includes('"handler_started"'))
      .map((l) => JSON.parse(l).idempotencyKey as string);
    const ofTask = started.filter((k) => k.startsWith(task_id));
    expect(new Set(ofTask).size).toBe(ofTask.length);
    expect(ofTask.sort()).toEqual(['ci-lint', 'ci-test', 'docs', 'review'].map((s) => `${task_id}:${s}:1`));

    // The second orchestrator took the workflow over and got the in-flight results by replay.
    const res = await fetch(`${api2}/tasks/${task_id}/events`);
    const text = await res.text();
    expect(text).toContain('"previous_owner":"e2e-first"');
    expect(text).toMatch(/"replayed":true/);
  }, 120_000);

  it('on the embedded database, a restarted orchestrator takes its running workflow back at once, not when the lease runs out', async () => {
    const scratch = await mkdtemp(path.join(tmpdir(), 'mesh-embedded-crash-'));
    onTestFinished(() => rm(scratch, { recursive: true, force: true }));
    const agents = await startProcess(['agents'], { LOG_LEVEL: 'info' }, 5);
    const agentUrls = agentUrlsOf(agents);
    // As `npm start` runs it: PGlite on disk, no ORCHESTRATOR_ID. The lease outlasts the test, so
    // only knowing that the workflow was its own can explain a recovery in time.
    const env = { PGLITE_DATA_DIR: path.join(scratch, 'pg'), AGENT_URLS: agentUrls, LEASE_MS: '600000', LOG_LEVEL: 'warn' };
    const first = await startProcess(['orchestrator'], env, 1, 60_000);
    const api1 = first.urls.orchestrator!;
    const { task_id } = await json(`${api1}/orchestrate`, { method: 'POST', body: JSON.stringify({ plan }) });
    await poll(
      async () => {
        const task = await json(`${api1}/tasks/${task_id}`);
        return task.steps.some((s: { id: string; status: string }) => s.id.startsWith('ci-') && s.status === 'running');
      },
      { timeoutMs: 30_000, label: 'a cicd step running', intervalMs: 20 },
    );
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));

    const second = await startProcess(['orchestrator'], env, 1, 60_000);
    const api2 = second.urls.orchestrator!;
    const done = await finished(api2, task_id, 'the workflow to finish after the restart');
    expect(done.status).toBe('succeeded');
    expect(done.steps.map((s: { attempts: unknown[] }) => s.attempts.length)).toEqual([1, 1, 1, 1]);
    const events = await (await fetch(`${api2}/tasks/${task_id}/events`)).text();
    expect(events).toContain('workflow_recovered');
  }, 180_000);
});
