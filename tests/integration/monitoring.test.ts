import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { parse } from 'yaml';
import { describe, expect, it, onTestFinished } from 'vitest';
import { codeReviewAgent } from '../../agents/code-review/index.ts';
import { buildAgentApp, createAgentRuntime, createRedisIdempotencyStore, startStreamWorker } from '../../agents/sdk/index.ts';
import { buildKnowledgeApp, createMemoryCache } from '../../services/knowledge/index.ts';
import { createPgliteDb, migrate } from '../../services/state/index.ts';
import { agentOn, meteredDouble } from '../helpers/chatty-agent.ts';
import { startPlatform } from '../helpers/platform.ts';
import { exposedNames, metricNames } from '../helpers/promql.ts';
import { testAgents } from '../helpers/test-agents.ts';

const dir = fileURLToPath(new URL('../../monitoring/prometheus/', import.meta.url));
const grafana = fileURLToPath(new URL('../../monitoring/grafana/', import.meta.url));

/** Every panel query of every provisioned dashboard, with where it is. */
async function dashboardQueries(): Promise<Array<{ where: string; expr: string }>> {
  const out: Array<{ where: string; expr: string }> = [];
  for (const file of (await readdir(`${grafana}dashboards`)).filter((f) => f.endsWith('.json')).sort()) {
    const d = JSON.parse(await readFile(`${grafana}dashboards/${file}`, 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    for (const p of d.panels) for (const t of p.targets) out.push({ where: `${file}: ${p.title}`, expr: t.expr });
  }
  return out;
}
const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** promtool comes with Prometheus (Debian's package `prometheus`); .ci/run installs it. */
async function promtool(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (err) => reject(new Error(`promtool is not installed (apt-get install prometheus): ${err.message}`)));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
    child.stdin.end(stdin ?? '');
  });
}

