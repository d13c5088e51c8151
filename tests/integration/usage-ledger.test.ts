import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it, onTestFinished } from 'vitest';
import { listEvents } from '../../services/state/event-log.ts';
import { setBudget } from '../../services/state/usage-store.ts';
import { agentOn, meteredDouble, type Served } from '../helpers/chatty-agent.ts';
import { testDatabases } from '../helpers/db.ts';
import { gatedDb } from '../helpers/gated-db.ts';
import { metricValue } from '../helpers/metrics.ts';
import { startPlatform } from '../helpers/platform.ts';
import { poll } from '../helpers/poll.ts';

/** A price table file: test-model at `input`/`output` USD per 1M tokens; mystery-model is not in it. */
async function pricesFile(input: number, output: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'prices-'));
  const file = join(dir, 'prices.yaml');
  await writeFile(file, `models:\n  test-model: { input: ${input}, output: ${output} }\n`);
  return file;
}

/** Submits `body` (or follows `existing`) until the run has ended or waits. */
async function runToEnd(app: FastifyInstance, body: Record<string, unknown> | null, existing?: string) {
  let id = existing;
  if (body) {
    const submitted = await app.inject({ method: 'POST', url: '/orchestrate', payload: body });
    expect(submitted.statusCode, submitted.body).toBe(202);
    id = submitted.json().task_id as string;
  }
  return poll(
    async () => {
      const task = (await app.inject({ url: `/tasks/${id}` })).json();
      return ['succeeded', 'failed', 'waiting'].includes(task.status) ? task : undefined;
    },
    { timeoutMs: 20_000, label: 'the run to end' },
  );
}

/** The task once it has succeeded or failed (a run waiting at its budget goes on once it is raised). */
const ended = (app: FastifyInstance, id: string) =>
  poll(
    async () => {
      const t = (await app.inject({ url: `/tasks/${id}` })).json();
      return t.status === 'succeeded' || t.status === 'failed' ? t : undefined;
    },
    { timeoutMs: 20_000, label: 'the run to finish after the raise' },
  );

const cost = (s: Pick<Served, 'prompt_tokens' | 'completion_tokens'>, input: number, output: number) =>
  (s.prompt_tokens * input + s.completion_tokens * output) / 1_000_000;

