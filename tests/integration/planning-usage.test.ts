import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startChatDouble } from '../doubles/openai-chat-double.ts';
import { agentOn, meteredDouble } from '../helpers/chatty-agent.ts';
import { testDatabases } from '../helpers/db.ts';
import { metricValue } from '../helpers/metrics.ts';
import { startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';

// What planning a description with a model costs belongs to the run it planned: its usage, its
// budget, GET /usage and the ledger's metrics. The planner's model is the chat completions double,
// apart from the one the agents ask, so each side's figures are known exactly.

/** planner-model at $2/$8 per 1M tokens; the agents' test-model is not priced. */
async function pricesFile(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'prices-'));
  const file = join(dir, 'prices.yaml');
  await writeFile(file, 'models:\n  planner-model: { input: 2, output: 8 }\n');
  return file;
}

/** The model's plan: s1 -> s2 -> s3, each on the chatty agent (one model call each). */
const chain = {
  steps: ['s1', 's2', 's3'].map((id, i) => ({ id, agent: 'chatty', task: `step ${id}`, depends_on: i ? [`s${i}`] : [] })),
};

const task = (app: FastifyInstance, id: string) => app.inject({ url: `/tasks/${id}` }).then((r) => r.json());

const settled = (app: FastifyInstance, id: string, statuses: string[]) =>
  poll(
    async () => {
      const t = await task(app, id);
      return statuses.includes(t.status) ? t : undefined;
    },
    { timeoutMs: 20_000, label: `the run to be ${statuses.join(' or ')}` },
  );