/** Every service of the platform, with traffic through each, and its /metrics text. */
async function expositions(): Promise<Record<string, string>> {
  const db = await createPgliteDb('memory://');
  await migrate(db);
  onTestFinished(() => db.close());
  const streamAgent = `mon-${randomBytes(3).toString('hex')}`;
  const redis = new Redis(redisUrl);
  const math = testAgents().agents.find((a) => a.name === 'math')!;
  const worker = startStreamWorker(
    streamAgent,
    createAgentRuntime(
      { ...math, name: streamAgent },
      { idempotencyStore: createRedisIdempotencyStore(redis, { prefix: `test:idem:${streamAgent}:`, ttlMs: 60_000, pendingTtlMs: 5_000 }) },
    ),
    redis,
    { claimIdleMs: 30_000, concurrency: 2, blockMs: 200, log: pino({ level: 'silent' }) },
  );
  onTestFinished(async () => {
    await worker.stop();
    const keys = [...(await redis.keys(`agent.${streamAgent}.*`)), ...(await redis.keys(`test:idem:${streamAgent}:*`))];
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  // An agent that calls a model (the chat completions double; a model the default price table has), for the ledger's metrics.
  const { double } = await meteredDouble();
  const chatty = await agentOn(double, 'chatty', 'gpt-4o-mini', []);
  const { app } = await startPlatform(db, testAgents().agents, {
    REDIS_URL: redisUrl,
    AGENT_TRANSPORTS: `${streamAgent}=stream`,
    AGENT_URLS: `${streamAgent}=http://127.0.0.1:9,${chatty}`,
  });
  const plan = {
    steps: [
      { id: 'a', agent: 'math', input: { values: [1] } },
      { id: 'b', agent: streamAgent, input: { values: [2] }, depends_on: ['a'] },
      { id: 'c', agent: 'chatty', input: {}, depends_on: ['a'] },
    ],
  };
  expect((await app.inject({ method: 'POST', url: '/orchestrate', payload: { plan, wait: true } })).json().status).toBe('succeeded');

  const review = buildAgentApp(codeReviewAgent, { logLevel: 'silent' });
  onTestFinished(() => review.close());
  await review.inject({
    method: 'POST',
    url: '/execute',
    payload: {
      idempotency_key: 'k',
      task_id: 't',
      step_id: 's',
      attempt: 1,
      input: { files: [{ path: 'a.ts', content: 'export const a: number = 1;\n' }] },
    },
  });

  const knowledge = buildKnowledgeApp({ db, cache: createMemoryCache(60_000), logLevel: 'silent', indexProjectDocs: false });
  onTestFinished(() => knowledge.close());
  await knowledge.inject({ url: '/search?q=anything' });

  return {
    orchestrator: (await app.inject({ url: '/metrics' })).body,
    'agent code-review': (await review.inject({ url: '/metrics' })).body,
    knowledge: (await knowledge.inject({ url: '/metrics' })).body,
  };
}

describe('monitoring: alert rules and metrics (promtool)', () => {
  it('the alert rules pass their promtool unit tests', async () => {
    const res = await promtool(['test', 'rules', 'rules/alerts.test.yml']);
    expect(res.out).toContain('SUCCESS');
    expect(res.code).toBe(0);
    const check = await promtool(['check', 'rules', 'rules/alerts.yml']);
    expect(check.out).toContain('SUCCESS: 6 rules found');
  });

  it("every service's exposition passes promtool check metrics, and exports every metric the rules read", async () => {
    const texts = await expositions();
    for (const [service, text] of Object.entries(texts)) {
      const res = await promtool(['check', 'metrics'], text);
      expect(res.out, service).toBe('');
      expect(res.code, service).toBe(0);
    }
    const exported = new Set(Object.values(texts).flatMap((t) => [...exposedNames(t)]));
    // `up` is Prometheus's own. The orchestrator exports the backup timestamp only once a backup has
    // succeeded (none has here); tests/integration/backup.test.ts reads it from /metrics after one.
    const fromElsewhere = new Set(['up', 'backup_last_success_timestamp_seconds']);
    const rules = parse(await readFile(`${dir}rules/alerts.yml`, 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
    };
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      for (const name of metricNames(rule.expr)) {
        if (!fromElsewhere.has(name)) expect(exported.has(name), `${rule.alert} reads ${name}`).toBe(true);
      }
    }
    const queries = await dashboardQueries();
    expect(queries.length).toBeGreaterThan(15);
    for (const q of queries) {
      for (const name of metricNames(q.expr)) {
        if (!fromElsewhere.has(name)) expect(exported.has(name), `${q.where} reads ${name}`).toBe(true);
      }
    }
    for (const name of [
      'workflows_total',
      'workflow_duration_seconds_bucket',
      'agent_calls_total',
      'agent_call_duration_seconds_bucket',
      'rag_query_duration_seconds_bucket',
      'code_review_findings',
      'circuit_breaker_state',
      'queue_depth',
      'workflows_active',
      'llm_tokens_total',
      'llm_cost_usd_total',
    ]) {
      expect(exported.has(name), name).toBe(true);
    }
  }, 30_000);

  it('the Prometheus configs name the rules and scrape every service', async () => {
    for (const file of ['prometheus.yml', 'prometheus-k8s.yml']) {
      const config = parse(await readFile(`${dir}${file}`, 'utf8')) as {
        global: { scrape_interval: string };
        rule_files: string[];
        scrape_configs: Array<{ job_name: string }>;
      };
      expect(config.global.scrape_interval).toBe('15s');
      expect(config.rule_files).toEqual(['/etc/prometheus/rules/*.yml']);
      expect(config.scrape_configs.length).toBeGreaterThan(0);
    }
    const compose = parse(await readFile(`${dir}prometheus.yml`, 'utf8')) as { scrape_configs: Array<{ job_name: string }> };
    expect(compose.scrape_configs.map((c) => c.job_name).sort()).toEqual(['agents', 'knowledge', 'mcp-gateway', 'orchestrator']);
  });

  it('every dashboard query parses (promtool, as recording rules)', async () => {
    const queries = await dashboardQueries();
    const tmp = await mkdtemp(join(tmpdir(), 'mesh-dash-'));
    onTestFinished(() => rm(tmp, { recursive: true, force: true }));
    const rules = { groups: [{ name: 'dashboards', rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: q.expr })) }] };
    await writeFile(join(tmp, 'dashboards.yml'), JSON.stringify(rules));
    const res = await promtool(['check', 'rules', join(tmp, 'dashboards.yml')]);
    expect(res.out).toContain(`SUCCESS: ${queries.length} rules found`);
  });

  it('Grafana is provisioned with Prometheus, Jaeger and the three dashboards, and alerts reach Slack from SLACK_WEBHOOK_URL', async () => {
    const ds = parse(await readFile(`${grafana}provisioning/datasources/datasources.yml`, 'utf8')) as {
      datasources: Array<{ type: string; uid: string }>;
    };
    expect(ds.datasources.map((d) => d.type).sort()).toEqual(['alertmanager', 'jaeger', 'prometheus']);
    const titles = await Promise.all(
      (await readdir(`${grafana}dashboards`)).map(
        async (f) => (JSON.parse(await readFile(`${grafana}dashboards/${f}`, 'utf8')) as { title: string }).title,
      ),
    );
    expect(titles.sort()).toEqual([
      'Agentic Mesh / Agent Activity',
      'Agentic Mesh / System Overview',
      'Agentic Mesh / Workflow Performance',
    ]);
    const slack = parse(await readFile(`${grafana}provisioning/alerting/slack.yml`, 'utf8')) as {
      contactPoints: Array<{ receivers: Array<{ type: string; settings: { url: string } }> }>;
    };
    expect(slack.contactPoints[0]!.receivers[0]).toMatchObject({ type: 'slack', settings: { url: '${SLACK_WEBHOOK_URL}' } });
    const am = parse(await readFile(fileURLToPath(new URL('../../monitoring/alertmanager/alertmanager.yml', import.meta.url)), 'utf8')) as {
      receivers: Array<{ slack_configs: Array<{ api_url_file: string }> }>;
    };
    expect(am.receivers[0]!.slack_configs[0]!.api_url_file).toBe('/etc/alertmanager/slack_webhook_url');
  });
});