for (const backend of testDatabases) {
  describe(`the usage ledger (${backend.name})`, () => {
    async function platform(env: Record<string, string>, agents: string[]) {
      const db = await backend.open();
      onTestFinished(() => db.close());
      return { ...(await startPlatform(db, [], { ...env, AGENT_URLS: agents.join(',') })), db };
    }

    it('stores each attempt’s usage, priced, and totals per step and per run equal what the model reported', async () => {
      const { double, served } = await meteredDouble();
      const ran: string[] = [];
      const agents = [await agentOn(double, 'chatty', 'test-model', ran), await agentOn(double, 'mystery', 'mystery-model', ran)];
      const { app } = await platform({ PRICES_FILE: await pricesFile(1.5, 4) }, agents);
      const task = await runToEnd(app, {
        plan: {
          steps: [
            { id: 'a', agent: 'chatty', input: { calls: 2 } },
            { id: 'b', agent: 'chatty', input: { calls: 1, stream: true }, depends_on: ['a'] },
            { id: 'c', agent: 'chatty', input: { calls: 1, fail_attempts: 1 }, depends_on: ['b'] },
            { id: 'd', agent: 'mystery', input: { calls: 1 }, depends_on: ['a'] },
          ],
        },
      });
      expect(task.status).toBe('succeeded');
      expect(served).toHaveLength(6);
      // The streamed call asked for usage in the last chunk, and it was read from there.
      expect(double.calls.find((c) => c.messages[0]!.content.startsWith('b '))).toMatchObject({
        stream: true,
        stream_options: { include_usage: true },
      });

      const sum = (rows: Served[]) => ({
        prompt_tokens: rows.reduce((n, r) => n + r.prompt_tokens, 0),
        completion_tokens: rows.reduce((n, r) => n + r.completion_tokens, 0),
        calls: rows.length,
      });
      for (const step of task.steps as Array<{ id: string; usage: any; attempts: any[] }>) {
        const mine = served.filter((s) => s.step === step.id);
        expect(step.usage, step.id).toMatchObject({ ...sum(mine), tokens: sum(mine).prompt_tokens + sum(mine).completion_tokens });
      }
      // The failed attempt of c was paid for, and shows apart from the retry that succeeded.
      const c = task.steps.find((s: { id: string }) => s.id === 'c');
      expect(c.attempts.map((a: { status: string }) => a.status)).toEqual(['failed', 'succeeded']);
      const [cFirst, cSecond] = served.filter((s) => s.step === 'c');
      expect(c.attempts[0].usage).toEqual([
        {
          model: 'test-model',
          prompt_tokens: cFirst!.prompt_tokens,
          completion_tokens: cFirst!.completion_tokens,
          calls: 1,
          cost_usd: expect.any(Number),
        },
      ]);
      expect(c.attempts[1].usage[0]).toMatchObject({
        prompt_tokens: cSecond!.prompt_tokens,
        completion_tokens: cSecond!.completion_tokens,
      });
      expect(c.attempts[0].usage[0].cost_usd).toBeCloseTo(cost(cFirst!, 1.5, 4), 12);

      const priced = served.filter((s) => s.model === 'test-model');
      const unpriced = served.filter((s) => s.model === 'mystery-model');
      expect(task.usage).toMatchObject({ ...sum(served), unpriced_models: ['mystery-model'] });
      expect(task.usage.cost_usd).toBeCloseTo(
        priced.reduce((n, s) => n + cost(s, 1.5, 4), 0),
        12,
      );
      // A model without a price says its cost is unknown: null, never 0 or a guess.
      expect(task.usage.by_model.find((u: { model: string }) => u.model === 'mystery-model')).toEqual({
        model: 'mystery-model',
        ...sum(unpriced),
        cost_usd: null,
      });

      // The ledger's metrics count each stored attempt once.
      const metrics = (await app.inject({ url: '/metrics' })).body;
      expect(metricValue(metrics, 'llm_tokens_total', { model: 'test-model', agent: 'chatty', kind: 'prompt' })).toBe(
        sum(priced).prompt_tokens,
      );
      expect(metricValue(metrics, 'llm_tokens_total', { model: 'mystery-model', agent: 'mystery', kind: 'completion' })).toBe(
        sum(unpriced).completion_tokens,
      );
      expect(metricValue(metrics, 'llm_cost_usd_total', { model: 'test-model', agent: 'chatty' })).toBeCloseTo(task.usage.cost_usd, 9);
      expect(metricValue(metrics, 'llm_cost_usd_total', { model: 'mystery-model', agent: 'mystery' })).toBeUndefined();

      // GET /usage, each grouping.
      const usage = async (query: string) => {
        const res = await app.inject({ url: `/usage?${query}` });
        expect(res.statusCode, res.body).toBe(200);
        return res.json();
      };
      const byModel = await usage('group_by=model');
      expect(byModel.groups).toEqual([
        expect.objectContaining({ key: 'test-model', ...sum(priced), attempts: 4, unpriced_calls: 0 }),
        expect.objectContaining({ key: 'mystery-model', ...sum(unpriced), attempts: 1, cost_usd: 0, unpriced_calls: 1 }),
      ]);
      expect(byModel.total).toMatchObject({ ...sum(served), attempts: 5, unpriced_calls: 1 });
      expect(byModel.total.cost_usd).toBeCloseTo(task.usage.cost_usd, 9);
      const byAgent = await usage('group_by=agent');
      expect(byAgent.groups.map((g: { key: string; calls: number }) => [g.key, g.calls])).toEqual([
        ['chatty', 5],
        ['mystery', 1],
      ]);
      const byWorkflow = await usage('group_by=workflow');
      expect(byWorkflow.groups).toEqual([expect.objectContaining({ key: task.task_id, ...sum(served) })]);
      const byKey = await usage('group_by=api_key');
      expect(byKey.groups).toEqual([expect.objectContaining({ key: null, ...sum(served) })]);
      // A window that ended before the run saw none of it.
      const before = await usage(`group_by=model&from=2020-01-01&to=2020-01-02`);
      expect(before.groups).toEqual([]);
      expect(before.total.tokens).toBe(0);
    }, 30_000);

    it('refuses bad queries with a 400 naming the field', async () => {
      const { app } = await platform({}, []);
      const cases: Array<[string, string]> = [
        ['group_by=step', 'group_by'],
        ['from=yesterday', 'from'],
        ['to=2026-13-45T00:00:00Z', 'to'],
        ['from=2026-12-02T00:00:00', 'from'],
        ['from=2026-12-02&to=2026-12-01', 'from'],
      ];
      for (const [query, field] of cases) {
        const res = await app.inject({ url: `/usage?${query}` });
        expect(res.statusCode, query).toBe(400);
        expect(res.json(), query).toMatchObject({ code: 'VALIDATION_FAILED', details: { field } });
      }
      const res = await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { plan: { steps: [{ id: 'a', agent: 'x' }] }, budget: { usd: -1 } },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toContain('budget');
    });

    for (const kind of ['tokens', 'usd'] as const) {
      it(`a three-step run whose ${kind} budget is spent after step 2 never dispatches step 3 and fails BUDGET_EXCEEDED`, async () => {
        const { double, served } = await meteredDouble();
        const ran: string[] = [];
        const agents = [await agentOn(double, 'chatty', 'test-model', ran)];
        const { app } = await platform({ PRICES_FILE: await pricesFile(1000, 2000) }, agents);
        // Calls 1 and 2 of the double: 11+3 and 18+8 tokens; priced at $1000/$2000 per 1M, $0.017 and $0.034.
        const afterTwo = { tokens: 14 + 26, usd: cost({ prompt_tokens: 29, completion_tokens: 11 }, 1000, 2000) };
        const budget = kind === 'tokens' ? { tokens: afterTwo.tokens - 1 } : { usd: Math.round((afterTwo.usd - 0.001) * 1000) / 1000 };
        const task = await runToEnd(app, {
          plan: {
            steps: [
              { id: 's1', agent: 'chatty', input: {} },
              { id: 's2', agent: 'chatty', input: {}, depends_on: ['s1'] },
              { id: 's3', agent: 'chatty', input: {}, depends_on: ['s2'] },
            ],
          },
          budget,
        });
        expect(task.status).toBe('failed');
        expect(task.error.code).toBe('BUDGET_EXCEEDED');
        expect(task.error.details).toMatchObject({ budget, held_steps: ['s3'], spent: { tokens: afterTwo.tokens } });
        expect(task.error.message).toContain(kind === 'tokens' ? `${budget.tokens} tokens (used ${afterTwo.tokens})` : `$${budget.usd}`);
        // s3 was never sent: no attempt row, no handler run, no model call.
        expect(ran.map((k) => k.split(':')[1])).toEqual(['s1', 's2']);
        expect(served).toHaveLength(2);
        expect(task.steps.map((s: { id: string; status: string; attempts: unknown[] }) => [s.id, s.status, s.attempts.length])).toEqual([
          ['s1', 'succeeded', 1],
          ['s2', 'succeeded', 1],
          ['s3', 'skipped', 0],
        ]);
        expect(task.budget).toEqual(budget);
        const events = (await app.inject({ url: `/tasks/${task.task_id}/events` })).body;
        expect(events).toContain('budget reached');

        // A higher budget, then a resume: the held step runs.
        const raised = await app.inject({ method: 'POST', url: `/tasks/${task.task_id}/budget`, payload: { [kind]: 1_000 } });
        expect(raised.json()).toMatchObject({ budget: { [kind]: 1_000 }, resumed: false });
        expect((await app.inject({ method: 'POST', url: `/resume/${task.task_id}` })).statusCode).toBe(202);
        const resumed = await runToEnd(app, null, task.task_id);
        expect(resumed.status).toBe('succeeded');
        expect(ran.map((k) => k.split(':')[1])).toEqual(['s1', 's2', 's3']);
      }, 30_000);
    }

    it('with on_budget: wait the run parks at its budget and goes on when POST /tasks/:id/budget raises it', async () => {
      const { double, served } = await meteredDouble();
      const ran: string[] = [];
      const { app, db } = await platform({}, [await agentOn(double, 'chatty', 'test-model', ran)]);
      const steps = ['s1', 's2', 's3'].map((id, i) => ({ id, agent: 'chatty', input: {}, ...(i ? { depends_on: [`s${i}`] } : {}) }));
      const parked = await runToEnd(app, { plan: { steps }, budget: { tokens: 39, on_budget: 'wait' } });
      expect(parked.status).toBe('waiting');
      expect(served).toHaveLength(2);
      expect(parked.steps.map((s: { status: string }) => s.status)).toEqual(['succeeded', 'succeeded', 'pending']);
      // The log says why it waits (its event stream stays open while it does).
      const waitingEvent = (await listEvents(db, parked.task_id, 0)).find((e) => e.type === 'workflow_waiting');
      expect(waitingEvent?.data).toMatchObject({ steps: [], budget: { code: 'BUDGET_EXCEEDED', details: { held_steps: ['s3'] } } });

      const bad = await app.inject({ method: 'POST', url: `/tasks/${parked.task_id}/budget`, payload: { tokens: 'lots' } });
      expect(bad.statusCode).toBe(400);
      // Raised, but not past what was spent (40): it stays parked.
      const low = await app.inject({ method: 'POST', url: `/tasks/${parked.task_id}/budget`, payload: { tokens: 40 } });
      expect(low.json()).toMatchObject({ budget: { tokens: 40, on_budget: 'wait' } });
      const stillParked = await poll(
        async () => {
          const t = (await app.inject({ url: `/tasks/${parked.task_id}` })).json();
          return t.status === 'waiting' ? t : undefined;
        },
        { timeoutMs: 10_000, label: 'the run parked again' },
      );
      expect(stillParked.steps[2].attempts).toHaveLength(0);

      const raised = await app.inject({ method: 'POST', url: `/tasks/${parked.task_id}/budget`, payload: { tokens: 1000 } });
      expect(raised.statusCode, raised.body).toBe(200);
      const done = await ended(app, parked.task_id);
      expect(done.status).toBe('succeeded');
      expect(ran.map((k) => k.split(':')[1])).toEqual(['s1', 's2', 's3']);
      expect(done.usage.tokens).toBe(served.reduce((n, s) => n + s.prompt_tokens + s.completion_tokens, 0));
      const finished = await app.inject({ method: 'POST', url: `/tasks/${parked.task_id}/budget`, payload: { tokens: 2000 } });
      expect(finished.statusCode).toBe(409);
    }, 40_000);

    it('a budget raised through another replica while the run goes on: the run that parks at its old budget goes on', async () => {
      const { double } = await meteredDouble();
      const ran: string[] = [];
      const db = await backend.open();
      onTestFinished(() => db.close());
      const env = { AGENT_URLS: await agentOn(double, 'chatty', 'test-model', ran) };
      const [here, there] = [(await startPlatform(db, [], env)).app, (await startPlatform(db, [], env)).app];
      const steps = [
        { id: 's1', agent: 'chatty', input: { ms: 1_000 } },
        { id: 's2', agent: 'chatty', input: {}, depends_on: ['s1'] },
      ];
      const submitted = await here.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { plan: { steps }, budget: { tokens: 10, on_budget: 'wait' } },
      });
      const id = submitted.json().task_id as string;
      await poll(async () => ran.length === 1, { timeoutMs: 10_000, label: 's1 at its agent' });
      // The run is driven `here`: the other replica stores the raise and leaves the run be.
      const raised = await there.inject({ method: 'POST', url: `/tasks/${id}/budget`, payload: { tokens: 1_000 } });
      expect(raised.json()).toMatchObject({ budget: { tokens: 1_000, on_budget: 'wait' }, resumed: false });
      // s1 spends 14 tokens, past the 10 the run here still holds: it parks, sees the stored budget, and goes on.
      const done = await ended(here, id);
      expect(done.status).toBe('succeeded');
      expect(ran.map((k) => k.split(':')[1])).toEqual(['s1', 's2']);
      const events = (await listEvents(db, id, 0)).map((e) => e.type);
      expect(events).toContain('workflow_waiting');
      expect(events).toContain('workflow_woken');
    }, 40_000);

    it('a lease renewal that comes while the run parks at its budget leaves it to be woken by a raise', async () => {
      const { double } = await meteredDouble();
      const ran: string[] = [];
      const db = await backend.open();
      onTestFinished(() => db.close());
      const gated = gatedDb(db);
      // Renewals every 300 ms: some are sure to come while the park's commit is held.
      const env = { AGENT_URLS: await agentOn(double, 'chatty', 'test-model', ran), LEASE_MS: '900' };
      const { app } = await startPlatform(gated.db, [], env);
      const steps = [
        { id: 's1', agent: 'chatty', input: { ms: 200 } },
        { id: 's2', agent: 'chatty', input: {}, depends_on: ['s1'] },
      ];
      const submitted = await app.inject({
        method: 'POST',
        url: '/orchestrate',
        payload: { plan: { steps }, budget: { tokens: 10, on_budget: 'wait' } },
      });
      const id = submitted.json().task_id as string;
      // s1's result, past the budget, is committed with the park: held once it ran, so the row is
      // waiting while the run here does not know it yet.
      const hold = gated.hold(/AS m\(id uuid, status text/, (params) => String(params[1]).includes('"status":"waiting"'));
      await hold.held;
      // The raise another replica stores just before the park lands: its claim found the run still
      // running and left it to its driver, which looks at the stored budget again once parked.
      expect(await setBudget(db, id, { tokens: 1_000 })).toMatchObject({ status: 'waiting' });
      const heldAt = Date.now();
      await poll(async () => gated.ranSince(/inline_plan->'budget' END AS budget/, heldAt) >= 2, {
        timeoutMs: 5_000,
        label: 'two lease renewals while the park is held',
      });
      hold.release();
      // Before, the renewal took the parking run for lost (its row no longer running), and nothing
      // looked at the budget again: the run stayed parked with the raise stored.
      const done = await ended(app, id);
      expect(done.status).toBe('succeeded');
      expect(ran.map((k) => k.split(':')[1])).toEqual(['s1', 's2']);
    }, 40_000);

    it('a budget changed through another replica reaches the run where it is driven, raised or lowered', async () => {
      const { double } = await meteredDouble();
      const ran: string[] = [];
      const db = await backend.open();
      onTestFinished(() => db.close());
      // Leases renewed every 500 ms: the renewal is what brings the stored budget to the driver.
      const env = { AGENT_URLS: await agentOn(double, 'chatty', 'test-model', ran), LEASE_MS: '1500' };
      const [here, there] = [(await startPlatform(db, [], env)).app, (await startPlatform(db, [], env)).app];
      const steps = [
        { id: 's1', agent: 'chatty', input: { ms: 2_000 } },
        { id: 's2', agent: 'chatty', input: {}, depends_on: ['s1'] },
      ];
      const run = async (budget: Record<string, unknown>, changed: Record<string, unknown>) => {
        const before = ran.length;
        const submitted = await here.inject({ method: 'POST', url: '/orchestrate', payload: { plan: { steps }, budget } });
        const id = submitted.json().task_id as string;
        await poll(async () => ran.length === before + 1, { timeoutMs: 10_000, label: 's1 at its agent' });
        const res = await there.inject({ method: 'POST', url: `/tasks/${id}/budget`, payload: changed });
        expect(res.json()).toMatchObject({ resumed: false });
        return ended(here, id);
      };
      // Raised from 10 tokens (s1 spends 14) to 1000 while s1 runs: s2 goes out, and the run succeeds.
      const raised = await run({ tokens: 10 }, { tokens: 1_000 });
      expect(raised.status).toBe('succeeded');
      // Lowered from 1000 to 10 while s1 runs: s2 is held, and the run ends at its budget.
      const lowered = await run({ tokens: 1_000 }, { tokens: 10 });
      expect(lowered.error).toMatchObject({ code: 'BUDGET_EXCEEDED', details: { held_steps: ['s2'] } });
      expect(ran.map((k) => k.split(':')[1])).toEqual(['s1', 's2', 's1']);
    }, 40_000);

    it('with on_budget: wait a retry the budget held goes out, as the next attempt, when the budget is raised', async () => {
      const { double, served } = await meteredDouble();
      const ran: string[] = [];
      const { app } = await platform({}, [await agentOn(double, 'chatty', 'test-model', ran)]);
      const steps = [
        { id: 's1', agent: 'chatty', input: {} },
        { id: 's2', agent: 'chatty', input: { fail_attempts: 1 }, depends_on: ['s1'] },
      ];
      // 14 tokens for s1, 26 for s2's first attempt, which fails: 40 spent, past 39, so its retry waits.
      const parked = await runToEnd(app, { plan: { steps }, budget: { tokens: 39, on_budget: 'wait' } });
      expect(parked.status).toBe('waiting');
      expect(parked.steps[1].attempts.map((a: { status: string }) => a.status)).toEqual(['failed']);
      // The parked run is taken up from its rows on the raise: the held retry is a retry, not a failed step.
      const raised = await app.inject({ method: 'POST', url: `/tasks/${parked.task_id}/budget`, payload: { tokens: 1000 } });
      expect(raised.statusCode, raised.body).toBe(200);
      const done = await ended(app, parked.task_id);
      expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
      expect(done.steps[1].attempts.map((a: { status: string }) => a.status)).toEqual(['failed', 'succeeded']);
      expect(ran.map((k) => k.split(':').slice(1).join(':'))).toEqual(['s1:1', 's2:1', 's2:2']);
      expect(served).toHaveLength(3);
    }, 40_000);
  });
}