for (const backend of testDatabases) {
  describe(`what planning costs is the run's (${backend.name})`, () => {
    async function platform() {
      const planner = await startChatDouble();
      const agentModel = await meteredDouble();
      const ran: string[] = [];
      const db = await backend.open();
      onTestFinished(() => db.close());
      const { app } = await startPlatform(db, [], {
        AGENT_URLS: await agentOn(agentModel.double, 'chatty', 'test-model', ran),
        LLM_BASE_URL: planner.baseUrl,
        LLM_MODEL: 'planner-model',
        LLM_MAX_RETRIES: '0',
        PRICES_FILE: await pricesFile(),
      });
      return { app, planner, served: agentModel.served, ran };
    }

    it('stores the planner’s calls with the run: in its usage, in GET /usage under (planner), in the metrics', async () => {
      const { app, planner, served } = await platform();
      planner.script({ content: JSON.stringify(chain), usage: { prompt_tokens: 1200, completion_tokens: 300 } });
      const res = await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { description: 'ask the model three times', wait: true },
      });
      expect(res.statusCode, res.body).toBe(200);
      const t = await task(app, res.json().task_id);
      expect(t.status).toBe('succeeded');
      const planning = { model: 'planner-model', prompt_tokens: 1200, completion_tokens: 300, calls: 1 };
      // Priced from the table, as a step's calls are: 1200 * $2 + 300 * $8 per 1M.
      expect(t.planning_usage).toEqual([{ ...planning, cost_usd: 0.0048 }]);
      const steps = served.reduce((n, s) => n + s.prompt_tokens + s.completion_tokens, 0);
      expect(t.usage).toMatchObject({ tokens: 1500 + steps, calls: 4, cost_usd: 0.0048, unpriced_models: ['test-model'] });
      expect(t.steps.map((s: { usage: { calls: number } }) => s.usage.calls)).toEqual([1, 1, 1]);

      const byAgent = (await app.inject({ url: '/usage?group_by=agent' })).json();
      expect(byAgent.groups).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ key: '(planner)', tokens: 1500, calls: 1, attempts: 0, cost_usd: 0.0048, unpriced_calls: 0 }),
          expect.objectContaining({ key: 'chatty', tokens: steps, calls: 3, attempts: 3, unpriced_calls: 3 }),
        ]),
      );
      expect(byAgent.total).toMatchObject({ tokens: 1500 + steps, calls: 4, attempts: 3 });
      const byWorkflow = (await app.inject({ url: '/usage?group_by=workflow' })).json();
      expect(byWorkflow.groups).toEqual([expect.objectContaining({ key: t.task_id, tokens: 1500 + steps, calls: 4, attempts: 3 })]);
      const byModel = (await app.inject({ url: '/usage?group_by=model' })).json();
      expect(byModel.groups[0]).toMatchObject({ key: 'planner-model', tokens: 1500, calls: 1, attempts: 0 });
      // Planning counts when its run was created: a window that ended before saw none of it.
      const before = (await app.inject({ url: '/usage?group_by=agent&from=2020-01-01&to=2020-01-02' })).json();
      expect(before.total.tokens).toBe(0);

      const metrics = (await app.inject({ url: '/metrics' })).body;
      expect(metricValue(metrics, 'llm_tokens_total', { model: 'planner-model', agent: '(planner)', kind: 'prompt' })).toBe(1200);
      expect(metricValue(metrics, 'llm_cost_usd_total', { model: 'planner-model', agent: '(planner)' })).toBeCloseTo(0.0048, 9);
    }, 30_000);

    it('counts calls whose answers the planner could not use, when it falls back to the rules', async () => {
      const { app, planner } = await platform();
      planner.script(
        { content: 'Sure! Here is a plan: first...', usage: { prompt_tokens: 500, completion_tokens: 20 } },
        { content: '{"steps": "many"}', usage: { prompt_tokens: 560, completion_tokens: 10 } },
      );
      const res = await app.inject({ method: 'POST', url: '/orchestrate', payload: { description: 'ask the model', wait: true } });
      expect(res.statusCode, res.body).toBe(200);
      const t = await task(app, res.json().task_id);
      expect(t.planning_usage).toEqual([
        { model: 'planner-model', prompt_tokens: 1060, completion_tokens: 30, calls: 2, cost_usd: 0.00236 },
      ]);
    }, 30_000);

    it('counts planning no run carries: a refused description, and a schedule planned when it is written', async () => {
      const { app, planner } = await platform();
      // The model's answer is no plan, and the rules find no agent for the words: 422, nothing stored.
      planner.script({ content: '{"steps": "many"}', usage: { prompt_tokens: 400, completion_tokens: 100 } });
      const refused = await app.inject({ method: 'POST', url: '/orchestrate', payload: { description: 'book a flight to Paris' } });
      expect([refused.statusCode, refused.json().code]).toEqual([422, 'UNPLANNABLE']);
      expect((await app.inject({ url: '/tasks' })).json().tasks).toEqual([]);

      planner.script({ content: JSON.stringify(chain), usage: { prompt_tokens: 1000, completion_tokens: 0 } });
      const schedule = await app.inject({
        method: 'POST',
        url: '/schedules',
        payload: { name: 'nightly', cron: '0 3 * * *', description: 'ask the model three times' },
      });
      expect(schedule.statusCode, schedule.body).toBe(201);

      // 400 * $2 + 100 * $8, and 1000 * $2, per 1M tokens: paid for, so counted, under (planner).
      const byAgent = (await app.inject({ url: '/usage?group_by=agent' })).json();
      expect(byAgent.groups).toEqual([
        expect.objectContaining({ key: '(planner)', tokens: 1500, calls: 2, attempts: 0, cost_usd: 0.0036, unpriced_calls: 0 }),
      ]);
      const byWorkflow = (await app.inject({ url: '/usage?group_by=workflow' })).json();
      expect(byWorkflow.groups).toEqual([
        expect.objectContaining({ key: null, description: expect.stringMatching(/^planning no run carries/), tokens: 1500 }),
      ]);
      const metrics = (await app.inject({ url: '/metrics' })).body;
      expect(metricValue(metrics, 'llm_tokens_total', { model: 'planner-model', agent: '(planner)', kind: 'prompt' })).toBe(1400);
    }, 30_000);

    it('a retry that raced the first request past the check for an existing task planned too: one task, both plans counted', async () => {
      const { app, planner } = await platform();
      // Each answer takes a second, so both requests have looked for the key's task (none yet) and
      // asked the model before either stores one.
      const plan = { content: JSON.stringify(chain), usage: { prompt_tokens: 1000, completion_tokens: 0 }, delayMs: 1_000 };
      planner.script(plan, plan);
      const send = () =>
        app.inject({
          method: 'POST',
          url: '/orchestrate',
          headers: { 'idempotency-key': 'nightly-42' },
          payload: { description: 'ask the model three times' },
        });
      const [a, b] = await Promise.all([send(), send()]);
      expect([a.statusCode, b.statusCode], a.body + b.body).toEqual([202, 202]);
      expect(a.json().task_id).toBe(b.json().task_id);
      expect(planner.calls).toHaveLength(2);
      expect((await app.inject({ url: '/tasks' })).json().tasks).toHaveLength(1);

      // 1000 * $2 per 1M tokens each: the run's planning, and the loser's, which no run carries.
      const byAgent = (await app.inject({ url: '/usage?group_by=agent' })).json();
      expect(byAgent.groups).toEqual(
        expect.arrayContaining([expect.objectContaining({ key: '(planner)', tokens: 2000, calls: 2, cost_usd: 0.004 })]),
      );
      const byWorkflow = (await app.inject({ url: '/usage?group_by=workflow' })).json();
      expect(byWorkflow.groups).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ key: a.json().task_id }),
          expect.objectContaining({ key: null, description: expect.stringMatching(/^planning no run carries/), tokens: 1000 }),
        ]),
      );
      const metrics = (await app.inject({ url: '/metrics' })).body;
      expect(metricValue(metrics, 'llm_tokens_total', { model: 'planner-model', agent: '(planner)', kind: 'prompt' })).toBe(2000);
    }, 30_000);

    it('a run planned from an explicit plan, or by the rules, has no planning usage', async () => {
      const { app } = await platform();
      const res = await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { plan: { steps: [{ id: 'a', agent: 'chatty', input: {} }] }, wait: true },
      });
      const t = await task(app, res.json().task_id);
      expect(t.planning_usage).toBeNull();
      expect(t.usage.calls).toBe(1);
    }, 30_000);

    it('planning counts against the run’s budget, also when the run is taken up again from its rows', async () => {
      const { app, planner, served, ran } = await platform();
      planner.script({ content: JSON.stringify(chain), usage: { prompt_tokens: 120, completion_tokens: 30 } });
      // Planning 150 tokens; the agent's calls 14, then 26, then 38. At 160, s1 goes out (150 < 160)
      // and its 14 tokens spend the budget: s2 is held. Counting the steps alone it would go on.
      const res = await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { description: 'ask the model three times', budget: { tokens: 160, on_budget: 'wait' } },
      });
      expect(res.statusCode, res.body).toBe(202);
      const id = res.json().task_id as string;
      const parked = await settled(app, id, ['waiting', 'succeeded', 'failed']);
      expect(parked.status).toBe('waiting');
      expect(ran.map((k) => k.split(':')[1])).toEqual(['s1']);
      expect(parked.usage.tokens).toBe(150 + 14);

      // Raised to 180: s2 goes out (164 < 180), and with its 26 the spend is 190: s3 is held.
      const raised = await app.inject({ method: 'POST', url: `/tasks/${id}/budget`, payload: { tokens: 180 } });
      expect(raised.statusCode, raised.body).toBe(200);
      await poll(async () => (ran.length === 2 ? true : undefined), { timeoutMs: 20_000, label: 's2 to run' });
      const again = await poll(
        async () => {
          const t = await task(app, id);
          return t.status === 'waiting' && t.steps[1].status === 'succeeded' ? t : undefined;
        },
        { timeoutMs: 20_000, label: 'the run parked after s2' },
      );
      expect(again.steps[2].attempts).toHaveLength(0);
      expect(served).toHaveLength(2);
      expect(again.usage.tokens).toBe(150 + 14 + 26);
    }, 40_000);
  });
}
