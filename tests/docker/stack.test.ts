// The Compose stack users deploy (compose/docker-compose.yml, profile core plus Prometheus and
// Alertmanager), built and run under the machine's real Docker engine with the stand-in images of
// scripts/dev/local-images.sh: used through Caddy over HTTPS, broken (crashes, restarts, down/up),
// backed up into the S3 double and restored into a wiped stack. tests/docker/stack.override.yml
// lists what the test changes in the compose file, and why.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Double, type S3Double } from '../doubles/s3-double.ts';
import { startSlackWebhookDouble, type SlackWebhookDouble } from '../doubles/slack-webhook-double.ts';
import { poll } from '../helpers/poll.ts';
import { followEvents, GATEWAY, handlerStarts, removeStaleStacks, requireEngineAndImages, SERVICES, Stack } from './stack-harness.ts';

const README_EXAMPLE = 'Build feature slugify utility AND deploy infrastructure for a redis cache then document it';
const NAMED_WORKFLOW = { workflow: 'feature_implementation', input: { spec: 'Create slugify(text: string): string' } };
const BUCKET = 'mesh-backups';
const AGENTS = ['feature-dev', 'code-review', 'infrastructure', 'cicd', 'documentation'];

const files = [
  { path: 'src/math.ts', content: 'export function add(a: number, b: number): number {\n  return a + b;\n}\n' },
  {
    path: 'src/math.test.ts',
    content:
      "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from './math.ts';\n\ntest('adds', () => {\n  assert.equal(add(2, 3), 5);\n});\n",
  },
];
// The cicd steps run real tools for seconds: there is a step in an agent's hands to crash under.
const slowPlan = {
  steps: [
    { id: 'review', agent: 'code-review', input: { files } },
    { id: 'ci-test', agent: 'cicd', input: { files, steps: ['typecheck', 'test'] }, depends_on: ['review'] },
    { id: 'ci-lint', agent: 'cicd', input: { files, steps: ['typecheck', 'lint'] }, depends_on: ['review'] },
    { id: 'docs', agent: 'documentation', input: { files }, depends_on: ['ci-test', 'ci-lint'] },
  ],
};

describe('the Compose stack under Docker', () => {
  const stack = new Stack();
  let slack: SlackWebhookDouble | undefined;
  let s3: S3Double | undefined;
  let userKey = '';
  const submitted: string[] = [];

  beforeAll(async () => {
    await requireEngineAndImages();
    await removeStaleStacks();
    await stack.init();
    await stack.compose(['--profile', 'backup', 'build', 'orchestrator', 'backup'], 20 * 60_000);
    // The network first: the doubles listen on its gateway, the host address containers reach.
    await stack.compose(['up', '--no-start', ...SERVICES]);
    slack = await startSlackWebhookDouble({ host: GATEWAY });
    s3 = await startS3Double({ buckets: [BUCKET], host: GATEWAY });
    await stack.writeEnv({
      SLACK_WEBHOOK_URL: slack.url,
      SPACES_BUCKET: BUCKET,
      SPACES_REGION: s3.region,
      SPACES_ENDPOINT: s3.endpoint,
      SPACES_ACCESS_KEY_ID: s3.accessKeyId,
      SPACES_SECRET_ACCESS_KEY: s3.secretAccessKey,
    });
    await stack.up();
    await stack.waitHealthy();
    await stack.trustCaddy();
  });

  afterAll(async () => {
    await stack.destroy();
    await slack?.stop();
    await s3?.stop();
  });

  /** Submits through Caddy; while a fault is on, a refused or failed call is sent again with its key. */
  async function submit(body: Record<string, unknown>): Promise<string> {
    const key = randomUUID();
    const res = await poll(
      async () => {
        const r = await stack.json<{ task_id: string }>('/orchestrate', {
          method: 'POST',
          key: userKey,
          headers: { 'idempotency-key': key },
          body: JSON.stringify(body),
        });
        return r.status === 202 || r.status === 200 ? r : undefined;
      },
      { timeoutMs: 90_000, label: 'POST /orchestrate accepted', intervalMs: 500 },
    );
    submitted.push(res.body.task_id);
    return res.body.task_id;
  }

  /** The task's status; for a failed one, why (its error and each failed step's last error), so a diff says it. */
  async function taskStatus(id: string): Promise<string | undefined> {
    type Attempt = { error?: { code?: string; message?: string } | null };
    const r = await stack.json<{ status: string; error?: { message?: string } | null; steps?: { id: string; attempts: Attempt[] }[] }>(
      `/tasks/${id}`,
      { key: userKey },
    );
    if (r.status !== 200) return undefined;
    if (r.body.status !== 'failed') return r.body.status;
    const steps = (r.body.steps ?? []).flatMap((st) => {
      const e = st.attempts.at(-1)?.error;
      return e ? [`${st.id}: ${e.code ?? ''} ${e.message ?? ''} (attempt ${st.attempts.length})`] : [];
    });
    return `failed: ${r.body.error?.message ?? ''} [${steps.join('; ')}]`;
  }

  async function allFinished(ids: string[], timeoutMs: number): Promise<Record<string, string>> {
    return poll(
      async () => {
        const statuses: Record<string, string> = {};
        for (const id of ids) statuses[id] = (await taskStatus(id)) ?? 'unreadable';
        return Object.values(statuses).every((s) => ['succeeded', 'cancelled'].includes(s) || s.startsWith('failed'))
          ? statuses
          : undefined;
      },
      { timeoutMs, label: `${ids.length} workflows finished`, intervalMs: 1000 },
    );
  }

  it('creates a key with the admin route and runs the README example and a named workflow through Caddy over HTTPS', async () => {
    const refused = await stack.json('/tasks', {});
    expect(refused.status).toBe(401);

    const created = await stack.json<{ key: string }>('/admin/api-keys', {
      method: 'POST',
      key: stack.env.ADMIN_API_KEY,
      body: JSON.stringify({ name: 'stack-test', scopes: ['submit', 'read'] }),
    });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^amk_/);
    userKey = created.body.key;

    const example = await submit({ description: README_EXAMPLE });
    const named = await submit(NAMED_WORKFLOW);
    for (const id of [example, named]) {
      const events = await followEvents(stack, id, userKey);
      expect(events.map((e) => e.event)).toContain('workflow_started');
      expect(events.at(-1)?.event).toBe('workflow_succeeded');
      expect(await taskStatus(id)).toBe('succeeded');
    }
  });

  it('registers every agent in Consul, and Prometheus scrapes every role', async () => {
    const catalog = (await (await fetch('http://127.0.0.1:8500/v1/catalog/services')).json()) as Record<string, string[]>;
    for (const agent of AGENTS) expect(catalog[agent], `${agent} in the Consul catalog`).toEqual(expect.arrayContaining(['agentic-mesh']));

    const up = await poll(
      async () => {
        const res = (await (await fetch('http://127.0.0.1:9090/api/v1/targets')).json()) as {
          data: { activeTargets: Array<{ labels: Record<string, string>; health: string }> };
        };
        const targets = res.data.activeTargets;
        return targets.length === 8 && targets.every((t) => t.health === 'up') ? targets : undefined;
      },
      { timeoutMs: 60_000, label: 'Prometheus: 8 targets, all up', intervalMs: 1000 },
    );
    expect(new Set(up.map((t) => t.labels.job))).toEqual(new Set(['agents', 'orchestrator', 'knowledge', 'mcp-gateway']));
    expect(new Set(up.filter((t) => t.labels.job === 'agents').map((t) => t.labels.agent))).toEqual(new Set(AGENTS));

    // ServiceDown needs a minute down: the gateway stays stopped while the faults below run.
    await stack.compose(['stop', 'mcp-gateway']);
  });

  it('finishes every workflow through an orchestrator crash, an agent crash and Postgres and Redis restarts, running no step twice', async () => {
    const before = [await submit({ plan: slowPlan }), await submit({ plan: slowPlan }), await submit({ description: README_EXAMPLE })];
    const target = before[0]!;
    await poll(
      async () =>
        /ci-(test|lint):1/.test(
          (await stack.logs('cicd'))
            .split('\n')
            .filter((l) => l.includes(target))
            .join('\n'),
        ),
      { timeoutMs: 180_000, label: 'a cicd step of the first workflow in its agent', intervalMs: 500 },
    );
    const restarts = await stack.restartCount('orchestrator');
    await stack.crash('orchestrator');
    await poll(async () => (await stack.restartCount('orchestrator')) > restarts, {
      timeoutMs: 60_000,
      label: 'the restart policy to bring the orchestrator back',
      intervalMs: 500,
    });
    await stack.waitHealthy(['orchestrator'], 120_000);
    const during = [await submit({ plan: slowPlan })];

    const agentRestarts = await stack.restartCount('cicd');
    await stack.crash('cicd');
    await poll(async () => (await stack.restartCount('cicd')) > agentRestarts, { timeoutMs: 60_000, label: 'cicd back', intervalMs: 500 });
    // What the killed process had started, read from its lines before the new process began: a
    // snapshot taken before the kill misses a call that starts in the instant before it.
    const cicdStartedBeforeCrash = new Set(handlerStarts(await stack.logs('cicd', { until: await stack.startedAt('cicd') })));
    during.push(await submit({ description: README_EXAMPLE }));

    await stack.compose(['restart', 'postgres']);
    during.push(await submit(NAMED_WORKFLOW));
    await stack.compose(['restart', 'redis']);
    during.push(await submit({ plan: slowPlan }));
    await stack.waitHealthy(
      SERVICES.filter((s) => s !== 'mcp-gateway'),
      180_000,
    );

    const statuses = await allFinished([...before, ...during], 480_000);
    expect(statuses).toEqual(Object.fromEntries([...before, ...during].map((id) => [id, 'succeeded'])));

    // The restarted orchestrator (same ORCHESTRATOR_ID) took its own workflows back: each of the
    // three that was still running at the kill. Which were is a race with their agents (once here the
    // first had no workflow_recovered: it may finish between its cicd step starting and the kill),
    // but not all three can have finished.
    const logs = await Promise.all(before.map((id) => followEvents(stack, id, userKey)));
    const recovered = logs.flatMap((events) => events.filter((e) => e.event === 'workflow_recovered'));
    expect(recovered.length).toBeGreaterThan(0);
    for (const r of recovered) expect(r.data.data).toMatchObject({ previous_owner: 'orchestrator-1' });

    // Counted at the agents: each key's handler started once, except a call the crashed cicd
    // container had in hand, which is sent again (at-least-once for a call cut off mid-way).
    const starts = new Map<string, number>();
    for (const agent of AGENTS) for (const key of handlerStarts(await stack.logs(agent))) starts.set(key, (starts.get(key) ?? 0) + 1);
    const twice = [...starts].filter(([key, n]) => n > 1 && !(n === 2 && cicdStartedBeforeCrash.has(key)));
    expect(twice).toEqual([]);
    for (const id of [...before, ...during]) {
      const task = await stack.json<{ steps: Array<{ id: string; attempt?: number }> }>(`/tasks/${id}`, { key: userKey });
      for (const step of task.body.steps) expect(starts.has(`${id}:${step.id}:1`), `${id}:${step.id} ran at its agent`).toBe(true);
    }
  });

  it('fires ServiceDown into Alertmanager and Slack with the documented message', async () => {
    const post = await poll(
      () =>
        slack!.posts.find((p) =>
          p.attachments?.some((a) => a.title === '[FIRING] ServiceDown' && a.text?.includes('*mcp-gateway at mcp-gateway:8000 is down*')),
        ),
      { timeoutMs: 240_000, label: 'ServiceDown for mcp-gateway posted to the Slack double', intervalMs: 1000 },
    );
    expect(post.attachments![0]!.text).toContain(
      'Prometheus could not scrape mcp-gateway:8000 for a minute. See docs/RUNBOOKS.md#servicedown.',
    );
    const alerts = (await (await fetch('http://127.0.0.1:9093/api/v2/alerts')).json()) as Array<{ labels: Record<string, string> }>;
    expect(alerts.some((a) => a.labels.alertname === 'ServiceDown' && a.labels.job === 'mcp-gateway')).toBe(true);
    expect(slack!.refused).toEqual([]);
    await stack.up(['mcp-gateway']);
    await stack.waitHealthy(['mcp-gateway']);
  });

  it('keeps every workflow and key across down and up', async () => {
    await stack.compose(['down', '-t', '20']);
    await stack.up();
    await stack.waitHealthy();
    await stack.trustCaddy();
    expect(await allFinished(submitted, 60_000)).toEqual(Object.fromEntries(submitted.map((id) => [id, 'succeeded'])));
  });

  it('backs up into the S3 double, and the restore profile brings a wiped stack back with its workflows', async () => {
    const out = await stack.compose(['--profile', 'backup', 'run', '--rm', 'backup']);
    expect(out).toMatch(/backup\.sh: ok: agentic-mesh-\d{8}T\d{6}Z\.tar\.gz/);
    const archives = s3!.objects(BUCKET).filter((o) => /^backups\/agentic-mesh-\d{8}T\d{6}Z\.tar\.gz$/.test(o.key));
    expect(archives).toHaveLength(1);

    // Wiped: every volume, the local backups included, so `latest` comes from the bucket.
    await stack.compose(['--profile', 'backup', '--profile', 'restore', 'down', '-v', '-t', '20']);
    await stack.up(['postgres']);
    await stack.waitHealthy(['postgres']);
    const restored = await stack.compose(['--profile', 'restore', 'run', '--rm', 'restore', 'latest']);
    expect(restored).toContain(archives[0]!.key.replace('backups/', ''));
    await stack.up();
    await stack.waitHealthy();
    await stack.trustCaddy();
    expect(await allFinished(submitted, 60_000)).toEqual(Object.fromEntries(submitted.map((id) => [id, 'succeeded'])));
    // The key came back with the database; the restored stack takes new work.
    const after = await submit({ description: README_EXAMPLE });
    expect((await followEvents(stack, after, userKey)).at(-1)?.event).toBe('workflow_succeeded');
  });
});
